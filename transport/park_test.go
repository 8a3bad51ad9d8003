//go:build linux

package transport

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// parked counts the server's connections whose read loop is parked.
func parked(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.ws.Parked() {
			n++
		}
	}
	return n
}

// TestParkedConnections follows idle connections through the states a
// parked read loop must handle: parked after a join, woken by a message and
// parked again, woken by the client's close (teardown), and closed by the
// server while parked (Shutdown's 1012).
func TestParkedConnections(t *testing.T) {
	skipIfPortable(t)
	e := newEnv(t, Config{})
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.dial(t, versions[i%2])
		clients[i].join("realtime:room"+strconv.Itoa(i%3), "1", `{"config":{}}`)
	}
	waitFor(t, "every connection parked after its join", func() bool { return parked(e.s) == n })

	for i, c := range clients {
		ref := strconv.Itoa(100 + i)
		c.send("", ref, "phoenix", "heartbeat", `{}`)
		checkFrame(t, c.next(), "null", ref, "phoenix", "phx_reply", `{"status":"ok","response":{}}`)
	}
	waitFor(t, "every connection parked again after its heartbeat", func() bool { return parked(e.s) == n })

	for _, c := range clients[:n/2] {
		c.ws.CloseNow()
	}
	waitFor(t, "connections the clients closed torn down", func() bool { return e.s.Stats().Connections == n-n/2 })

	e.shutdownExpectingRestart(t, clients[n/2:])
	if got := e.s.Stats().Connections; got != 0 {
		t.Errorf("%d connections left after Shutdown", got)
	}
}

// TestSilentConnectionIsPinged: a parked connection silent for the ping
// interval is pinged and kept; its pongs wake it only to be read, so it is
// parked again between them, and after a message.
func TestSilentConnectionIsPinged(t *testing.T) {
	skipIfPortable(t)
	e := newEnv(t, Config{PingInterval: 100 * time.Millisecond, IdleTimeout: time.Minute, WriteTimeout: time.Second})
	var pings atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url("/realtime/v1/websocket", "vsn=2.0.0&apikey="+token(t, time.Hour)), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	waitFor(t, "the new connection parked", func() bool { return parked(e.s) == 1 })
	// coder/websocket answers pings inside a read.
	frames := make(chan []byte, 1)
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				close(frames)
				return
			}
			frames <- b
		}
	}()
	waitFor(t, "three pings", func() bool { return pings.Load() >= 3 })
	time.Sleep(2 * time.Second) // pings keep coming; a missing pong would drop it after WriteTimeout
	if got := e.s.Stats().Connections; got != 1 {
		t.Fatalf("%d connections after pings, want 1", got)
	}
	waitFor(t, "the connection parked between pongs", func() bool { return parked(e.s) == 1 })
	ws.Write(context.Background(), websocket.MessageText, []byte(`[null,"7","phoenix","heartbeat",{}]`))
	if b, ok := <-frames; !ok || !strings.Contains(string(b), `"phx_reply"`) {
		t.Fatalf("heartbeat reply: %q (open %v)", b, ok)
	}
	waitFor(t, "the connection parked after the heartbeat", func() bool { return parked(e.s) == 1 })
	if st := e.s.Stats(); st.DeadLinks != 0 {
		t.Errorf("Stats().DeadLinks = %d, want 0", st.DeadLinks)
	}
}

func skipIfPortable(t *testing.T) {
	if portableIO() {
		t.Skip(envPortable + "=1: connections are not parked")
	}
}
