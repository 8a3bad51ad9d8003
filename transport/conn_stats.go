package transport

import (
	"log/slog"
	"net/http"
	"strings"
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

	Channels     int               // joined now
	QueuedBytes  int               // outbound bytes queued now, all connections and feeds (what MaxQueuedBytes bounds)
	JoinsOK      uint64            // phx_join answered ok
	JoinsRefused uint64            // phx_join answered with an error
	RateLimited  uint64            // joins, pushes and REST messages refused by a rate limit
	MessagesIn   map[string]uint64 // decoded inbound messages by event (inboundEvents, "other")
	BytesIn      uint64            // bytes of inbound frames
	Shed         uint64            // connections closed with 4002, and feeds ended, to keep all queues within MaxQueuedBytes
	MessagesOut  uint64            // messages handed to the sockets' writers (replies, changes, broadcasts, presence, system)
	BytesOut     uint64            // their payload bytes
}

type counters struct {
	accepted, rejected, malformed               atomic.Uint64
	joinsOK, joinsRefused, rateLimited, bytesIn atomic.Uint64
	feedsSlow                                   atomic.Uint64 // SSE feeds closed for falling behind; sockets count theirs in wsconn
	shed                                        atomic.Uint64 // closed by the queue budget
	messagesIn                                  [len(inboundEvents) + 1]atomic.Uint64
}

// inboundEvents are the events counted apart in Stats.MessagesIn; any other
// counts as "other", so a client cannot grow the set.
var inboundEvents = [...]string{evHeartbeat, evJoin, evLeave, evBroadcast, evPresence, evAccessToken}

// countInbound counts a decoded inbound message of n bytes.
func (s *Server) countInbound(event string, n int) {
	i := len(inboundEvents)
	for j, e := range inboundEvents {
		if e == event {
			i = j
			break
		}
	}
	s.stats.messagesIn[i].Add(1)
	s.stats.bytesIn.Add(uint64(n))
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// Summed outside s.mu, so that a scrape does not hold up upgrades.
	n := len(conns)
	var channels int
	for _, c := range conns {
		c.mu.Lock()
		channels += len(c.channels)
		c.mu.Unlock()
	}
	queued, _ := s.backlogs(false)
	in := make(map[string]uint64, len(inboundEvents)+1)
	for i := range s.stats.messagesIn {
		name := "other"
		if i < len(inboundEvents) {
			name = inboundEvents[i]
		}
		in[name] = s.stats.messagesIn[i].Load()
	}
	ws := s.ws.Stats()
	return Stats{
		Channels:      channels,
		QueuedBytes:   queued,
		JoinsOK:       s.stats.joinsOK.Load(),
		JoinsRefused:  s.stats.joinsRefused.Load(),
		RateLimited:   s.stats.rateLimited.Load(),
		MessagesIn:    in,
		BytesIn:       s.stats.bytesIn.Load(),
		Shed:          s.stats.shed.Load(),
		MessagesOut:   ws.MessagesOut,
		BytesOut:      ws.BytesOut,
		Connections:   n,
		Accepted:      s.stats.accepted.Load(),
		Rejected:      s.stats.rejected.Load(),
		SlowConsumers: ws.SlowConsumers + s.stats.feedsSlow.Load(),
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

// joinRefused counts a refused join and logs why, at most once per second
// for the whole server, so a client cannot flood the log.
func (s *Server) joinRefused(c *conn, topic, reason string) {
	s.stats.joinsRefused.Add(1)
	if strings.Contains(reason, "RateLimit") {
		s.stats.rateLimited.Add(1)
	}
	if suppressed, ok := s.joinRefusal.allow(time.Now()); ok {
		s.log.Warn("join refused", "conn", c.id, "topic", topic, "reason", reason, "suppressed", suppressed)
	}
}

// handshakeRefused logs a refused WebSocket upgrade, at most once per
// second for the whole server.
func (s *Server) handshakeRefused(r *http.Request, status int, reason string) {
	if suppressed, ok := s.refusals.allow(time.Now()); ok {
		s.log.Warn("connection refused", "remote", r.RemoteAddr, "status", status, "reason", reason, "suppressed", suppressed)
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
