package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/internal/testlog"
)

// envPortable, set to 1, runs every test server without parking and raw
// I/O: the path other systems and TLS take, which CI runs too.
const envPortable = "WALCAST_TEST_WS_PORTABLE"

func portableIO() bool { return os.Getenv(envPortable) == "1" }

var testSecret = []byte("super-secret-jwt-token-with-at-least-32-characters")

// token signs a token for role anon that expires after ttl (negative: in
// the past).
func token(t testing.TB, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Sign(testSecret, map[string]any{"role": "anon", "exp": time.Now().Add(ttl).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type testEnv struct {
	s    *Server
	http *httptest.Server
	fake *fakeChanges
}

// newEnv starts a Server with cfg (Verifier and Logger filled in), fed by a
// fake dispatcher that is live unless notLive is set. The server and its
// connections are closed when the test ends.
func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	if cfg.Verifier == nil {
		cfg.Verifier = auth.NewVerifier(testSecret)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1 // test clients do not always read
	}
	if cfg.AuthFailureDelay == 0 {
		cfg.AuthFailureDelay = -1
	}
	if portableIO() {
		cfg.DisableParking, cfg.DisableRawIO = true, true
	}
	e := &testEnv{s: NewServer(cfg), fake: newFakeChanges(true)}
	e.s.changes = e.fake
	e.http = httptest.NewUnstartedServer(e.s.Handler())
	// Small kernel buffers, so that a client that stops reading fills
	// them (and the server's queue) after kilobytes, not megabytes.
	e.http.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(smallSocketBuffer)
		}
		return ctx
	}
	e.http.Start()
	t.Cleanup(func() {
		e.s.Close()
		e.http.Close()
	})
	return e
}

func (e *testEnv) url(path, query string) string {
	return "ws" + strings.TrimPrefix(e.http.URL, "http") + path + "?" + query
}

// client is a WebSocket client speaking one serializer.
type client struct {
	t   testing.TB
	ws  *websocket.Conn
	vsn phoenix.Version
}

func (e *testEnv) dial(t testing.TB, vsn phoenix.Version) *client {
	t.Helper()
	return e.dialURL(t, vsn, e.url("/realtime/v1/websocket", "apikey="+token(t, time.Hour)+"&vsn="+vsn.String()))
}

func (e *testEnv) dialURL(t testing.TB, vsn phoenix.Version, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: smallBufferClient})
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws, vsn: vsn}
}

const smallSocketBuffer = 32 << 10

// smallBufferClient dials with small receive buffers (see newEnv).
var smallBufferClient = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(smallSocketBuffer)
		}
		return c, err
	},
}}

// frame is a decoded server frame; nil refs are JSON nulls.
type frame struct {
	JoinRef, Ref *string
	Topic, Event string
	Payload      json.RawMessage
	Raw          string
}

func (f frame) String() string { return f.Raw }

func refString(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// send writes one client frame; joinRef "" is null.
func (c *client) send(joinRef, ref, topic, event string, payload any) {
	c.t.Helper()
	var p json.RawMessage
	switch v := payload.(type) {
	case string:
		p = json.RawMessage(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		p = b
	}
	var jr any
	if joinRef != "" {
		jr = joinRef
	}
	var b []byte
	var err error
	if c.vsn == phoenix.V2 {
		b, err = json.Marshal([]any{jr, ref, topic, event, p})
	} else {
		b, err = json.Marshal(map[string]any{"join_ref": jr, "ref": ref, "topic": topic, "event": event, "payload": p})
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageText, b)
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the read error.
func (c *client) read(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	if typ != websocket.MessageText {
		return frame{}, fmt.Errorf("unexpected binary frame %x", b)
	}
	f := frame{Raw: string(b)}
	if c.vsn == phoenix.V2 {
		var a []json.RawMessage
		if err := json.Unmarshal(b, &a); err != nil || len(a) != 5 {
			return f, fmt.Errorf("not a 5-element array (%v): %s", err, b)
		}
		err = firstErr(json.Unmarshal(a[0], &f.JoinRef), json.Unmarshal(a[1], &f.Ref),
			json.Unmarshal(a[2], &f.Topic), json.Unmarshal(a[3], &f.Event))
		f.Payload = a[4]
		return f, err
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(b, &o); err != nil {
		return f, err
	}
	if _, ok := o["join_ref"]; ok {
		return f, fmt.Errorf("V1 frame with join_ref: %s", b)
	}
	err = firstErr(json.Unmarshal(o["ref"], &f.Ref), json.Unmarshal(o["topic"], &f.Topic), json.Unmarshal(o["event"], &f.Event))
	f.Payload = o["payload"]
	return f, err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// next returns the next frame or fails the test.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// closeStatus reads until the connection ends and returns its close code.
func (c *client) closeStatus(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.read(time.Until(deadline))
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// shutdownExpectingRestart shuts the server down while every client waits
// for its connection to end, and checks that each was closed with
// StatusServiceRestart.
func (e *testEnv) shutdownExpectingRestart(t *testing.T, clients []*client) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]websocket.StatusCode, len(clients))
	for i, c := range clients {
		wg.Go(func() { codes[i] = c.closeStatus(20 * time.Second) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	for i, code := range codes {
		if code != StatusServiceRestart {
			t.Errorf("client %d: close status %v, want %v", i, code, StatusServiceRestart)
		}
	}
}

// join sends phx_join with joinRef as join_ref and ref and returns the reply.
func (c *client) join(topic, joinRef string, payload any) frame {
	c.t.Helper()
	c.send(joinRef, joinRef, topic, evJoin, payload)
	return c.next()
}

// checkFrame fails unless f has the refs, topic and event given and its
// payload equals payload as JSON ("" skips the payload).
func checkFrame(t testing.TB, f frame, joinRef, ref, topic, event, payload string) {
	t.Helper()
	if got := refString(f.JoinRef); got != joinRef {
		t.Errorf("join_ref = %s, want %s in %s", got, joinRef, f)
	}
	if got := refString(f.Ref); got != ref {
		t.Errorf("ref = %s, want %s in %s", got, ref, f)
	}
	if f.Topic != topic || f.Event != event {
		t.Errorf("topic/event = %s/%s, want %s/%s in %s", f.Topic, f.Event, topic, event, f)
	}
	if payload != "" && !jsonEqual(t, f.Payload, payload) {
		t.Errorf("payload = %s\nwant %s", f.Payload, payload)
	}
}

func jsonEqual(t testing.TB, a json.RawMessage, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("payload is not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, b)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

// httpGet is a plain GET for handshake errors.
func httpGet(t testing.TB, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, sb.String()
}
