package pgchanges

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
)

// joinAfterHeartbeat is a server that answers a connection's joins only
// once that connection has sent a heartbeat, and closes it with 4001 when
// it sent nothing for idle, as walcast serve does after 60 s. A client that
// starts heartbeats only after all its joins are answered never gets an
// answer.
func joinAfterHeartbeat(t *testing.T, idle time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.CloseNow()
		var joins []string
		beat := false
		for {
			ctx, cancel := context.WithTimeout(r.Context(), idle)
			_, msg, err := ws.Read(ctx)
			cancel()
			if err != nil {
				ws.Close(4001, "heartbeat timeout")
				return
			}
			switch {
			case bytes.Contains(msg, []byte(`"heartbeat"`)):
				beat = true
			case bytes.Contains(msg, []byte(`"phx_join"`)):
				topic := strings.Split(string(msg), `"`)[5]
				joins = append(joins, topic)
			}
			if !beat {
				continue
			}
			for _, topic := range joins {
				for _, f := range []string{
					fmt.Sprintf(`["1","1",%q,"phx_reply",{"status":"ok","response":{}}]`, topic),
					fmt.Sprintf(`[null,null,%q,"system",{"message":"Subscribed to PostgreSQL","status":"ok","extension":"postgres_changes"}]`, topic),
				} {
					if err := ws.Write(r.Context(), websocket.MessageText, []byte(f)); err != nil {
						return
					}
				}
			}
			joins = nil
		}
	}))
}

// eqSpec is the filters workload's channels: "realtime:s<v>", INSERTs on
// public.t filtered by sub=eq.<v>.
func eqSpec(perConn int, marker int64) Spec {
	return Spec{Topic: "realtime:s", Route: harness.SubKey, Marker: marker, IDs: true, PerConn: perConn, Parallel: 32,
		Join: func(v int) []byte {
			return fmt.Appendf(nil, `["%d","%d","realtime:s%d","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"t","filter":"sub=eq.%d"}]}}]`, v, v, v, v)
		}}
}

// TestDialHeartbeatsWhileJoining: every connection gets heartbeats from
// its dial on, so none idles while the joins are pending.
func TestDialHeartbeatsWhileJoining(t *testing.T) {
	const idle = 2 * time.Second
	srv := joinAfterHeartbeat(t, idle)
	defer srv.Close()
	defer func(d time.Duration) { heartbeatInterval = d }(heartbeatInterval)
	heartbeatInterval = idle / 10

	ctx, cancel := context.WithTimeout(context.Background(), 4*idle)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	set, err := Dial(ctx, url, 30, eqSpec(10, 1))
	if err != nil {
		t.Fatalf("joining 30 channels on 3 connections: %v", err)
	}
	if set.Len() != 3 {
		t.Errorf("%d connections for 30 channels, 10 each; want 3", set.Len())
	}
	time.Sleep(idle + idle/2) // longer than the idle timeout: only heartbeats keep the sockets open
	if n, first := set.Lost(); n > 0 {
		t.Errorf("%d connections closed while idle: %v", n, first)
	}
	set.Close()
}

// TestHeartbeaterStop: Stop returns once the heartbeat goroutine ended, and
// a connection added gets heartbeats at the interval.
func TestHeartbeaterStop(t *testing.T) {
	srv := joinAfterHeartbeat(t, time.Second)
	defer srv.Close()
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	hb := harness.StartHeartbeats(ctx, "2.0.0", 100*time.Millisecond)
	hb.Add(ws)
	if err := ws.Write(ctx, websocket.MessageText, eqSpec(1, 1).Join(7)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, msg, err := ws.Read(rctx); err != nil || !bytes.Contains(msg, []byte(`"phx_reply"`)) {
		t.Fatalf("no join reply after heartbeats: %q, %v", msg, err)
	}
	hb.Stop()
}
