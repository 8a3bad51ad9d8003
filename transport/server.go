package transport

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"

	"github.com/go-chi/chi/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/wsconn"
	"github.com/walcast/walcast/presence"
)

// Defaults of Config's zero values.
const (
	DefaultMaxFrameBytes    = 5_000_000 // Supabase's max_frame_size
	DefaultMaxChannels      = 100       // Supabase's max_channels_per_client
	DefaultQueueBytes       = broadcast.DefaultQueueBytes
	DefaultIdleTimeout      = 60 * time.Second // Phoenix's websocket idle timeout
	DefaultPingInterval     = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultAuthFailureDelay = 100 * time.Millisecond
)

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	Verifier *auth.Verifier      // required: checks apikeys and access tokens
	Changes  *changes.Dispatcher // postgres_changes; nil refuses them with a system error
	Hub      *broadcast.Hub      // broadcast and presence rooms (default: a new hub)
	// Node names this node in the broadcasts it publishes (Envelope.Sender).
	Node string
	// Relay, when set, is given the node's own broadcast.Publisher (which
	// encodes and delivers to this node's rooms) and returns the Publisher
	// that every broadcast of this node goes through: client pushes, REST
	// and database broadcasts and presence diffs. A relay to other nodes
	// hands what it receives from them to that local Publisher.
	Relay func(local broadcast.Publisher) broadcast.Publisher
	// Presence returns the store of presence rooms, given the sink its
	// diffs must go to (default: presence.NewMemory, one node).
	Presence func(sink presence.Sink) presence.Store
	// Authorizer decides what verified tokens may do on channels (nil:
	// everything; see Authorizer).
	Authorizer Authorizer
	// AllowedOrigins lists the browser origins that may connect
	// (WebSocket, SSE, long-poll and REST): "https://app.example.com",
	// "*.example.com" (any subdomain), or "*". Empty allows any, as
	// Supabase does. Requests without an Origin header are not browsers'
	// and are never refused for it.
	AllowedOrigins []string
	// MaxQueuedBytes bounds the outbound bytes queued on all connections
	// and feeds (SSE streams, long-polls) together (0: no bound beyond
	// each one's). Past it the ones with the longest backlogs are closed
	// with 4002 "server overloaded" (a feed is ended; a long-poll that has
	// not answered answers 503) until the rest fits (budget.go).
	MaxQueuedBytes int
	MaxFrameBytes  int           // largest inbound message (default 5 MB); past it the socket closes with 1009
	MaxChannels    int           // channels per connection (default 100)
	QueueBytes     int           // outbound backlog per connection (default 1 MiB), on top of room for two maximal broadcasts (queueBound); past it close 4000
	IdleTimeout    time.Duration // close after this long without an inbound message (default 60 s)
	// PingInterval is how often the server pings to find dead links
	// (default 30 s; negative disables). A ping without a pong within
	// WriteTimeout drops the connection.
	PingInterval time.Duration
	// WriteTimeout bounds every socket write (default 10 s). A client that
	// does not take a write in time is dropped without a close frame: it
	// would not read one either.
	WriteTimeout time.Duration
	// DisableParking keeps a read goroutine on every idle connection
	// instead of parking it on the server's epoll instance; DisableRawIO
	// writes and reads sockets through net.Conn instead of non-blocking
	// system calls. Both are what macOS, Windows and TLS-wrapped sockets
	// get anyway; off by default, where the system allows.
	DisableParking bool
	DisableRawIO   bool
	// WriteCoalesce is the least time between two writes to one connection
	// (default 0: none). Frames queued meanwhile go out together, so a
	// busy connection costs one syscall per interval, not one per message,
	// for up to that much added latency; a connection not written to in
	// the last interval is written at once. Without it, frames still share
	// a write whenever they queue up faster than the socket is written
	// (a backlog, an overloaded node).
	WriteCoalesce time.Duration
	// AuthFailureDelay is slept before a refused handshake is answered, to
	// damp reconnect storms of misconfigured clients (default 100 ms;
	// negative: none). Supabase sleeps 2 s, but realtime-js already backs
	// off between attempts.
	AuthFailureDelay time.Duration
	// MaxPayloadBytes bounds a broadcast payload (default 3 MB, Supabase's
	// limit): a bigger push is dropped (answered payload_size_exceeded when
	// it asked for an ack), a bigger REST message refused with 422.
	MaxPayloadBytes int
	// Rates (limits.go); zero means the default, negative no limit.
	JoinsPerSecond        int // phx_join per connection (default 100); past it the join is refused
	MessagesPerSecond     int // broadcast pushes per connection, averaged over 5 s (default 100); past it the channel closes
	RESTMessagesPerSecond int // REST broadcast messages per client IP, averaged over 5 s (default 100); past it 429
	// Presence pushes per channel (channel_presence.go): past
	// PresenceMaxCalls (default 5; negative: no limit) within
	// PresenceWindow (default 30 s) the channel closes. A track payload
	// over MaxPresenceBytes closes it too.
	PresenceMaxCalls int
	PresenceWindow   time.Duration
	// Sizes a client chooses (limits.go); zero means the default.
	MaxTopicBytes int // a joined topic, realtime: included (default 1024); longer joins are refused
	MaxEventBytes int // an event name, Phoenix's or a broadcast's (default 255, what a binary frame holds)
	MaxBindings   int // postgres_changes bindings per join (default 20); more are refused
	MaxJSONDepth  int // nesting of a client's JSON, the frame included (default 64); deeper messages are refused
	// MaxPresenceBytes bounds a tracked presence meta (default 32 KiB,
	// and never above MaxPayloadBytes); past it the channel closes with
	// "Track message size exceeded". Supabase allows the payload limit,
	// but a meta is kept for the channel's life and sent to every joiner
	// of the room.
	MaxPresenceBytes int
	// MaxConnsPerIP bounds the WebSockets and feeds (SSE streams, waiting
	// long-polls) open from one client address (default 0: no bound); past
	// it the upgrade or request gets 429.
	MaxConnsPerIP int
	// BroadcastRetention bounds the broadcasts of private rooms this node
	// keeps for joins that ask to replay them (config.broadcast.replay);
	// nil means broadcast.DefaultRetainBytes and DefaultRetainAge, a zero
	// MaxBytes keeps none.
	BroadcastRetention *broadcast.Retention
	Logger             *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxChannels <= 0 {
		c.MaxChannels = DefaultMaxChannels
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.AuthFailureDelay == 0 {
		c.AuthFailureDelay = DefaultAuthFailureDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Authorizer == nil {
		c.Authorizer = allowAll{}
	}
	c.setLimitDefaults()
	c.setPresenceDefaults()
}

// changeSource is what a channel needs from the postgres_changes
// dispatcher; dispatcherSource adapts a *changes.Dispatcher, and tests
// substitute a fake.
type changeSource interface {
	Subscribe(ctx context.Context, sink changes.Sink, bindings []changes.Binding) ([]uint64, error)
	// SubscribeAfter subscribes a channel that saw every change up to
	// after: its catch-up delivers the kept ones after it.
	SubscribeAfter(ctx context.Context, sink changes.Sink, bindings []changes.Binding, after replication.Cursor) ([]uint64, catchUp, error)
	Unsubscribe(sink changes.Sink)
	// SetViewer re-authorizes the sink's bindings for a new token.
	SetViewer(ctx context.Context, sink changes.Sink, viewer *changes.Viewer) error
	Head() replication.Cursor
	Live() bool
	WaitLive(ctx context.Context) error
}

// catchUp is a resumed subscription's replay (*changes.Resume).
type catchUp interface {
	Gap() *changes.Gap
	Run(ctx context.Context, wait func(context.Context) error) error
}

// dispatcherSource is the changeSource of a real dispatcher.
type dispatcherSource struct{ *changes.Dispatcher }

func (d dispatcherSource) SubscribeAfter(ctx context.Context, sink changes.Sink, bindings []changes.Binding, after replication.Cursor) ([]uint64, catchUp, error) {
	return d.Dispatcher.SubscribeAfter(ctx, sink, bindings, after)
}

// Server serves the Supabase Realtime WebSocket protocol. See the package
// documentation for its routes, close codes and concurrency.
type Server struct {
	cfg      Config
	ws       *wsconn.Host // accepts, reads and writes the WebSockets
	log      *slog.Logger
	changes  changeSource        // nil when Config.Changes is nil
	hub      *broadcast.Hub      // broadcast and presence rooms
	retained *broadcast.Retainer // recent broadcasts of private rooms, for replays
	presence presence.Store      // who is in each room; diffs go out through pub
	pub      broadcast.Publisher // every broadcast's way out: Config.Relay, or localPublisher
	router   chi.Router

	mu       sync.Mutex
	draining bool
	stopping chan struct{} // closed when draining begins: feeds (SSE, long-polls) end
	conns    map[*conn]struct{}
	streams  map[*rawSSE]struct{}   // open hijacked SSE streams (sse_stream.go)
	feeds    map[*feedSink]struct{} // feeds that run in their handler, for the queue budget (budget.go)
	// wg counts every connection from the moment its upgrade starts until
	// its read loop has torn it down (which waits for its other goroutines).
	wg sync.WaitGroup

	nextLocalID atomic.Uint64 // binding ids when there is no dispatcher
	stats       counters
	payloads    payloadCache   // feeds' last converted change
	roomEvents  roomEventCache // feeds' last converted broadcast or presence diff
	origins     originPolicy
	bg          sync.WaitGroup // the server's own goroutines (the queue budget's watcher)
	malformed   logLimiter
	refusals    logLimiter // refused handshakes (conn_stats.go)
	joinRefusal logLimiter // refused joins
	perIP       ipConns    // open WebSockets per client address (MaxConnsPerIP)
}

// NewServer returns a Server; it serves nothing until Handler is mounted.
// It panics without a Verifier: every connection must be authenticated.
func NewServer(cfg Config) *Server {
	if cfg.Verifier == nil {
		panic("transport: Config.Verifier is required")
	}
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "transport"),
		conns:    make(map[*conn]struct{}),
		streams:  make(map[*rawSSE]struct{}),
		feeds:    make(map[*feedSink]struct{}),
		stopping: make(chan struct{}),
		origins:  newOriginPolicy(cfg.AllowedOrigins),
	}
	if cfg.Changes != nil {
		s.changes = dispatcherSource{cfg.Changes}
	}
	s.hub = cfg.Hub
	if s.hub == nil {
		s.hub = broadcast.NewHub()
	}
	ret := broadcast.Retention{MaxBytes: broadcast.DefaultRetainBytes, MaxAge: broadcast.DefaultRetainAge}
	if cfg.BroadcastRetention != nil {
		ret = *cfg.BroadcastRetention
	}
	s.retained = broadcast.NewRetainer(ret)
	s.pub = localPublisher{s}
	if cfg.Relay != nil {
		s.pub = cfg.Relay(localPublisher{s})
	}
	if cfg.Presence != nil {
		s.presence = cfg.Presence(s.publishPresence)
	} else {
		s.presence = presence.NewMemory(s.publishPresence)
	}
	s.ws = wsconn.NewHost(wsconn.Options{
		MaxMessageBytes: cfg.MaxFrameBytes,
		QueueBytes:      cfg.queueBound(),
		IdleTimeout:     cfg.IdleTimeout,
		PingInterval:    cfg.PingInterval,
		WriteTimeout:    cfg.WriteTimeout,
		WriteCoalesce:   cfg.WriteCoalesce,
		Parking:         !cfg.DisableParking,
		RawIO:           !cfg.DisableRawIO,
		// Browsers of any application connect, from any origin unless
		// AllowedOrigins says otherwise, as they do to Supabase: the
		// apikey, not the Origin header, is what authorizes a connection.
		// Compression is never negotiated: it costs a flate state per
		// connection and CPU per message, and realtime-js does not ask
		// for it.
		CheckOrigin: s.origins.allows,
		Logger:      s.log,
	})
	if cfg.MaxQueuedBytes > 0 {
		s.bg.Add(1)
		go s.watchQueues()
	}
	r := chi.NewRouter()
	r.Use(s.refuseOrigins)
	r.Get("/realtime/v1/websocket", s.serveWebSocket)
	r.Get("/socket/websocket", s.serveWebSocket)
	r.Get("/healthz", s.serveHealth)
	r.Get("/realtime/v1/sse", s.serveSSE)
	r.Get("/realtime/v1/poll", s.servePoll)
	s.mountREST(r)
	s.router = r
	return s
}

