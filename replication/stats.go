package replication

import (
	"sync/atomic"
	"time"
)

// Stats are a stream's counters since NewStream, for monitoring.
type Stats struct {
	Streaming    bool   // a replication connection is streaming now
	Changes      uint64 // changes handed to the handler (redeliveries skipped)
	Transactions uint64 // committed transactions with at least one change handed over
	Reconnects   uint64 // connections lost and retried
	// LastCommit is the commit time of the last transaction handed over
	// (zero before the first), and LastCommitDelay how long after that
	// commit its last change was handed over.
	LastCommit      time.Time
	LastCommitDelay time.Duration
}

type streamStats struct {
	streaming                        atomic.Bool
	changes, transactions, reconnect atomic.Uint64
	lastCommitNanos, lastDelayNanos  atomic.Int64
}

// Stats returns a snapshot of the stream's counters; it is safe to call
// from any goroutine.
func (s *Stream) Stats() Stats {
	st := Stats{
		Streaming:       s.stats.streaming.Load(),
		Changes:         s.stats.changes.Load(),
		Transactions:    s.stats.transactions.Load(),
		Reconnects:      s.stats.reconnect.Load(),
		LastCommitDelay: time.Duration(s.stats.lastDelayNanos.Load()),
	}
	if n := s.stats.lastCommitNanos.Load(); n != 0 {
		st.LastCommit = time.Unix(0, n)
	}
	return st
}

// committed records a transaction handed over and tells OnCommit.
func (s *Stream) committed(c Commit) {
	delay := time.Since(c.Time)
	s.stats.transactions.Add(1)
	s.stats.lastCommitNanos.Store(c.Time.UnixNano())
	s.stats.lastDelayNanos.Store(int64(delay))
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(c, delay)
	}
}
