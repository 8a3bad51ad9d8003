package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// The fanout room and the frames its clients send.
const (
	fanoutChannel = "fanout"
	fanoutEvent   = "m"
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

// roomConn is one WebSocket in the fanout room: it joins, then counts the
// broadcasts sent inside the measurement window and records their latency.
// It speaks walcast's Phoenix protocol, or Centrifugo's when proto says so.
type roomConn struct {
	ws      *websocket.Conn
	w       *window
	proto   string
	samples []int64 // latencies (µs) not yet merged into the shared histogram
	joined  chan error
	done    chan struct{}
	readErr error
	centrifugoState
}

// window is the measurement window and what was received in it, shared
// by the connections of one process.
type window struct {
	from, to atomic.Int64 // Unix ns; to == 0: not set yet
	received atomic.Int64 // broadcasts sent in the window, received
	outside  atomic.Int64 // broadcasts sent outside it
	mu       sync.Mutex
	hist     histogram
}

func (w *window) flush(samples []int64) {
	w.mu.Lock()
	for _, us := range samples {
		w.hist.record(us)
	}
	w.mu.Unlock()
}

// dialRoom connects to url, joins topic and waits for the join reply.
func dialRoom(ctx context.Context, client *http.Client, url, vsn, topic string, w *window) (*roomConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, err
	}
	c := &roomConn{ws: ws, w: w, proto: protoPhoenix, joined: make(chan error, 1), done: make(chan struct{})}
	go c.readLoop()
	return c.join(dctx, joinText(vsn, topic))
}

// join sends the frames that join the connection and waits for the reply.
func (c *roomConn) join(ctx context.Context, frames ...string) (*roomConn, error) {
	for _, f := range frames {
		if err := c.ws.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			c.ws.CloseNow()
			return nil, err
		}
	}
	select {
	case err := <-c.joined:
		if err != nil {
			c.ws.CloseNow()
			return nil, err
		}
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("closed before the join reply: %w", c.readErr)
	case <-ctx.Done():
		c.ws.CloseNow()
		return nil, fmt.Errorf("no join reply: %w", ctx.Err())
	}
}

func (c *roomConn) readLoop() {
	defer close(c.done)
	defer func() { c.w.flush(c.samples) }()
	buf := make([]byte, 0, 512)
	joined := false
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err == nil {
			buf, err = readInto(buf[:0], r)
		}
		if err != nil {
			c.readErr = err
			return
		}
		now := time.Now().UnixNano()
		if c.proto == protoCentrifugo {
			joined = c.centrifugoFrame(buf, now, joined)
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
func (c *roomConn) count(frame []byte, now int64) {
	sent, ok := stampOf(frame)
	if !ok {
		return
	}
	if from, to := c.w.from.Load(), c.w.to.Load(); to == 0 || sent < from || sent >= to {
		c.w.outside.Add(1)
		return
	}
	c.w.received.Add(1)
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

// ---- the subscriber load process

type fanoutLoadConfig struct {
	URL, Vsn, Src string
	Proto         string // protoPhoenix or protoCentrifugo
	N             int
}

// fanoutLoadResult is what a subscriber process reports at the end.
type fanoutLoadResult struct {
	Received, Outside int64
	Lost              int // connections that ended before the report
	LostExample       string
	Hist              histJSON
}

// fanoutLoad is the subscriber process: N connections from Src joined to
// the room (subscribed to the channel, for Centrifugo). Commands: "window
// FROM TO" sets the measurement window (Unix ns); "count" prints how many
// broadcasts of the window arrived so far; "report" prints a
// fanoutLoadResult and exits.
func fanoutLoad(ctx context.Context) error {
	var cfg fanoutLoadConfig
	if err := loadConfig(&cfg); err != nil {
		return err
	}
	channel := channelName(cfg.Proto, fanoutChannel)
	w, conns, stopKeepAlive, err := joinConns(ctx, cfg.Proto, sourceClient(cfg.Src), cfg.URL, cfg.Vsn, cfg.N, 32, func(int) string { return channel })
	if err != nil {
		return err
	}
	defer stopKeepAlive()

	for cmd := range commands() {
		f := strings.Fields(cmd)
		switch {
		case len(f) == 3 && f[0] == "window":
			from, _ := strconv.ParseInt(f[1], 10, 64)
			to, _ := strconv.ParseInt(f[2], 10, 64)
			w.from.Store(from)
			w.to.Store(to)
		case len(f) == 1 && f[0] == "count":
			emit(map[string]int64{"received": w.received.Load()})
		case len(f) == 1 && f[0] == "report":
			res := fanoutLoadResult{}
			for _, c := range conns {
				select {
				case <-c.done:
					res.Lost++
					if res.LostExample == "" {
						res.LostExample = fmt.Sprint(c.readErr)
					}
				default:
				}
			}
			for _, c := range conns {
				c.ws.CloseNow()
			}
			for _, c := range conns {
				<-c.done // each read loop merges its samples as it ends
			}
			res.Received, res.Outside = w.received.Load(), w.outside.Load()
			res.Hist = w.hist.toJSON()
			emit(res)
			return nil
		}
	}
	return nil
}

// histJSON carries a histogram from a load process to the parent.
type histJSON struct {
	Counts []uint64
	N, Neg uint64
	Max    int64
}

func (h *histogram) toJSON() histJSON {
	return histJSON{Counts: h.counts, N: h.n, Neg: h.neg, Max: h.max}
}

func (j histJSON) histogram() *histogram {
	return &histogram{counts: j.Counts, n: j.N, neg: j.Neg, max: j.Max}
}