// Handler returns the HTTP handler: /realtime/v1/websocket (the path
// supabase-js uses), /socket/websocket (self-hosted Supabase's) and
// /healthz.
func (s *Server) Handler() http.Handler { return s.router }

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}`))
}

// serveWebSocket authenticates the upgrade request, upgrades it
// (wsconn.Host.Accept) and starts the connection, which parks it or starts
// its read loop on a fresh goroutine, then returns: keeping an idle
// connection on the HTTP handler's goroutine costs more (its stack keeps
// net/http's frames).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	vsn, err := phoenix.ParseVersion(r.URL.Query().Get("vsn"))
	if err != nil {
		s.stats.rejected.Add(1)
		s.handshakeRefused(r, http.StatusBadRequest, err.Error())
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	apikey := apiKey(r)
	if apikey == "" {
		s.refuse(w, r, "API key is missing")
		return
	}
	if _, err := s.cfg.Verifier.Verify(apikey); err != nil {
		msg := err.Error()
		var ae *auth.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		s.refuse(w, r, msg)
		return
	}

	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()

	ip := clientIP(r)
	if !s.perIP.admit(ip, s.cfg.MaxConnsPerIP) {
		s.wg.Done()
		s.stats.rejected.Add(1)
		s.handshakeRefused(r, http.StatusTooManyRequests, "too many connections from this address")
		writeError(w, http.StatusTooManyRequests, "Too many connections from this address")
		return
	}
	c := new(conn)
	if err := s.ws.Accept(w, r, &c.ws, c); err != nil {
		// Accept has answered the request.
		s.perIP.release(ip, s.cfg.MaxConnsPerIP)
		s.wg.Done()
		s.log.Debug("websocket upgrade failed", "error", err)
		return
	}
	c.init(s, vsn, apikey)
	c.ip = ip

	s.mu.Lock()
	draining := s.draining
	if !draining {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if draining {
		// Started only to close: its read loop takes the answer and its
		// teardown releases s.wg.
		c.ws.Close(wsconn.StatusServiceRestart, "server restarting")
		c.ws.Start()
		return
	}
	s.stats.accepted.Add(1)
	c.ws.Start()
}

// apiKey reads the key from the x-api-key or apikey header, else from the
// apikey query parameter, as Supabase does (a header wins).
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	if k := r.Header.Get("Apikey"); k != "" {
		return k
	}
	return r.URL.Query().Get("apikey")
}

// refuse answers a handshake that failed authentication with 401 and
// Supabase's {"error": msg}, after AuthFailureDelay.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, msg string) {
	s.stats.rejected.Add(1)
	s.handshakeRefused(r, http.StatusUnauthorized, msg)
	if d := s.cfg.AuthFailureDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	writeError(w, http.StatusUnauthorized, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// remove forgets a torn-down connection.
func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.perIP.release(c.ip, s.cfg.MaxConnsPerIP)
}

// Shutdown stops accepting connections (new upgrades get 503), sends every
// socket a close frame with 1012 "server restarting", and waits until
// every connection has ended and every goroutine of every connection has
// returned. A client that does not answer its close frame is cut off after
// WriteTimeout. When ctx ends first, the remaining sockets are dropped
// without waiting further; Shutdown still waits for their goroutines (which
// no longer block on anything) and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.stopAccepting() {
		// Close never waits: the close frames go out through the flush
		// pool, and each read loop takes its client's answer.
		c.ws.Close(wsconn.StatusServiceRestart, "server restarting")
	}
	s.endStreams(false)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.bg.Wait()
		s.ws.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.dropAll()
	s.endStreams(true)
	<-done
	return ctx.Err()
}

// Close drops every socket at once, without close handshakes, and waits for
// every goroutine of every connection.
func (s *Server) Close() error {
	s.stopAccepting()
	s.dropAll()
	// A stream's last chunk is a few bytes that the flush pool writes at
	// once (a client that does not take them is dropped after
	// WriteTimeout): without it the client would see a cut response.
	s.endStreams(false)
	s.wg.Wait()
	s.bg.Wait()
	s.ws.Close()
	return nil
}

func (s *Server) stopAccepting() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.draining {
		close(s.stopping)
	}
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) dropAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.Drop()
	}
}
