package pgchanges

import (
	"context"
	"sync"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// Set is the connections of one measurement, with their heartbeats.
type Set struct {
	conns []*Conn
	hb    *harness.Heartbeater
}

// heartbeatInterval is harness.HeartbeatInterval; tests shorten it.
var heartbeatInterval = harness.HeartbeatInterval

// Dial opens ceil(n/spec.PerConn) connections to url carrying channels 0
// to n-1, spec.PerConn per connection (the last one the rest), and waits
// until every channel is live. Each connection gets heartbeats from its
// dial on, not from the last join: joining 100,000 channels takes longer
// than the server's 60 s idle timeout.
func Dial(ctx context.Context, url string, n int, spec Spec) (*Set, error) {
	set := &Set{conns: make([]*Conn, (n+spec.PerConn-1)/spec.PerConn), hb: harness.StartHeartbeats(ctx, "2.0.0", heartbeatInterval)}
	var mu sync.Mutex
	err := harness.DialAll(ctx, len(set.conns), max(spec.Parallel, 1), func(ctx context.Context, j int) error {
		c, err := dialConn(ctx, set.hb, url, &spec, j*spec.PerConn, min((j+1)*spec.PerConn, n))
		mu.Lock()
		set.conns[j] = c
		mu.Unlock()
		return err
	})
	if err != nil {
		set.Close()
		return nil, err
	}
	return set, nil
}

// Len is the number of connections.
func (s *Set) Len() int { return len(s.conns) }

// Received is the rows counted so far.
func (s *Set) Received() int64 {
	var n int64
	for _, c := range s.conns {
		n += c.recv.Load()
	}
	return n
}

// Lost counts the connections the server closed or that failed, with the
// first one's error. Call it before Close.
func (s *Set) Lost() (n int, first error) {
	for _, c := range s.conns {
		if err := c.lost(); err != nil {
			n++
			if first == nil {
				first = err
			}
		}
	}
	return n, first
}

// Close stops the heartbeats and closes every connection; the read loops
// have ended when it returns. A second Close does nothing more.
func (s *Set) Close() {
	s.hb.Stop()
	var wg sync.WaitGroup
	for _, c := range s.conns {
		if c != nil {
			wg.Go(c.close)
		}
	}
	wg.Wait()
}

// Tally is what a set's connections received.
type Tally struct {
	Delivered, Misrouted int64
	Duplicates           int64           // rows a channel got more than once (Spec.IDs)
	OffCount             int             // channels that got another count than wanted
	Last                 int64           // arrival of the last counted row, Unix ns; 0 without any
	Hist                 stats.Histogram // arrival minus sent_ns, µs (Spec.Latency)
}

// Tally closes the set and sums what its connections received; want(v) is
// the rows channel v should have got.
func (s *Set) Tally(want func(v int) int) Tally {
	s.Close()
	return tally(s.conns, want)
}

func tally(conns []*Conn, want func(v int) int) Tally {
	var t Tally
	for _, c := range conns {
		t.Delivered += c.recv.Load()
		t.Misrouted += c.misrouted.Load()
		t.Duplicates += stats.Duplicates(c.ids)
		t.Hist.Merge(&c.hist)
		t.Last = max(t.Last, c.last)
		for i, got := range c.counts {
			if int(got) != want(c.lo+i) {
				t.OffCount++
			}
		}
	}
	return t
}

// AwaitDelivered waits, as harness.WaitDelivered does, until the set
// received want rows, and gives up early when serverExited reports that
// the server ended or a connection was lost.
func (s *Set) AwaitDelivered(ctx context.Context, want int64, serverExited func() error, limit time.Duration) error {
	failed := func() error {
		if err := serverExited(); err != nil {
			return err
		}
		_, err := s.Lost()
		return err
	}
	return harness.WaitDelivered(ctx, s.Received, want, failed, limit)
}
