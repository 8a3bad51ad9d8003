// The cluster tests pause and resume node processes with SIGSTOP and
// SIGCONT, which exist only on Unix.

//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/relay"
)

const clusterSecret = "cluster-test-secret-with-at-least-32-characters"

// Short heartbeats and TTLs, so that deaths and slot drops happen within
// a test.
var clusterTimings = []string{"--heartbeat", "200ms", "--node-ttl", "1s", "--slot-ttl", "3s"}

// eachRelay runs test once with each relay (--relay) for the nodes that
// startNode starts.
func eachRelay(t *testing.T, test func(t *testing.T)) {
	for _, mode := range []relay.Mode{relay.ModeWAL, relay.ModeNotify} {
		t.Run("relay="+string(mode), func(t *testing.T) {
			testRelay.Store(t, mode)
			defer testRelay.Delete(t)
			test(t)
		})
	}
}

// testRelay holds the relay of each running eachRelay subtest.
var testRelay sync.Map // testing.TB -> relay.Mode

// nodeProc is a `walcast serve` process of a test cluster.
type nodeProc struct {
	t    testing.TB
	id   string
	cmd  *exec.Cmd
	addr string

	mu    sync.Mutex
	lines []string
	done  chan struct{} // closed when the log ends
}

var servingAddr = regexp.MustCompile(`msg="walcast serving".* addr=(\S+)`)

// startNode runs a node with id on the database at url and waits until its
// stream is live (it then sees every broadcast committed afterwards).
func startNode(t testing.TB, url, id string, extra ...string) *nodeProc {
	t.Helper()
	args := append([]string{"serve", "--database-url", url, "--jwt-secret", clusterSecret, "--node-id", id,
		"--host", "127.0.0.1", "--port", "0", "--data-dir", t.TempDir()}, clusterTimings...)
	if mode, ok := testRelay.Load(t); ok {
		args = append(args, "--relay", string(mode.(relay.Mode)))
	}
	p := &nodeProc{t: t, id: id, cmd: exec.Command(binary, append(args, extra...)...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readLog(stderr)
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
		<-p.done
		p.cmd.Wait()
		for _, l := range p.log() {
			if strings.Contains(l, "DATA RACE") {
				t.Errorf("node %s: the race detector found a data race", id)
				break
			}
		}
		if t.Failed() {
			t.Logf("log of node %s:\n%s", id, strings.Join(p.log(), "\n"))
		}
	})
	m := p.waitLog(servingAddr, 30*time.Second)
	p.addr = m[1]
	p.waitLog(regexp.MustCompile(`msg="node stream live"`), 30*time.Second)
	return p
}

func (p *nodeProc) readLog(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		p.mu.Unlock()
	}
}

