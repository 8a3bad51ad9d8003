package transport

import (
	"log/slog"
	"sync/atomic"
	"time"
)

const levelDebug = slog.LevelDebug

// Stats are the server's counters since NewServer.
type Stats struct {
	Connections   int    // open now
	Accepted      uint64 // upgrades completed
	Rejected      uint64 // handshakes refused (apikey, vsn, shutting down)
	SlowConsumers uint64 // closed with 4000 because the outbound queue overflowed
	IdleTimeouts  uint64 // closed with 4001
	DeadLinks     uint64 // dropped after a failed write or an unanswered ping
	Malformed     uint64 // inbound frames that did not decode (dropped)
}

type counters struct {
	accepted, rejected, malformed atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	ws := s.ws.Stats()
	return Stats{
		Connections:   n,
		Accepted:      s.stats.accepted.Load(),
		Rejected:      s.stats.rejected.Load(),
		SlowConsumers: ws.SlowConsumers,
		IdleTimeouts:  ws.IdleTimeouts,
		DeadLinks:     ws.DeadLinks,
		Malformed:     s.stats.malformed.Load(),
	}
}

// malformedFrame counts a frame that did not decode and logs it, at most
// once per second for the whole server: a broken client must not be able
// to flood the log.
func (s *Server) malformedFrame(c *conn, err error) {
	s.stats.malformed.Add(1)
	if suppressed, ok := s.malformed.allow(time.Now()); ok {
		s.log.Warn("dropping malformed frame", "conn", c.id, "error", err, "suppressed", suppressed)
	}
}

// logLimiter lets one event through per second and counts the others.
type logLimiter struct {
	next       atomic.Int64 // unix nanoseconds before which events are suppressed
	suppressed atomic.Int64
}

func (l *logLimiter) allow(now time.Time) (suppressed int64, ok bool) {
	next := l.next.Load()
	if now.UnixNano() < next || !l.next.CompareAndSwap(next, now.Add(time.Second).UnixNano()) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}
