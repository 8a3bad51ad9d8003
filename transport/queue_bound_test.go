package transport

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// TestMaximalBroadcastsReachAReader: five broadcasts just under the payload
// limit (3 MB by default, three times the default QueueBytes), pushed back
// to back, reach receivers of both serializers that read, with no slow
// consumer close: the queue always has room for one maximal broadcast on
// top of its backlog (Config.queueBound).
func TestMaximalBroadcastsReachAReader(t *testing.T) {
	const n, topic = 5, "realtime:big"
	e := newEnv(t, Config{})
	// The kernel's own socket buffers, as on a real loopback: newEnv's
	// small ones would make the server write 2.9 MB in 32 KiB steps.
	e.http.Close()
	e.http = httptest.NewServer(e.s.Handler())
	size := e.s.cfg.MaxPayloadBytes - 100_000 // 2.9 MB
	if e.s.cfg.QueueBytes >= size {
		t.Fatalf("QueueBytes %d is not below the payload size %d: the test proves nothing", e.s.cfg.QueueBytes, size)
	}
	sender := e.dialPlain(t, phoenix.V2)
	sender.joinRoom(topic, "1", false, false, false)
	type result struct {
		got  int
		code websocket.StatusCode
		err  error
	}
	results := make(chan result, 2)
	for _, vsn := range []phoenix.Version{phoenix.V1, phoenix.V2} {
		r := e.dialPlain(t, vsn)
		r.joinRoom(topic, "1", false, false, false)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got := 0
			for got < n {
				_, b, err := r.ws.Read(ctx)
				if err != nil {
					results <- result{got, websocket.CloseStatus(err), err}
					return
				}
				if len(b) > size {
					got++
				}
			}
			results <- result{got: got}
		}()
	}
	pad := strings.Repeat("x", size-20)
	for i := range n {
		sender.sendRaw(websocket.MessageBinary, binaryPush("1", "", topic, "big", fmt.Sprintf(`{"i":%d,"p":"%s"}`, i, pad)))
	}
	for range 2 {
		if r := <-results; r.err != nil || r.got != n {
			t.Errorf("receiver got %d of %d broadcasts of %d bytes, then %v (close %v)", r.got, n, size, r.err, r.code)
		}
	}
	if sc := e.s.Stats().SlowConsumers; sc != 0 {
		t.Errorf("%d slow consumers, want none", sc)
	}
}

// dialPlain dials with the kernel's default socket buffers.
func (e *testEnv) dialPlain(t testing.TB, vsn phoenix.Version) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.url("/realtime/v1/websocket", "apikey="+token(t, time.Hour)+"&vsn="+vsn.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws, vsn: vsn}
}
