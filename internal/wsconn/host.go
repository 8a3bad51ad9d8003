package wsconn

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options' zero values.
const (
	DefaultMaxMessageBytes = 5_000_000
	DefaultIdleTimeout     = 60 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
)

// Options configure a Host and every connection it accepts.
type Options struct {
	// MaxMessageBytes bounds an inbound message, fragments together
	// (default 5 MB); past it the connection closes with 1009.
	MaxMessageBytes int
	// QueueBytes bounds a connection's outbound queue (default
	// broadcast.DefaultQueueBytes); past it Send closes with 4000.
	QueueBytes int
	// IdleTimeout closes a connection with 4001 when no data message
	// arrived for that long (default 60 s).
	IdleTimeout time.Duration
	// PingInterval is how long a connection may be silent before it is
	// pinged (0 or negative: never). A ping without a pong within
	// WriteTimeout drops the connection.
	PingInterval time.Duration
	// WriteTimeout bounds every blocking write, the wait for a pong and
	// the close handshake (default 10 s). A peer that does not take a
	// write in time is dropped without a close frame: it would not read
	// one either.
	WriteTimeout time.Duration
	// WriteCoalesce is the least time between two writes to one
	// connection (0: none); see flushPool.
	WriteCoalesce time.Duration
	// Parking lets idle connections give up their read goroutine (Linux:
	// epoll; it needs RawIO). RawIO writes and reads with non-blocking
	// system calls on the socket (Unix). Off, connections take the portable path that
	// other systems and non-socket connections (TLS) take anyway: a read
	// goroutine per connection and blocking writes from a writer
	// goroutine.
	Parking bool
	RawIO   bool
	// CheckOrigin, when set, decides whether an upgrade request's Origin
	// is accepted (403 when not). Nil accepts any.
	CheckOrigin func(r *http.Request) bool
	Logger      *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	o.WriteCoalesce = max(o.WriteCoalesce, 0)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Host accepts WebSocket connections and holds what they share: the flush
// pool that writes for them and the idle poller that watches the parked
// ones.
type Host struct {
	opts       Options
	log        *slog.Logger
	flushers   *flushPool
	idle       atomic.Pointer[idlePoller] // started by the first parked connection
	mu         sync.Mutex
	idleFailed bool // under mu: no poller (unavailable, or stopped)
	nextID     atomic.Uint64
	stats      counters
	slowLog    logLimiter
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

// Stats are a Host's counters since NewHost.
type Stats struct {
	SlowConsumers uint64 // closed with 4000: the outbound queue overflowed
	IdleTimeouts  uint64 // closed with 4001
	DeadLinks     uint64 // dropped after a failed write or an unanswered ping
	// MessagesOut and BytesOut count the data messages handed to the
	// sockets' writers and their payload bytes (framing not included).
	MessagesOut, BytesOut uint64
	// WriterHandOffs counts the writes a flusher handed to a writer
	// goroutine of the connection's own: the socket could not take
	// everything at once, or raw I/O is off (then every write).
	WriterHandOffs uint64
}

type counters struct {
	slowConsumers, idleTimeouts, deadLinks atomic.Uint64
	messagesOut, bytesOut                  atomic.Uint64
	writerHandOffs                         atomic.Uint64
}

// NewHost returns a Host for connections configured by o.
func NewHost(o Options) *Host {
	o.setDefaults()
	h := &Host{opts: o, log: o.Logger}
	h.flushers = newFlushPool(o.WriteCoalesce, &h.stats)
	return h
}

// Stats returns a snapshot of the counters.
func (h *Host) Stats() Stats {
	return Stats{
		SlowConsumers:  h.stats.slowConsumers.Load(),
		IdleTimeouts:   h.stats.idleTimeouts.Load(),
		DeadLinks:      h.stats.deadLinks.Load(),
		MessagesOut:    h.stats.messagesOut.Load(),
		BytesOut:       h.stats.bytesOut.Load(),
		WriterHandOffs: h.stats.writerHandOffs.Load(),
	}
}

// Close stops the flushers and the idle poller. Every connection must have
// ended (HandleEnd returned) before.
func (h *Host) Close() {
	h.flushers.wait()
	h.stopIdlePoller()
}
