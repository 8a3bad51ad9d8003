package transport

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// TestMaxConnsPerIP: past the bound an upgrade gets 429; a connection that
// ends frees its place.
func TestMaxConnsPerIP(t *testing.T) {
	e := newEnv(t, Config{MaxConnsPerIP: 2})
	a := e.dial(t, phoenix.V2)
	e.dial(t, phoenix.V2)
	url := e.url("/realtime/v1/websocket", "apikey="+token(t, time.Hour)+"&vsn=2.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v, want 429", resp, err)
	}
	a.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the first connection to end", func() bool { return e.s.Stats().Connections == 1 })
	e.dial(t, phoenix.V2)

	off := newEnv(t, Config{})
	for range 5 {
		off.dial(t, phoenix.V2)
	}
	// Every dial succeeded; the server counts a connection once its
	// handshake is through, which may come after the client's.
	waitFor(t, "5 connections without a bound", func() bool { return off.s.Stats().Connections == 5 })
}
