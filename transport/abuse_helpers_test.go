package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/phoenix"
)

// newRealEnv starts a Server with cfg on a real pipeline (Postgres, the
// replication stream, a changes.Dispatcher) over a table items(id, body),
// with the kernel's own socket buffers.
func newRealEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, body text)`); err != nil {
		t.Fatal(err)
	}
	const pub = "walcast_abuse_test"
	d := changes.New(changes.Config{Pool: pool, Publication: pub, Logger: testLogger(t)})
	runStream(t, dbURL, pub, d)
	cfg.Verifier = auth.NewVerifier(testSecret)
	cfg.Changes = d
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1
	}
	if portableIO() {
		cfg.DisableParking, cfg.DisableRawIO = true, true
	}
	e := &testEnv{s: NewServer(cfg)}
	e.http = httptest.NewServer(e.s.Handler())
	t.Cleanup(func() {
		e.s.Close()
		e.http.Close()
	})
	return e
}

// replies reads frames of c in the background and hands the phx_reply and
// system frames to whoever waits for them, by ref (system messages and
// phx_close by topic and event). Broadcasts and everything else are
// dropped, so that a client in a busy room never stalls.
type replies struct {
	mu     sync.Mutex
	cond   *sync.Cond
	byRef  map[string]frame
	events map[string][]frame // topic+" "+event
	end    error
	code   websocket.StatusCode
	n      int // frames read
}

func (c *client) collect() *replies {
	r := &replies{byRef: map[string]frame{}, events: map[string][]frame{}}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		for {
			raw, err := c.readRaw(time.Minute)
			r.mu.Lock()
			if err != nil {
				r.end, r.code = err, websocket.CloseStatus(err)
				r.cond.Broadcast()
				r.mu.Unlock()
				return
			}
			r.n++
			if !raw.binary {
				if f, err := parseRaw(c.vsn, raw); err == nil {
					if f.Event == evReply && f.Ref != nil {
						r.byRef[*f.Ref] = f
					} else if f.Event != evBroadcast {
						k := f.Topic + " " + f.Event
						r.events[k] = append(r.events[k], f)
					}
				}
			}
			r.cond.Broadcast()
			r.mu.Unlock()
		}
	}()
	return r
}

// wait waits until cond holds (under r.mu) or the connection ends or the
// timeout passes, and reports whether cond held.
func (r *replies) wait(timeout time.Duration, cond func() bool) bool {
	timer := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if r.end != nil || time.Now().After(deadline) {
			return false
		}
		r.cond.Wait()
	}
	return true
}

// reply returns the reply to ref, failing the test after 10 s.
func (r *replies) reply(t testing.TB, ref string) frame {
	t.Helper()
	var f frame
	if !r.wait(10*time.Second, func() bool { var ok bool; f, ok = r.byRef[ref]; return ok }) {
		t.Fatalf("no reply to ref %s (connection: %v)", ref, r.end)
	}
	return f
}

// event returns the first frame of event on topic, failing after 10 s.
func (r *replies) event(t testing.TB, topic, event string) frame {
	t.Helper()
	var f frame
	k := topic + " " + event
	if !r.wait(10*time.Second, func() bool {
		if fs := r.events[k]; len(fs) > 0 {
			f = fs[0]
			return true
		}
		return false
	}) {
		t.Fatalf("no %s on %s (connection: %v)", event, topic, r.end)
	}
	return f
}

// closed waits for the connection to end and returns its close code.
func (r *replies) closed(t testing.TB, timeout time.Duration) websocket.StatusCode {
	t.Helper()
	r.wait(timeout, func() bool { return false })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.end == nil {
		t.Fatalf("connection still open after %v", timeout)
	}
	return r.code
}

// status is a reply's status and its reason ("" when none).
func status(f frame) (string, string) {
	var p struct {
		Status   string          `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	json.Unmarshal(f.Payload, &p)
	var r struct {
		Reason string `json:"reason"`
	}
	json.Unmarshal(p.Response, &r)
	return p.Status, r.Reason
}