func (p *nodeProc) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// waitLog waits for a log line matching re and returns its submatches.
func (p *nodeProc) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range p.log() {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("node %s exited before logging %s:\n%s", p.id, re, strings.Join(p.log(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("node %s did not log %s within %v:\n%s", p.id, re, timeout, strings.Join(p.log(), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the node gracefully and waits for it.
func (p *nodeProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	p.cmd.Wait()
}

// wsClient is a WebSocket client that reads every frame in the
// background.
type wsClient struct {
	t   testing.TB
	ws  *websocket.Conn
	vsn string

	mu     sync.Mutex
	frames []wsFrame
	notify chan struct{}
}

type wsFrame struct {
	at     time.Time
	binary bool
	data   []byte
}

func dialNode(t testing.TB, addr, vsn string) *wsClient {
	t.Helper()
	c := &wsClient{t: t, ws: dialWS(t, addr, vsn), vsn: vsn, notify: make(chan struct{}, 1)}
	go c.readLoop()
	return c
}

// dialWS opens a WebSocket to the node at addr, closed when the test ends.
func dialWS(t testing.TB, addr, vsn string) *websocket.Conn {
	t.Helper()
	tok, err := auth.Sign([]byte(clusterSecret), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/realtime/v1/websocket?vsn="+vsn+"&apikey="+tok, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

func (c *wsClient) readLoop() {
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, wsFrame{at: time.Now(), binary: typ == websocket.MessageBinary, data: b})
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

func (c *wsClient) snapshot() []wsFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}

// waitFor waits until ok holds for the frames received so far.
func (c *wsClient) waitFor(what string, timeout time.Duration, ok func([]wsFrame) bool) {
	c.t.Helper()
	deadline := time.After(timeout)
	for !ok(c.snapshot()) {
		select {
		case <-c.notify:
		case <-deadline:
			c.t.Fatalf("%s: not within %v; received:\n%s", what, timeout, framesText(c.snapshot()))
		}
	}
}

func framesText(fs []wsFrame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f.data)
	}
	return b.String()
}

func (c *wsClient) write(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// push sends a text message in the client's serializer.
func (c *wsClient) push(joinRef, ref, topic, event, payload string) {
	c.t.Helper()
	var b string
	if c.vsn == "2.0.0" {
		b = fmt.Sprintf(`[%q,%q,%q,%q,%s]`, joinRef, ref, topic, event, payload)
	} else {
		b = fmt.Sprintf(`{"join_ref":%q,"ref":%q,"topic":%q,"event":%q,"payload":%s}`, joinRef, ref, topic, event, payload)
	}
	c.write(websocket.MessageText, []byte(b))
}

// msg is a decoded text frame.
type msg struct {
	Ref, Topic, Event string
	Payload           json.RawMessage
}

func (c *wsClient) decode(f wsFrame) (msg, bool) {
	if f.binary {
		return msg{}, false
	}
	var m msg
	if c.vsn == "2.0.0" {
		var a []json.RawMessage
		if json.Unmarshal(f.data, &a) != nil || len(a) != 5 {
			return m, false
		}
		json.Unmarshal(a[1], &m.Ref)
		json.Unmarshal(a[2], &m.Topic)
		json.Unmarshal(a[3], &m.Event)
		m.Payload = a[4]
		return m, true
	}
	var o struct {
		Ref     *string         `json:"ref"`
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(f.data, &o) != nil {
		return m, false
	}
	if o.Ref != nil {
		m.Ref = *o.Ref
	}
	m.Topic, m.Event, m.Payload = o.Topic, o.Event, o.Payload
	return m, true
}

// join joins topic and waits for an ok reply.
func (c *wsClient) join(topic, joinRef, payload string) {
	c.t.Helper()
	c.push(joinRef, joinRef, topic, "phx_join", payload)
	c.waitReply(joinRef)
}

// waitReply waits for the reply to ref and fails unless it is ok.
func (c *wsClient) waitReply(ref string) {
	c.t.Helper()
	c.waitFor("reply "+ref, 10*time.Second, func(fs []wsFrame) bool {
		for _, f := range fs {
			if m, ok := c.decode(f); ok && m.Event == "phx_reply" && m.Ref == ref {
				if !strings.Contains(string(m.Payload), `"status":"ok"`) {
					c.t.Fatalf("reply %s: %s", ref, m.Payload)
				}
				return true
			}
		}
		return false
	})
}

// presenceView replays a channel's presence_state and presence_diffs into
// the set of metas a client shows: ref → key and meta (without refs).
func (c *wsClient) presenceView(topic string) map[string]string {
	view := map[string]string{}
	type metas map[string]struct {
		Metas []map[string]any `json:"metas"`
	}
	apply := func(ms metas, add bool) {
		for key, e := range ms {
			for _, m := range e.Metas {
				ref, _ := m["phx_ref"].(string)
				if !add {
					delete(view, ref)
					continue
				}
				delete(m, "phx_ref")
				delete(m, "phx_ref_prev")
				b, _ := json.Marshal(m)
				view[ref] = key + " " + string(b)
			}
		}
	}
	for _, f := range c.snapshot() {
		m, ok := c.decode(f)
		if !ok || m.Topic != topic {
			continue
		}
		switch m.Event {
		case "presence_state":
			var s metas
			json.Unmarshal(m.Payload, &s)
			clear(view)
			apply(s, true)
		case "presence_diff":
			var d struct{ Joins, Leaves metas }
			json.Unmarshal(m.Payload, &d)
			apply(d.Leaves, false)
			apply(d.Joins, true)
		}
	}
	return view
}

// queryDB runs a query on a fresh connection and returns the first column
// of each row as text.
func queryDB(t testing.TB, url, sql string, args ...any) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v any
		if err := r.Scan(&v); err != nil {
			return "", err
		}
		return fmt.Sprint(v), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// execDB runs statements (several allowed) on a fresh connection.
func execDB(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
