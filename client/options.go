package client

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// Defaults of Options' zero values. The timers are realtime-js 2.x's.
const (
	DefaultHeartbeatInterval = 25 * time.Second
	DefaultTimeout           = 10 * time.Second
	DefaultQueueSize         = 1024
	DefaultMaxMessageBytes   = 16 << 20
	DefaultBackoffMin        = time.Second
	DefaultBackoffMax        = 10 * time.Second
	DefaultBackoffFactor     = 2
	DefaultBackoffJitter     = 0.5
)

// Options configures a Client. Zero values mean the documented default.
type Options struct {
	// APIKey is sent as the apikey query parameter of the WebSocket URL,
	// as realtime-js sends it. Required.
	APIKey string
	// AccessToken is the user's JWT sent with every join (and to joined
	// channels by SetAuth). Empty: the server authorizes with the apikey.
	AccessToken string
	// AccessTokenFunc, when set, is asked for the current token before
	// every join and at every heartbeat, like realtime-js's accessToken
	// option; a token that changed is sent to the joined channels as
	// SetAuth does. Its errors are logged and the last token is kept. It
	// must return within Timeout.
	AccessTokenFunc func(ctx context.Context) (string, error)
	// Version is the serializer (vsn): phoenix.V2 (default, 2.0.0) or
	// phoenix.V1 (1.0.0, JSON objects only: no binary broadcasts).
	Version phoenix.Version
	// Header is added to the WebSocket handshake request.
	Header http.Header
	// HTTPClient dials the WebSocket (default http.DefaultClient).
	HTTPClient *http.Client
	// Logger gets connection events: reconnects, dropped frames, slow
	// callbacks (default: discarded).
	Logger *slog.Logger
	// Backoff spaces reconnection attempts and channel rejoins.
	Backoff Backoff
	// HeartbeatInterval is how often a heartbeat is sent (default 25 s).
	// When its reply has not come by the next one, the connection is
	// considered dead, closed and reconnected.
	HeartbeatInterval time.Duration
	// Timeout bounds the handshake, every write, and the wait for the
	// reply to a join, leave, track or acknowledged broadcast (default
	// 10 s).
	Timeout time.Duration
	// QueueSize bounds the events waiting for callbacks (default 1024).
	// When it is full the client drops the connection and reconnects: see
	// "Callbacks" in the package documentation.
	QueueSize int
	// MaxMessageBytes bounds an inbound message (default 16 MiB); a bigger
	// one fails the connection, which is then reconnected.
	MaxMessageBytes int64
}

func (o *Options) setDefaults() {
	if o.Version == 0 {
		o.Version = phoenix.V2
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Backoff.setDefaults()
}

// Backoff is a capped, jittered exponential backoff: attempt n (from 0)
// waits Min·Factorⁿ, capped at Max, minus a random part of up to Jitter of
// it, so that clients dropped together do not come back together.
type Backoff struct {
	Min    time.Duration // first delay (default 1 s)
	Max    time.Duration // cap (default 10 s, realtime-js's)
	Factor float64       // growth per attempt (default 2)
	// Jitter is the fraction of each delay drawn at random (default 0.5:
	// a delay d becomes uniform in [d/2, d]); negative means none.
	Jitter float64
}

func (b *Backoff) setDefaults() {
	if b.Min <= 0 {
		b.Min = DefaultBackoffMin
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoffMax
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.Factor < 1 {
		b.Factor = DefaultBackoffFactor
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = DefaultBackoffJitter
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter > 1:
		b.Jitter = 1
	}
}

// Delay returns the wait before attempt n (0 for the first retry). Zero
// fields take their defaults.
func (b Backoff) Delay(n int) time.Duration {
	b.setDefaults()
	d := float64(b.Min) * math.Pow(b.Factor, float64(max(n, 0)))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	d -= d * b.Jitter * rand.Float64()
	return time.Duration(d)
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
