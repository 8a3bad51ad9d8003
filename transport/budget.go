package transport

import (
	"cmp"
	"slices"
	"time"

	"github.com/walcast/walcast/internal/wsconn"
)

// The queue budget bounds what all connections together hold in their
// outbound queues (Config.MaxQueuedBytes). Each queue is bounded on its
// own, but thousands of clients that all fall behind at once (a network
// hiccup, a burst) could still take the node's memory. A watcher looks at
// the total every queueBudgetEvery; past the budget it closes the
// connections with the longest backlogs, the slowest readers, until the
// rest fits. Sampling keeps the hot path free of a shared counter: a push
// stays a push to one connection's queue.

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

// shedOverBudget closes the most-backlogged connections while the total
// queued exceeds the budget.
func (s *Server) shedOverBudget() {
	type backlog struct {
		c *conn
		n int
	}
	var all []backlog
	total := 0
	for _, c := range s.snapshotConns() {
		n := c.ws.QueuedBytes()
		total += n
		if n > 0 {
			all = append(all, backlog{c, n})
		}
	}
	if total <= s.cfg.MaxQueuedBytes {
		return
	}
	slices.SortFunc(all, func(a, b backlog) int { return cmp.Compare(b.n, a.n) })
	shed := 0
	for _, b := range all {
		if total <= s.cfg.MaxQueuedBytes {
			break
		}
		if b.c.ws.Close(wsconn.StatusCode(StatusOverloaded), "server overloaded") {
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

// snapshotConns returns the open connections.
func (s *Server) snapshotConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}