// checkRelayed fails unless a frame the server sent a vsn socket is valid
// for every client: text is UTF-8 JSON; a kind-4 frame's header strings
// are UTF-8 and a JSON payload (encoding 1) is UTF-8 JSON.
func checkRelayed(vsn phoenix.Version, binary bool, b []byte) error {
	if !binary {
		if !utf8.Valid(b) || !json.Valid(b) {
			return fmt.Errorf("text frame is not UTF-8 JSON: %q", trunc(b))
		}
		return nil
	}
	if vsn != phoenix.V2 {
		return fmt.Errorf("binary frame on a vsn 1.0.0 socket: %q", trunc(b))
	}
	if len(b) < phoenix.BroadcastHeaderLen || b[0] != phoenix.KindUserBroadcast {
		return fmt.Errorf("binary frame is not kind 4: %q", trunc(b))
	}
	off := phoenix.BroadcastHeaderLen
	for k := 1; k <= 3; k++ {
		n := int(b[k])
		if len(b)-off < n {
			return fmt.Errorf("kind-4 frame truncated: %q", trunc(b))
		}
		if !utf8.Valid(b[off : off+n]) {
			return fmt.Errorf("kind-4 header string %d is not UTF-8: %q", k, trunc(b))
		}
		if k == 3 && n > 0 && !json.Valid(b[off:off+n]) {
			return fmt.Errorf("kind-4 metadata is not JSON: %q", trunc(b))
		}
		off += n
	}
	if b[4] == phoenix.EncodingJSON && (!utf8.Valid(b[off:]) || !json.Valid(b[off:])) {
		return fmt.Errorf("kind-4 JSON payload is not UTF-8 JSON: %q", trunc(b))
	}
	return nil
}

func trunc(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// healthy is a subscriber that gets a broadcast every 100 ms from a sender
// in the same room, and measures what it got.
type healthy struct {
	stop     context.CancelFunc
	done     chan struct{} // the subscriber stopped reading
	sendDone chan struct{} // the sender stopped
	sendErr  error
	sent     int
	got      int
	missed   []string
	maxGap   time.Duration // between two ticks' arrivals
	maxLag   time.Duration // from a tick's send to its arrival
	invalid  []error       // frames that were not valid for every client
	end      error
}

const tickEvery = 100 * time.Millisecond

// startHealthy joins a subscriber and a sender to topic; the sender
// broadcasts a tick every 100 ms until finish.
func startHealthy(t *testing.T, e *testEnv, topic string) *healthy {
	t.Helper()
	sub, sender := e.dialPlain(t, phoenix.V2), e.dialPlain(t, phoenix.V2)
	sub.joinRoom(topic, "1", false, false, false)
	sender.joinRoom(topic, "1", false, false, false)
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthy{stop: cancel, done: make(chan struct{}), sendDone: make(chan struct{})}
	go func() { // the sender reads and drops what the room sends it
		for {
			if _, _, err := sender.ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	push := func(event string, i int) error {
		p := fmt.Sprintf(`{"type":"broadcast","event":%q,"payload":{"i":%d,"at":%d}}`, event, i, time.Now().UnixNano())
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		return sender.ws.Write(wctx, websocket.MessageText, fmt.Appendf(nil, `["1",null,%q,"broadcast",%s]`, topic, p))
	}
	go func() {
		defer close(h.sendDone)
		tick := time.NewTicker(tickEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				h.sendErr = push("end", i)
				return
			case <-tick.C:
			}
			if h.sendErr = push("tick", i); h.sendErr != nil {
				return
			}
			h.sent = i + 1
		}
	}()
	go func() {
		defer close(h.done)
		last, lastAt := -1, time.Time{}
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer rcancel()
		for {
			typ, b, err := sub.ws.Read(rctx)
			if err != nil {
				h.end = err
				return
			}
			now := time.Now()
			if err := checkRelayed(phoenix.V2, typ == websocket.MessageBinary, b); err != nil {
				h.invalid = append(h.invalid, err)
				continue
			}
			var f []json.RawMessage
			if typ != websocket.MessageText || json.Unmarshal(b, &f) != nil || len(f) != 5 {
				continue
			}
			var p struct {
				Event   string
				Payload struct{ I, At int64 }
			}
			if json.Unmarshal(f[4], &p) != nil {
				continue
			}
			if p.Event == "end" {
				return
			}
			if p.Event != "tick" {
				continue
			}
			i := int(p.Payload.I)
			if i != last+1 {
				h.missed = append(h.missed, fmt.Sprintf("%d after %d", i, last))
			}
			if last >= 0 {
				h.maxGap = max(h.maxGap, now.Sub(lastAt))
			}
			h.maxLag = max(h.maxLag, now.Sub(time.Unix(0, p.Payload.At)))
			last, lastAt = i, now
			h.got++
		}
	}()
	return h
}

// finish stops the sender and waits for the subscriber to see its last
// message; then h's figures are final.
func (h *healthy) finish(t *testing.T) {
	t.Helper()
	h.stop()
	<-h.sendDone
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the healthy subscriber did not get the sender's last message in 30 s")
	}
}
