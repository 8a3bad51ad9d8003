package harness

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// ReadMessages reads whole messages from conn until a read fails, and
// returns that error (the connection closed or broke). handle gets each
// message with its arrival time in Unix ns, taken as soon as the last byte
// is in. The message bytes are reused for the next one: handle must copy
// what it keeps.
func ReadMessages(conn *websocket.Conn, handle func(msg []byte, arrived int64)) error {
	var buf bytes.Buffer
	for {
		_, r, err := conn.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return err
		}
		handle(buf.Bytes(), time.Now().UnixNano())
	}
}

// heartbeatText is the Phoenix heartbeat in the serializer of vsn.
func heartbeatText(vsn string) string {
	if vsn == "1.0.0" {
		return `{"ref":"h","topic":"phoenix","event":"heartbeat","payload":{}}`
	}
	return `[null,"h","phoenix","heartbeat",{}]`
}

// HeartbeatInterval is realtime-js's: walcast serve closes a socket that
// has sent nothing for 60 s (4001).
const HeartbeatInterval = 25 * time.Second

// Heartbeater sends the Phoenix heartbeat on every connection added to it,
// every interval from its start. Connections are added as soon as they are
// dialed, before they join: joining thousands of channels can take longer
// than the server's idle timeout, and a connection that waits for the
// others' joins must not idle meanwhile. One goroutine, owned by the
// Heartbeater, writes the heartbeats; Stop ends it and waits for it.
type Heartbeater struct {
	hb    []byte
	mu    sync.Mutex
	conns []*websocket.Conn
	stop  context.CancelFunc
	done  chan struct{}
}

// StartHeartbeats starts a Heartbeater for the serializer vsn.
func StartHeartbeats(ctx context.Context, vsn string, interval time.Duration) *Heartbeater {
	ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h := &Heartbeater{hb: []byte(heartbeatText(vsn)), stop: stop, done: make(chan struct{})}
	go h.loop(ctx, interval)
	return h
}

// Add makes ws get heartbeats from the next tick on.
func (h *Heartbeater) Add(ws *websocket.Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, ws)
	h.mu.Unlock()
}

// Stop ends the heartbeats and returns once the last write is done.
func (h *Heartbeater) Stop() {
	h.stop()
	<-h.done
}

func (h *Heartbeater) loop(ctx context.Context, interval time.Duration) {
	defer close(h.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		conns := h.conns[:len(h.conns):len(h.conns)]
		h.mu.Unlock()
		for _, ws := range conns {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = ws.Write(wctx, websocket.MessageText, h.hb) // a broken connection shows in its read loop
			cancel()
		}
	}
}

// Heartbeats sends a heartbeat on every connection of conns every
// HeartbeatInterval, as realtime-js does, so the server's 60 s idle
// timeout never fires. It returns when ctx ends.
func Heartbeats(ctx context.Context, conns []*websocket.Conn, vsn string) {
	h := StartHeartbeats(ctx, vsn, HeartbeatInterval)
	for _, ws := range conns {
		h.Add(ws)
	}
	<-ctx.Done()
	h.Stop()
}

// IntAfter parses the integer that follows key in b.
func IntAfter(b, key []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n int64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	if j == 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
