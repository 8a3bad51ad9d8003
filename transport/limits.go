package transport

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/walcast/walcast/phoenix"
)

// Defaults of the broadcast size and rate limits (Supabase's self-hosted
// defaults).
const (
	DefaultMaxPayloadBytes       = 3_000_000 // max_payload_size_in_kb 3000
	DefaultJoinsPerSecond        = 100       // max_joins_per_second
	DefaultMessagesPerSecond     = 100       // max_events_per_second
	DefaultRESTMessagesPerSecond = 100

	// Sizes a client chooses. Supabase bounds none of these; the defaults
	// are far above what realtime-js sends and far below what costs the
	// server memory.
	DefaultMaxTopicBytes = 1024
	// DefaultMaxEventBytes is what a binary broadcast frame's one-byte
	// length holds, so every event can go out as a kind-4 frame.
	DefaultMaxEventBytes = 255
	// DefaultMaxBindings: a binding with a long filter (an `in` list of
	// 100 values) costs ~5 KB of heap on a real dispatcher, and a socket
	// may hold MaxChannels channels: 100 bindings a join let 20 sockets
	// take 1 GB (TestWorstCaseMemory). realtime-js apps use a handful.
	DefaultMaxBindings  = 20
	DefaultMaxJSONDepth = phoenix.DefaultMaxJSONDepth
	// DefaultMaxPresenceBytes: metas are who is here (an id, a name, a
	// status), kept per channel for its life.
	DefaultMaxPresenceBytes = 32 << 10

	// rateWindow is the span message rates are averaged over: Supabase
	// counts events in 5 s ticks, so a burst of up to 5 s worth of the rate
	// passes while a sustained excess does not.
	rateWindow = 5
)

// setLimitDefaults fills in the zero limits of c. Negative rates stay
// negative: that limit is off.
func (c *Config) setLimitDefaults() {
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.JoinsPerSecond == 0 {
		c.JoinsPerSecond = DefaultJoinsPerSecond
	}
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if c.RESTMessagesPerSecond == 0 {
		c.RESTMessagesPerSecond = DefaultRESTMessagesPerSecond
	}
	if c.MaxTopicBytes <= 0 {
		c.MaxTopicBytes = DefaultMaxTopicBytes
	}
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.MaxBindings <= 0 {
		c.MaxBindings = DefaultMaxBindings
	}
	if c.MaxJSONDepth <= 0 {
		c.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if c.MaxPresenceBytes <= 0 {
		c.MaxPresenceBytes = DefaultMaxPresenceBytes
	}
	c.MaxPresenceBytes = min(c.MaxPresenceBytes, c.MaxPayloadBytes)
}

// bucket is a token bucket: it holds up to burst tokens and refills at rate
// per second. The zero value is full. 16 bytes, so that every connection
// can afford one per limit.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last take; 0: never (full)
}

// take removes n tokens if there are that many and reports whether it did.
// rate <= 0 means unlimited.
func (b *bucket) take(now time.Time, rate, burst, n float64) bool {
	if rate <= 0 {
		return true
	}
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = burst
	} else if dt := t - b.last; dt > 0 {
		b.tokens = min(burst, b.tokens+rate*float64(dt)/float64(time.Second))
	}
	b.last = t
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// connLimits are a connection's join and message rates. Only the read loop
// uses them (joins and presence run on helpers it waits for), so they need
// no lock.
type connLimits struct {
	joins, messages bucket
}

// allowJoin counts a phx_join against JoinsPerSecond (a burst of one
// second's worth).
func (c *conn) allowJoin() bool {
	r := float64(c.s.cfg.JoinsPerSecond)
	return c.lim.joins.take(time.Now(), r, r, 1)
}

// allowMessage counts a broadcast or presence push against
// MessagesPerSecond, averaged over rateWindow seconds.
func (c *conn) allowMessage() bool {
	r := float64(c.s.cfg.MessagesPerSecond)
	if !c.lim.messages.take(time.Now(), r, r*rateWindow, 1) {
		c.s.stats.rateLimited.Add(1)
		return false
	}
	return true
}

// keyedLimiter is a token bucket per key (a client IP), for the REST
// endpoints. Buckets that have refilled completely are forgotten on a
// periodic sweep, so the map holds only recently active clients.
type keyedLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

func newKeyedLimiter(perSecond int) *keyedLimiter {
	r := float64(perSecond)
	return &keyedLimiter{rate: r, burst: r * rateWindow, buckets: make(map[string]*bucket)}
}

// take removes n tokens from key's bucket if it has them.
func (l *keyedLimiter) take(key string, n int) bool {
	if l.rate <= 0 {
		return true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > rateWindow*time.Second {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = new(bucket)
		l.buckets[key] = b
	}
	return b.take(now, l.rate, l.burst, float64(n))
}

// sweep drops the buckets that would be full by now: forgetting them
// changes nothing, as a new bucket starts full. l.mu must be held.
func (l *keyedLimiter) sweep(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+l.rate*now.Sub(time.Unix(0, b.last)).Seconds() >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// clientIP is the peer address of r without its port. Forwarding headers
// are not trusted: any client could set them to dodge the limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// queueBound is the outbound bound wsconn enforces per connection:
// QueueBytes of backlog plus room for two of the largest broadcasts a
// client may send. With the payload limit above QueueBytes (3 MB against
// 1 MiB by default) a queue of QueueBytes alone closes every receiver of a
// few maximal broadcasts as a slow consumer, readers that keep up
// included: the server reads a sender's next broadcast while it still
// writes the last one. broadcast.Queue admits an oversized frame only into
// an empty queue, which does not help once one waits. The frame being
// written has left the queue; one maximal frame waiting behind it is what
// "one maximal message always fits" takes, and the second covers the
// server reading faster than a loopback reader drains (measured: with one,
// 1 in 20 runs of five back-to-back 2.9 MB broadcasts closed a reading
// receiver; with two, none in 80, on a loaded machine too). It costs
// nothing for connections that keep up: queues hold references to the
// frames shared by every receiver, not copies, and a connection that is
// really stalled is still closed, later by at most two payloads. The
// margin per payload covers the frame around it: the topic, the event,
// the metadata and the envelope.
func (c *Config) queueBound() int {
	const envelope = 1024 // brackets, refs, {"type":"broadcast",...}, meta
	return c.QueueBytes + 2*(c.MaxPayloadBytes+c.MaxTopicBytes+c.MaxEventBytes+envelope)
}

// checkNames checks a REST broadcast's topic and event (from the URL
// path, or a batch message) against the limits a channel's have, and
// returns the 400 body when they break one. The path is percent-decoded,
// so it can hold any bytes: they must be UTF-8 to go into text frames.
func (s *Server) checkNames(topic, event string) []byte {
	var msg string
	switch {
	case !utf8.ValidString(topic) || !utf8.ValidString(event):
		msg = "topic and event must be valid UTF-8"
	case len(topicPrefix)+len(topic) > s.cfg.MaxTopicBytes:
		msg = fmt.Sprintf("topic is too long: a topic may have at most %d bytes, realtime: included", s.cfg.MaxTopicBytes)
	case len(event) > s.cfg.MaxEventBytes:
		msg = fmt.Sprintf("event is too long: an event name may have at most %d bytes", s.cfg.MaxEventBytes)
	default:
		return nil
	}
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return b
}
