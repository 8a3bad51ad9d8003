package transport

import (
	"cmp"
	"slices"
	"time"

	"github.com/walcast/walcast/internal/wsconn"
)

// The queue budget bounds what all connections and feeds together hold
// toward their clients (Config.MaxQueuedBytes). Each queue is bounded on
// its own, but thousands of clients that all fall behind at once (a
// network hiccup, a burst) could still take the node's memory. A watcher
// looks at the total every queueBudgetEvery; past the budget it ends the
// ones with the longest backlogs, the slowest readers, until the rest
// fits. Sampling keeps the hot path free of a shared counter: a push
// stays a push to one connection's queue.
//
// What counts: a WebSocket's outbound queue; a hijacked SSE stream's
// queue and what its sink holds back while the stream opens or replays;
// and the queued events of a feed that runs in its handler (SSE through a
// ResponseWriter, a long-poll) with the batch or answer being written.
// A WebSocket and a hijacked stream are closed with 4002 (a stream's last
// chunk ends its response, and its EventSource reconnects and resumes); a
// handler's feed drops its events and its write in progress is cut short
// (its write deadline is moved to now): an SSE stream ends, a long-poll
// that has not answered yet answers 503, and its client polls again from
// the same cursor.

// queueBudgetEvery is how often the watcher adds up the queues.
const queueBudgetEvery = 250 * time.Millisecond

// StatusOverloaded (4002 "server overloaded"): the connection was shed to
// keep the node's total outbound backlog within Config.MaxQueuedBytes.
const StatusOverloaded = 4002

// watchQueues runs until the server stops accepting.
func (s *Server) watchQueues() {
	defer s.bg.Done()
	t := time.NewTicker(queueBudgetEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case <-t.C:
			s.shedOverBudget()
		}
	}
}

// backlog is one connection's or feed's share of the budget.
type backlog struct {
	n    int         // bytes it holds toward its client
	shed func() bool // ends it; false when it was ending already
}

// backlogs returns the total backlog and, with list, the connections and
// feeds that hold some.
func (s *Server) backlogs(list bool) (total int, all []backlog) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	streams := make([]*rawSSE, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	feeds := make([]*feedSink, 0, len(s.feeds))
	for f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	// Summed outside s.mu, so that a scrape does not hold up upgrades.
	add := func(n int, shed func() bool) {
		total += n
		if list && n > 0 {
			all = append(all, backlog{n, shed})
		}
	}
	for _, c := range conns {
		add(c.ws.QueuedBytes(), func() bool { return c.ws.Close(wsconn.StatusCode(StatusOverloaded), "server overloaded") })
	}
	for _, st := range streams {
		add(st.conn.QueuedBytes()+st.sink.backlog(), st.shed)
	}
	for _, f := range feeds {
		add(f.backlog(), f.shed)
	}
	return total, all
}

// shedOverBudget ends the most-backlogged connections and feeds while the
// total exceeds the budget.
func (s *Server) shedOverBudget() {
	total, all := s.backlogs(true)
	if total <= s.cfg.MaxQueuedBytes {
		return
	}
	slices.SortFunc(all, func(a, b backlog) int { return cmp.Compare(b.n, a.n) })
	shed := 0
	for _, b := range all {
		if total <= s.cfg.MaxQueuedBytes {
			break
		}
		if b.shed() {
			s.stats.shed.Add(1)
			shed++
		}
		total -= b.n // its queue is discarded with the close
	}
	if shed > 0 {
		s.log.Warn("shed the slowest connections: outbound backlog over --max-queued-bytes",
			"closed", shed, "limit", s.cfg.MaxQueuedBytes)
	}
}

// trackFeed registers a feed that runs in its handler (SSE through a
// ResponseWriter, a long-poll) with the budget until forgetFeed.
func (s *Server) trackFeed(f *feedSink) {
	s.mu.Lock()
	s.feeds[f] = struct{}{}
	s.mu.Unlock()
}

// forgetFeed ends what trackFeed began; from its return on, a shed of
// the feed (by a watcher that listed it before) no longer touches the
// response, whose connection may serve another request.
func (s *Server) forgetFeed(f *feedSink) {
	s.mu.Lock()
	delete(s.feeds, f)
	s.mu.Unlock()
	f.mu.Lock()
	f.abort = nil
	f.mu.Unlock()
}
