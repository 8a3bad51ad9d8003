package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/stats"
)

// The fanout room and the frames its clients send.
const (
	FanoutChannel = "fanout"
	FanoutEvent   = "m"
	joinConfig    = `{"config":{"broadcast":{"self":false,"ack":false},"presence":{"key":"","enabled":false},"postgres_changes":[],"private":false}}`
)

func joinText(vsn, topic string) string {
	if vsn == "1.0.0" {
		return `{"join_ref":"1","ref":"1","topic":"` + topic + `","event":"phx_join","payload":` + joinConfig + `}`
	}
	return `["1","1","` + topic + `","phx_join",` + joinConfig + `]`
}

var (
	stampKey = []byte(`"t":`)
	replyOK  = []byte(`"status":"ok"`)
)

// stampOf returns the send time (Unix ns) embedded in a broadcast frame.
func stampOf(f []byte) (int64, bool) {
	i := bytes.Index(f, stampKey)
	if i < 0 {
		return 0, false
	}
	b := f[i+len(stampKey):]
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	t, err := strconv.ParseInt(string(b[:n]), 10, 64)
	return t, err == nil
}

// RoomConn is one WebSocket in the fanout room: it joins, then counts the
// broadcasts sent inside the measurement window and records their latency.
// It speaks walcast's Phoenix protocol, or Centrifugo's when proto says so.
type RoomConn struct {
	Ws      *websocket.Conn
	w       *Window
	proto   string
	samples []int64 // latencies (µs) not yet merged into the shared histogram
	joined  chan error
	Done    chan struct{}
	ReadErr error
	centrifugoState
}

// Window is the measurement window and what was received in it, shared
// by the connections of one process.
type Window struct {
	From, To atomic.Int64 // Unix ns; to == 0: not set yet
	Received atomic.Int64 // broadcasts sent in the window, received
	Outside  atomic.Int64 // broadcasts sent outside it
	mu       sync.Mutex
	Hist     stats.Histogram
}

func (w *Window) flush(samples []int64) {
	w.mu.Lock()
	for _, us := range samples {
		w.Hist.Record(us)
	}
	w.mu.Unlock()
}

// DialRoom connects to url, adds the connection to hb unless nil, joins
// topic and waits for the join reply.
func DialRoom(ctx context.Context, client *http.Client, hb *Heartbeater, url, vsn, topic string, w *Window) (*RoomConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, err
	}
	// Broadcasts of up to 64 KB (the sizes workload) are single frames:
	// allow more than coder/websocket's default 32 KiB, as for Centrifugo.
	ws.SetReadLimit(1 << 20)
	if hb != nil {
		hb.Add(ws)
	}
	c := &RoomConn{Ws: ws, w: w, proto: protoPhoenix, joined: make(chan error, 1), Done: make(chan struct{})}
	go c.readLoop()
	return c.join(dctx, joinText(vsn, topic))
}

// join sends the frames that join the connection and waits for the reply.
func (c *RoomConn) join(ctx context.Context, frames ...string) (*RoomConn, error) {
	for _, f := range frames {
		if err := c.Ws.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			c.Ws.CloseNow()
			return nil, err
		}
	}
	return c.awaitJoin(ctx)
}

// awaitJoin waits for the reply that completes the join.
func (c *RoomConn) awaitJoin(ctx context.Context) (*RoomConn, error) {
	select {
	case err := <-c.joined:
		if err != nil {
			c.Ws.CloseNow()
			return nil, err
		}
		return c, nil
	case <-c.Done:
		return nil, fmt.Errorf("closed before the join reply: %w", c.ReadErr)
	case <-ctx.Done():
		c.Ws.CloseNow()
		return nil, fmt.Errorf("no join reply: %w", ctx.Err())
	}
}

func (c *RoomConn) readLoop() {
	defer close(c.Done)
	defer func() { c.w.flush(c.samples) }()
	buf := make([]byte, 0, 512)
	joined := false
	for {
		_, r, err := c.Ws.Reader(context.Background())
		if err == nil {
			buf, err = readInto(buf[:0], r)
		}
		if err != nil {
			c.ReadErr = err
			return
		}
		now := time.Now().UnixNano()
		switch c.proto {
		case ProtoCentrifugo:
			joined = c.centrifugoFrame(buf, now, joined)
			continue
		case ProtoCentrifugoProtobuf:
			joined = c.centrifugoProtobufFrame(buf, now, joined)
			continue
		}
		if !joined {
			if bytes.Contains(buf, []byte(`"phx_reply"`)) && !bytes.Contains(buf, []byte(`"phoenix"`)) {
				joined = true
				if bytes.Contains(buf, replyOK) {
					c.joined <- nil
				} else {
					c.joined <- fmt.Errorf("join refused: %s", buf)
				}
			}
			continue
		}
		c.count(buf, now)
	}
}

// count records the broadcast in frame, received at now, when it carries a
// send time.
func (c *RoomConn) count(frame []byte, now int64) {
	sent, ok := stampOf(frame)
	if !ok {
		return
	}
	if from, to := c.w.From.Load(), c.w.To.Load(); to == 0 || sent < from || sent >= to {
		c.w.Outside.Add(1)
		return
	}
	c.w.Received.Add(1)
	c.samples = append(c.samples, (now-sent)/1000)
	if len(c.samples) >= 64 {
		c.w.flush(c.samples)
		c.samples = c.samples[:0]
	}
}

// readInto appends everything r yields to buf.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// AppendPayload appends the JSON payload every publisher sends, size bytes:
// {"t":<send time, Unix ns>,"s":<seq>,"p":"xxx…"}.
func AppendPayload(dst []byte, t, seq int64, size int) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, `{"t":%d,"s":%d,"p":"`, t, seq)
	for len(dst)-start < size-2 {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// BroadcastPush appends a kind-3 user broadcast push (join_ref "1", no ref,
// no metadata, JSON payload), what realtime-js's channel.send sends with
// vsn 2.0.0, whose payload is size bytes of JSON:
// {"t":<send time, Unix ns>,"s":<seq>,"p":"xxx…"}.
func BroadcastPush(dst []byte, topic, event string, t, seq int64, size int) []byte {
	const joinRef = "1"
	dst = append(dst, 3, byte(len(joinRef)), 0, byte(len(topic)), byte(len(event)), 0, 1)
	dst = append(append(append(dst, joinRef...), topic...), event...)
	return AppendPayload(dst, t, seq, size)
}
