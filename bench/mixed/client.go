package mixed

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
	"github.com/walcast/walcast/bench/stats"
)

// Subscription v is channel "realtime:m<v>" with one INSERT binding on its
// table with its filter. A connection carries the channels of a range of
// values.
const topicPrefix = "realtime:m"

var (
	topicKey = []byte(`"` + topicPrefix)
	kKey     = []byte(`"k":`)
	subKey   = []byte(`"sub":`)
	sentKey  = []byte(`"sent_ns":`)
)

func joinFrame(v int, table, filter string) []byte {
	ref := strconv.Itoa(v)
	return fmt.Appendf(nil, `["%s","%s","%s%s","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":%q,"filter":%q}]}}]`,
		ref, ref, topicPrefix, ref, table, filter)
}

// subConn is one WebSocket with the channels of values [lo, hi). Its read
// loop owns counts, hist, last and the join state until done is closed.
type subConn struct {
	ws     *websocket.Conn
	marker int64
	lo, hi int

	recv      atomic.Int64
	misrouted atomic.Int64 // measured rows on a channel whose sub they do not carry
	counts    []int32
	hist      stats.Histogram
	last      int64

	replies, live int
	ready         chan struct{}
	readyClosed   bool
	joinErr       error
	done          chan struct{}
	readErr       error
	closing       atomic.Bool
}

func dialSubConn(ctx context.Context, hb *harness.Heartbeater, url string, c tableCase, lo, hi, subs int, marker int64) (*subConn, error) {
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	hb.Add(ws)
	s := &subConn{ws: ws, marker: marker, lo: lo, hi: hi, counts: make([]int32, hi-lo), ready: make(chan struct{}), done: make(chan struct{})}
	go s.readLoop()
	for v := lo; v < hi; v++ {
		if err := ws.Write(dctx, websocket.MessageText, joinFrame(v, c.tableOf(v), c.filterOf(v, subs))); err != nil {
			s.close()
			return nil, fmt.Errorf("send join of %s%d: %w", topicPrefix, v, err)
		}
	}
	select {
	case <-s.ready:
		if s.joinErr != nil {
			s.close()
			return nil, s.joinErr
		}
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("connection closed while joining: %w", s.readErr)
	case <-dctx.Done():
		s.close()
		return nil, fmt.Errorf("joining %d channels: %d answered, %d live: %w", hi-lo, s.replies, s.live, dctx.Err())
	}
}

func (s *subConn) readLoop() {
	defer close(s.done)
	s.readErr = harness.ReadMessages(s.ws, s.handle)
}

// handle takes one frame: a change on one of the channels, or a control
// message of a join. Frames of other topics are skipped.
func (s *subConn) handle(f []byte, now int64) {
	v, ok := harness.IntAfter(f, topicKey)
	if !ok {
		return
	}
	if i := bytes.Index(f, harness.RecordKey); i >= 0 {
		rec := f[i:]
		if k, ok := harness.IntAfter(rec, kKey); !ok || k != s.marker {
			return
		}
		sub, ok := harness.IntAfter(rec, subKey)
		if !ok || sub != v || v < int64(s.lo) || v >= int64(s.hi) {
			s.misrouted.Add(1)
			return
		}
		s.counts[v-int64(s.lo)]++
		if sent, ok := harness.IntAfter(rec, sentKey); ok {
			s.hist.Record((now - sent) / 1000)
		}
		s.last = now
		s.recv.Add(1)
		return
	}
	if s.readyClosed {
		return
	}
	switch {
	case bytes.Contains(f, harness.ReplyKey):
		if !bytes.Contains(f, harness.StatusOK) {
			s.fail(fmt.Errorf("join of %s%d refused: %.300s", topicPrefix, v, f))
			return
		}
		s.replies++
	case bytes.Contains(f, harness.SystemKey):
		if !bytes.Contains(f, harness.Subscribed) || !bytes.Contains(f, harness.StatusOK) {
			s.fail(fmt.Errorf("channel %s%d: %.300s", topicPrefix, v, f))
			return
		}
		s.live++
	}
	if n := s.hi - s.lo; s.replies == n && s.live == n {
		s.readyClosed = true
		close(s.ready)
	}
}

func (s *subConn) fail(err error) {
	s.joinErr = err
	s.readyClosed = true
	close(s.ready)
}

func (s *subConn) close() {
	s.closing.Store(true)
	_ = s.ws.CloseNow()
	<-s.done
}

// connSet is the connections of one measurement, with their heartbeats.
type connSet struct {
	conns []*subConn
	hb    *harness.Heartbeater
}

// dialAll opens ceil(subs/perConn) connections carrying subscriptions 0 to
// subs-1 and waits until every channel is live.
func dialAll(ctx context.Context, url string, c tableCase, subs, perConn int, marker int64) (*connSet, error) {
	set := &connSet{conns: make([]*subConn, (subs+perConn-1)/perConn), hb: harness.StartHeartbeats(ctx, "2.0.0", harness.HeartbeatInterval)}
	var mu sync.Mutex
	err := harness.DialAll(ctx, len(set.conns), 8, func(ctx context.Context, j int) error {
		s, err := dialSubConn(ctx, set.hb, url, c, j*perConn, min((j+1)*perConn, subs), subs, marker)
		mu.Lock()
		set.conns[j] = s
		mu.Unlock()
		return err
	})
	if err != nil {
		set.close()
		return nil, err
	}
	return set, nil
}

func (set *connSet) received() int64 {
	var n int64
	for _, s := range set.conns {
		n += s.recv.Load()
	}
	return n
}

// lost is the first connection that ended while it should be open.
func (set *connSet) lost() error {
	for _, s := range set.conns {
		if isClosed(s.done) && !s.closing.Load() {
			return fmt.Errorf("connection of channels %d–%d lost: %w", s.lo, s.hi-1, s.readErr)
		}
	}
	return nil
}

func (set *connSet) close() {
	set.hb.Stop()
	for _, s := range set.conns {
		if s != nil {
			s.close()
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
