package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/auth"
)

func TestRoutes(t *testing.T) {
	e := newEnv(t, Config{})
	for _, path := range []string{"/realtime/v1/websocket", "/socket/websocket"} {
		t.Run(path, func(t *testing.T) {
			c := e.dialURL(t, phoenix.V2, e.url(path, "apikey="+token(t, time.Hour)+"&vsn=2.0.0&log_level=info"))
			c.send("", "1", "phoenix", "heartbeat", `{}`)
			checkFrame(t, c.next(), "null", "1", "phoenix", "phx_reply", "")
		})
	}
	t.Run("default vsn is 1.0.0", func(t *testing.T) {
		c := e.dialURL(t, phoenix.V1, e.url("/socket/websocket", "apikey="+token(t, time.Hour)))
		c.send("", "1", "phoenix", "heartbeat", `{}`)
		if f := c.next(); !strings.HasPrefix(f.Raw, `{"topic":"phoenix"`) {
			t.Fatalf("got %s, want a V1 object", f)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		resp, body := httpGet(t, e.http.URL+"/healthz", nil)
		if resp.StatusCode != 200 || body != `{"status":"ok"}` {
			t.Fatalf("GET /healthz = %d %s", resp.StatusCode, body)
		}
	})
}

func TestHandshakeRefused(t *testing.T) {
	secret := []byte("another-secret-of-at-least-32-characters")
	otherKey, _ := auth.Sign(secret, map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	noRole, _ := auth.Sign(testSecret, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	good := token(t, time.Hour)
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		error  string // "" checks only the status
	}{
		{"missing", "vsn=2.0.0", nil, 401, "API key is missing"},
		{"malformed", "apikey=abc", nil, 401, "The token provided is not a valid JWT"},
		{"wrong secret", "apikey=" + otherKey, nil, 401, "Failed to validate JWT signature"},
		{"expired", "apikey=" + token(t, -time.Minute), nil, 401, ""},
		{"no role", "apikey=" + noRole, nil, 401, "Fields `role` and `exp` are required in JWT"},
		{"header wins over query", "apikey=" + good, http.Header{"X-Api-Key": {"abc"}}, 401, "The token provided is not a valid JWT"},
		{"bad vsn", "apikey=" + good + "&vsn=3.0.0", nil, 400, ""},
	}
	e := newEnv(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
			for k, v := range tc.header {
				h[k] = v
			}
			resp, body := httpGet(t, e.http.URL+"/realtime/v1/websocket?"+tc.query, h)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got struct{ Error string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Error == "" {
				t.Fatalf("body %q is not {\"error\": ...}", body)
			}
			if tc.error != "" && got.Error != tc.error {
				t.Errorf("error = %q, want %q", got.Error, tc.error)
			}
		})
	}
	t.Run("apikey header", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, e.url("/realtime/v1/websocket", "vsn=2.0.0"), &websocket.DialOptions{HTTPHeader: http.Header{"Apikey": {good}}})
		if err != nil {
			t.Fatal(err)
		}
		ws.CloseNow()
	})
	if got := e.s.Stats().Rejected; got != uint64(len(tests)) {
		t.Errorf("Stats().Rejected = %d, want %d", got, len(tests))
	}
}

// TestPipelinedFirstFrame sends the upgrade request and a first frame in one
// write: the frame is read by net/http's buffer before the hijack and must
// still reach the read loop.
func TestPipelinedFirstFrame(t *testing.T) {
	e := newEnv(t, Config{})
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /socket/websocket?vsn=2.0.0&apikey=" + token(t, time.Hour) + " HTTP/1.1\r\nHost: x\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	payload := []byte(`[null,"7","phoenix","heartbeat",{}]`)
	frame := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0} // masked with a zero key
	frame = append(frame, payload...)
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	hdr := make([]byte, 2)
	if _, err := br.Read(hdr[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Read(hdr[1:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	if want := `[null,"7","phoenix","phx_reply",{"status":"ok","response":{}}]`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
}

func TestSlowConsumer(t *testing.T) {
	e := newEnv(t, Config{QueueBytes: 256 << 10})
	fast := e.dial(t, phoenix.V2)
	slow := e.dial(t, phoenix.V2)
	for _, c := range []*client{fast, slow} {
		c.join("realtime:room", "1", oneBinding)
		c.next() // system
	}
	data := `{"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	// Deliver in lockstep with the fast client, which must get everything,
	// until the slow one (which reads nothing) overflows.
	n := 0
	for ; e.s.Stats().SlowConsumers == 0; n++ {
		if n == 5000 {
			t.Fatal("no slow consumer after 5000 changes of 64 KiB")
		}
		e.fake.deliver(data, 101, 102) // 101: fast's binding, 102: slow's
		if f := fast.next(); f.Event != "postgres_changes" {
			t.Fatalf("fast client got %s", f)
		}
	}
	// The fast client keeps receiving.
	for range 10 {
		e.fake.deliver(data, 101, 102)
		if f := fast.next(); f.Event != "postgres_changes" {
			t.Fatalf("fast client got %s after the overflow", f)
		}
	}
	if got := slow.closeStatus(20 * time.Second); got != StatusSlowConsumer {
		t.Fatalf("slow client close status = %v, want %v", got, StatusSlowConsumer)
	}
	t.Logf("slow consumer detected after %d changes of 64 KiB", n)
	if st := e.s.Stats(); st.SlowConsumers != 1 {
		t.Errorf("Stats().SlowConsumers = %d, want 1", st.SlowConsumers)
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	var clients []*client
	for i := range 5 {
		c := e.dial(t, versions[i%2])
		c.join("realtime:room", "1", oneBinding)
		c.next()
		clients = append(clients, c)
	}
	e.shutdownExpectingRestart(t, clients)
	if st := e.s.Stats(); st.Connections != 0 {
		t.Errorf("%d connections left after Shutdown", st.Connections)
	}
	if n := e.fake.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after Shutdown", n)
	}
	// New upgrades are refused.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, resp, err := websocket.Dial(ctx2, e.url("/realtime/v1/websocket", "apikey="+token(t, time.Hour)), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v %v, want 503", resp, err)
	}
	if resp, _ := httpGet(t, e.http.URL+"/healthz", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("healthz after Shutdown = %d, want 503", resp.StatusCode)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	e := newEnv(t, Config{})
	// A raw client that never answers the close handshake.
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET /socket/websocket?apikey=" + token(t, time.Hour) + " HTTP/1.1\r\nHost: x\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	nc.Write([]byte(req))
	waitFor(t, "the connection", func() bool { return e.s.Stats().Connections == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v after its context expired", d)
	}
	if n := e.s.Stats().Connections; n != 0 {
		t.Errorf("%d connections left", n)
	}
}
