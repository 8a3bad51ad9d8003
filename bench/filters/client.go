package filters

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
)

// The filters workload's subscriptions: channel "realtime:s<v>" with one
// INSERT binding on public.t filtered by sub=eq.<v>. A connection carries
// the channels of a range of values.
const filterTopicPrefix = "realtime:s"

var filterTopicKey = []byte(`"` + filterTopicPrefix)

func filterJoinFrame(v int) string {
	ref := strconv.Itoa(v)
	return `["` + ref + `","` + ref + `","` + filterTopicPrefix + ref + `","phx_join",{"config":{"postgres_changes":[` +
		`{"event":"INSERT","schema":"public","table":"t","filter":"sub=eq.` + ref + `"}]}}]`
}

// filterConn is one WebSocket with the channels of sub values [lo, hi).
// Its read loop owns counts, last, replies and live until done is closed.
type filterConn struct {
	ws     *websocket.Conn
	marker int64 // k of the rows it counts
	lo, hi int

	recv      atomic.Int64
	misrouted atomic.Int64 // rows of the marker on a channel whose value they do not carry
	counts    []int32      // rows received per channel
	ids       []int64      // of the counted rows, to find duplicates
	last      int64        // arrival of the last counted row, Unix ns

	replies, live int
	ready         chan struct{} // closed when every channel is joined and live, or on joinErr
	readyClosed   bool
	joinErr       error
	done          chan struct{}
	readErr       error
	closing       atomic.Bool
}

// dialFilterConn connects to url, adds the connection to hb, joins one
// channel per value in [lo, hi) and waits until every join is answered and
// "Subscribed to PostgreSQL".
func dialFilterConn(ctx context.Context, hb *harness.Heartbeater, url string, lo, hi int, marker int64) (*filterConn, error) {
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	hb.Add(ws)
	c := &filterConn{ws: ws, marker: marker, lo: lo, hi: hi, counts: make([]int32, hi-lo),
		ready: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	for v := lo; v < hi; v++ {
		if err := ws.Write(dctx, websocket.MessageText, []byte(filterJoinFrame(v))); err != nil {
			c.closeNow()
			return nil, fmt.Errorf("send join of %s%d: %w", filterTopicPrefix, v, err)
		}
	}
	select {
	case <-c.ready:
		if c.joinErr != nil {
			c.closeNow()
			return nil, c.joinErr
		}
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("connection closed while joining: %w", c.readErr)
	case <-dctx.Done():
		c.closeNow()
		return nil, fmt.Errorf("joining %d channels: %d answered, %d live: %w", hi-lo, c.replies, c.live, dctx.Err())
	}
}

func (c *filterConn) readLoop() {
	defer close(c.done)
	c.readErr = harness.ReadMessages(c.ws, c.handle)
}

// handle takes one frame: a change on one of the channels, or a control
// message of a join. Frames of other topics (heartbeat replies) are skipped.
func (c *filterConn) handle(f []byte, now int64) {
	v, ok := harness.IntAfter(f, filterTopicKey)
	if !ok {
		return
	}
	if i := bytes.Index(f, harness.RecordKey); i >= 0 {
		rec := f[i:]
		if k, ok := harness.IntAfter(rec, harness.KKey); !ok || k != c.marker {
			return
		}
		sub, ok := harness.IntAfter(rec, harness.SubKey)
		if !ok || sub != v || v < int64(c.lo) || v >= int64(c.hi) {
			c.misrouted.Add(1)
			return
		}
		c.counts[v-int64(c.lo)]++
		if id, ok := harness.IntAfter(rec, harness.IDKey); ok {
			c.ids = append(c.ids, id)
		}
		c.last = now
		c.recv.Add(1)
		return
	}
	if c.readyClosed {
		return
	}
	switch {
	case bytes.Contains(f, harness.ReplyKey):
		if !bytes.Contains(f, harness.StatusOK) {
			c.fail(fmt.Errorf("join of %s%d refused: %s", filterTopicPrefix, v, f))
			return
		}
		c.replies++
	case bytes.Contains(f, harness.SystemKey):
		if !bytes.Contains(f, harness.Subscribed) || !bytes.Contains(f, harness.StatusOK) {
			c.fail(fmt.Errorf("channel %s%d: %s", filterTopicPrefix, v, f))
			return
		}
		c.live++
	}
	if n := c.hi - c.lo; c.replies == n && c.live == n {
		c.readyClosed = true
		close(c.ready)
	}
}

func (c *filterConn) fail(err error) {
	c.joinErr = err
	c.readyClosed = true
	close(c.ready)
}

func (c *filterConn) closeNow() {
	c.closing.Store(true)
	_ = c.ws.CloseNow()
	<-c.done
}

// filterConnSet is the connections of one measurement, with heartbeats.
type filterConnSet struct {
	conns []*filterConn
	hb    *harness.Heartbeater
}

// heartbeatInterval is harness.HeartbeatInterval; tests shorten it.
var heartbeatInterval = harness.HeartbeatInterval

// dialFilterConns opens ceil(n/perConn) connections carrying n channels,
// channel v filtered by sub=eq.v, perConn per connection (the last one the
// rest), and waits until every channel is live. Each connection gets
// heartbeats from its dial on, not from the last join: joining 100,000
// channels takes longer than the server's 60 s idle timeout.
func dialFilterConns(ctx context.Context, url string, n, perConn int, marker int64) (*filterConnSet, error) {
	set := &filterConnSet{conns: make([]*filterConn, (n+perConn-1)/perConn), hb: harness.StartHeartbeats(ctx, "2.0.0", heartbeatInterval)}
	var mu sync.Mutex
	err := harness.DialAll(ctx, len(set.conns), 32, func(ctx context.Context, j int) error {
		c, err := dialFilterConn(ctx, set.hb, url, j*perConn, min((j+1)*perConn, n), marker)
		mu.Lock()
		set.conns[j] = c
		mu.Unlock()
		return err
	})
	if err != nil {
		set.close()
		return nil, err
	}
	return set, nil
}

func (s *filterConnSet) received() int64 {
	var n int64
	for _, c := range s.conns {
		n += c.recv.Load()
	}
	return n
}

// lostConns counts the connections the server closed or that failed, with
// one of their errors. Call it before close.
func (s *filterConnSet) lostConns() (n int, example error) {
	for _, c := range s.conns {
		select {
		case <-c.done:
			if !c.closing.Load() {
				n++
				if example == nil {
					example = c.readErr
				}
			}
		default:
		}
	}
	return n, example
}

// close stops the heartbeats and closes every connection; the read loops
// have ended when it returns.
func (s *filterConnSet) close() {
	s.hb.Stop()
	var wg sync.WaitGroup
	for _, c := range s.conns {
		if c != nil {
			wg.Go(c.closeNow)
		}
	}
	wg.Wait()
}
