package pgchanges

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// Spec says which channels the connections join and how their rows are
// checked. Channel v is for the rows whose Route column holds v.
type Spec struct {
	// Topic is the channels' topic: Topic followed by the channel's
	// number ("realtime:s17"), or with OneTopic Topic itself, the one
	// channel of every connection.
	Topic    string
	OneTopic bool
	Join     func(v int) []byte // phx_join frame of channel v
	Route    []byte             // key of the column that holds v in channel v's rows (harness.SubKey)
	Marker   int64              // k of the counted rows; others (the warm-up's) are skipped
	IDs      bool               // keep the ids of the counted rows, to find duplicates
	Latency  bool               // record each row's arrival minus its sent_ns
	PerConn  int                // channels per connection
	Parallel int                // connections dialed at once
	// JoinTimeout bounds a connection's dial and joins (default a minute).
	JoinTimeout time.Duration
}

var sentKey = []byte(`"sent_ns":`)

func (s *Spec) topic(v int) string {
	if s.OneTopic {
		return s.Topic
	}
	return s.Topic + strconv.Itoa(v)
}

// Conn is one WebSocket with the channels [lo, hi). Its read loop owns
// counts, ids, hist, last and the join state until done is closed.
type Conn struct {
	ws       *websocket.Conn
	spec     *Spec
	topicKey []byte
	lo, hi   int

	recv      atomic.Int64
	misrouted atomic.Int64 // marked rows on a channel whose value they do not carry
	counts    []int32      // rows received per channel
	ids       []int64      // of the counted rows, with Spec.IDs
	hist      stats.Histogram
	last      int64 // arrival of the last counted row, Unix ns

	replies, live int
	ready         chan struct{} // closed when every channel is joined and live, or on joinErr
	readyClosed   bool
	joinErr       error
	done          chan struct{}
	readErr       error
	closing       atomic.Bool
}

func newConn(spec *Spec, lo, hi int) *Conn {
	key := `"` + spec.Topic
	if spec.OneTopic {
		key += `"`
	}
	return &Conn{spec: spec, topicKey: []byte(key), lo: lo, hi: hi, counts: make([]int32, hi-lo),
		ready: make(chan struct{}), done: make(chan struct{})}
}

// dialConn connects to url, adds the connection to hb, joins channels
// [lo, hi) and waits until every join is answered and "Subscribed to
// PostgreSQL".
func dialConn(ctx context.Context, hb *harness.Heartbeater, url string, spec *Spec, lo, hi int) (*Conn, error) {
	timeout := spec.JoinTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	hb.Add(ws)
	c := newConn(spec, lo, hi)
	c.ws = ws
	go c.readLoop()
	for v := lo; v < hi; v++ {
		if err := ws.Write(dctx, websocket.MessageText, spec.Join(v)); err != nil {
			c.close()
			return nil, fmt.Errorf("send join of %s: %w", spec.topic(v), err)
		}
	}
	select {
	case <-c.ready:
		if c.joinErr != nil {
			c.close()
			return nil, c.joinErr
		}
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("connection of %s closed while joining: %w", c.channels(), c.readErr)
	case <-dctx.Done():
		c.close()
		return nil, fmt.Errorf("joining %s: %d answered, %d live: %w", c.channels(), c.replies, c.live, dctx.Err())
	}
}

// channels names the connection's channels in errors.
func (c *Conn) channels() string {
	if c.hi-c.lo == 1 {
		return "channel " + c.spec.topic(c.lo)
	}
	return fmt.Sprintf("channels %s–%d", c.spec.topic(c.lo), c.hi-1)
}

func (c *Conn) readLoop() {
	defer close(c.done)
	c.readErr = harness.ReadMessages(c.ws, c.handle)
}

// handle takes one frame: a change on one of the channels, or a control
// message of a join. Frames of other topics (heartbeat replies) are
// skipped.
func (c *Conn) handle(f []byte, now int64) {
	v := int64(c.lo)
	if c.spec.OneTopic {
		if !bytes.Contains(f, c.topicKey) {
			return
		}
	} else {
		var ok bool
		if v, ok = harness.IntAfter(f, c.topicKey); !ok {
			return
		}
	}
	if i := bytes.Index(f, harness.RecordKey); i >= 0 {
		c.count(f[i:], v, now)
		return
	}
	if c.readyClosed {
		return
	}
	switch {
	case bytes.Contains(f, harness.ReplyKey):
		if !bytes.Contains(f, harness.StatusOK) {
			c.fail(fmt.Errorf("join of %s refused: %.300s", c.spec.topic(int(v)), f))
			return
		}
		c.replies++
	case bytes.Contains(f, harness.SystemKey):
		if !bytes.Contains(f, harness.Subscribed) || !bytes.Contains(f, harness.StatusOK) {
			c.fail(fmt.Errorf("channel %s: %.300s", c.spec.topic(int(v)), f))
			return
		}
		c.live++
	}
	if n := c.hi - c.lo; c.replies == n && c.live == n {
		c.readyClosed = true
		close(c.ready)
	}
}

// count takes the record rec of a change that came on channel v.
func (c *Conn) count(rec []byte, v, now int64) {
	if k, ok := harness.IntAfter(rec, harness.KKey); !ok || k != c.spec.Marker {
		return
	}
	route, ok := harness.IntAfter(rec, c.spec.Route)
	if !ok || route != v || v < int64(c.lo) || v >= int64(c.hi) {
		c.misrouted.Add(1)
		return
	}
	c.counts[v-int64(c.lo)]++
	if c.spec.IDs {
		if id, ok := harness.IntAfter(rec, harness.IDKey); ok {
			c.ids = append(c.ids, id)
		}
	}
	if c.spec.Latency {
		if sent, ok := harness.IntAfter(rec, sentKey); ok {
			c.hist.Record((now - sent) / 1000)
		}
	}
	c.last = now
	c.recv.Add(1)
}

func (c *Conn) fail(err error) {
	c.joinErr = err
	c.readyClosed = true
	close(c.ready)
}

// lost reports why the connection ended while it should be open.
func (c *Conn) lost() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if c.closing.Load() {
		return nil
	}
	return fmt.Errorf("connection of %s lost: %w", c.channels(), c.readErr)
}

// close closes the socket and waits for the read loop to end.
func (c *Conn) close() {
	c.closing.Store(true)
	_ = c.ws.CloseNow()
	<-c.done
}
