package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/access"
	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/internal/localpg"
	"github.com/walcast/walcast/metrics"
	"github.com/walcast/walcast/relay"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/transport"
)

// serveConfig is what `walcast serve` runs with.
type serveConfig struct {
	dbURL, dataDir, host, jwtSecret string
	keys                            keyConfig
	localPort, port, adminPort      int
	stream                          replication.Config
	server                          transport.Config // limits; serve fills in the rest
	gcPercent                       int
	maxHeaderBytes                  int // http.Server.MaxHeaderBytes
	retention                       changes.Retention
	node                            cluster.Config // Pool filled in by serve
	relay                           relay.Mode
	nodeIDPersisted                 bool
	serviceRole                     string
	log                             *slog.Logger
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	f := newFlags("serve", getenv, stderr)
	dbURL := f.string("database-url", "DATABASE_URL", "", "Postgres URL; empty runs a local cluster under --data-dir")
	dataDir := f.string("data-dir", "WALCAST_DATA_DIR", ".walcast", "where the local cluster and its JWT secret live when no database URL is given")
	localPort := f.int("local-pg-port", "WALCAST_LOCAL_PG_PORT", 54329, "port of the local cluster")
	host := f.string("host", "WALCAST_HOST", "", "interface to listen on (default: all)")
	port := f.int("port", "WALCAST_PORT", 4000, "HTTP and WebSocket port (0 picks a free one)")
	adminPort := f.int("admin-port", "WALCAST_ADMIN_PORT", -1, "serve /metrics and /readyz on this port instead of --port (0 picks a free one; -1: on --port)")
	secret := f.string("jwt-secret", "JWT_SECRET", "", "HS256 secret that signs apikey and access tokens (local mode: generated)")
	keys := keyFlags(f)
	pub := f.string("publication", "WALCAST_PUBLICATION", "walcast", "publication to stream (created when missing)")
	tables := f.list("tables", "WALCAST_TABLES", "tables to publish: schema.table, schema.* (default: all tables)")
	slot := f.string("slot", "WALCAST_SLOT", "", "permanent replication slot of this node (default: walcast_ and the node id)")
	nodeID := f.string("node-id", "WALCAST_NODE_ID", "", "this node's id, unique among the nodes on one database and stable across restarts (default: kept in --data-dir/node-id, first made from the host name)")
	heartbeat := f.duration("heartbeat", "WALCAST_HEARTBEAT", cluster.DefaultHeartbeat, "how often the node renews its registration and looks for dead nodes")
	nodeTTL := f.duration("node-ttl", "WALCAST_NODE_TTL", cluster.DefaultTTL, "a node without a heartbeat for this long is dead: its presence members leave")
	slotTTL := f.duration("slot-ttl", "WALCAST_SLOT_TTL", cluster.DefaultSlotTTL, "a dead node's slot is dropped this long after its last heartbeat")
	relayMode := f.string("relay", "WALCAST_RELAY", string(relay.ModeWAL), "how broadcasts cross to the other nodes: wal (a logical message read from each node's slot) or notify (pg_notify to each node's LISTEN connection); every node must use the same")
	logger := f.logFlags("info")
	queueBytes := f.int("queue-bytes", "WALCAST_QUEUE_BYTES", transport.DefaultQueueBytes, "outbound backlog per connection, on top of room for two maximal broadcasts; a client that falls further behind is closed (4000 slow consumer)")
	maxPayload := f.int("max-payload-bytes", "WALCAST_MAX_PAYLOAD_BYTES", transport.DefaultMaxPayloadBytes, "largest broadcast or presence payload a client may send")
	maxConnsPerIP := f.int("max-conns-per-ip", "WALCAST_MAX_CONNS_PER_IP", 0, "WebSockets and SSE or long-poll feeds open from one client address (0: no bound); behind a proxy every client has the proxy's address")
	maxHeaderBytes := f.int("max-header-bytes", "WALCAST_MAX_HEADER_BYTES", defaultMaxHeaderBytes, "largest request line and headers of an HTTP request, query string included")
	maxChannels := f.int("max-channels", "WALCAST_MAX_CHANNELS", transport.DefaultMaxChannels, "channels per connection")
	gcPercent := f.int("gc-percent", "WALCAST_GC_PERCENT", defaultGCPercent, "heap growth before a collection, as GOGC (which wins when set); see README")
	coalesce := f.duration("write-coalesce", "WALCAST_WRITE_COALESCE", 0, "least time between two writes to one busy connection, batching what is queued meanwhile (0: none)")
	retainBytes := f.int("retain-bytes", "WALCAST_RETAIN_BYTES", changes.DefaultRetainBytes, "bytes of recent changes kept for clients that resume after a cursor (0: none)")
	retainAge := f.duration("retain-age", "WALCAST_RETAIN_AGE", changes.DefaultRetainAge, "how long recent changes are kept for clients that resume (0: no age bound)")
	bcastRetainBytes := f.int("broadcast-retain-bytes", "WALCAST_BROADCAST_RETAIN_BYTES", broadcast.DefaultRetainBytes, "bytes of recent broadcasts of private channels kept in memory for joins that ask to replay them (0: none)")
	bcastRetainAge := f.duration("broadcast-retain-age", "WALCAST_BROADCAST_RETAIN_AGE", broadcast.DefaultRetainAge, "how long broadcasts of private channels stay replayable (0: no age bound)")
	parking := f.bool("ws-parking", "WALCAST_WS_PARKING", true, "park idle WebSocket connections on epoll without a goroutine (Linux); false keeps a read goroutine per connection")
	rawIO := f.bool("ws-raw-io", "WALCAST_WS_RAW_IO", true, "write and read WebSockets with non-blocking system calls (Unix); false uses blocking net.Conn writes from a writer goroutine")
	maxQueued := f.int("max-queued-bytes", "WALCAST_MAX_QUEUED_BYTES", 0, "outbound bytes queued on all connections together; past it the slowest readers are closed with 4002 (0: no bound beyond --queue-bytes per connection)")
	origins := f.list("allowed-origins", "WALCAST_ALLOWED_ORIGINS", "browser origins that may connect, comma-separated: https://app.example.com, *.example.com (default: any, as Supabase)")
	serviceRole := f.string("service-role", "WALCAST_SERVICE_ROLE", "service_role", "role whose tokens bypass row-level security and channel policies, as service_role does in Supabase")
	if err := f.parse(args); err != nil {
		return nil, err
	}
	log, err := logger(stderr)
	if err != nil {
		return nil, err
	}
	if err := checkDatabaseURL("--database-url", *dbURL); err != nil {
		return nil, err
	}
	cfg := &serveConfig{dbURL: *dbURL, dataDir: *dataDir, host: *host, jwtSecret: *secret, localPort: *localPort, port: *port, adminPort: *adminPort, log: log,
		stream: replication.Config{Publication: *pub, AddTables: true, Slot: *slot, Logger: log}}
	for _, t := range *tables {
		spec, err := replication.ParseTableSpec(t)
		if err != nil {
			return nil, usageError{err}
		}
		cfg.stream.Tables = append(cfg.stream.Tables, spec)
	}
	if *queueBytes < 1024 || *maxChannels < 1 || *coalesce < 0 {
		return nil, usageErrorf("--queue-bytes must be at least 1024, --max-channels at least 1, --write-coalesce not negative")
	}
	if *maxPayload < 1 || *maxConnsPerIP < 0 || *maxHeaderBytes < 4096 {
		return nil, usageErrorf("--max-payload-bytes must be at least 1, --max-conns-per-ip not negative, --max-header-bytes at least 4096")
	}
	cfg.maxHeaderBytes = *maxHeaderBytes
	if *maxQueued < 0 {
		return nil, usageErrorf("--max-queued-bytes must not be negative (0: no bound)")
	}
	if *retainBytes < 0 || *retainAge < 0 {
		return nil, usageErrorf("--retain-bytes and --retain-age must not be negative")
	}
	cfg.retention = changes.Retention{MaxBytes: *retainBytes, MaxAge: *retainAge}
	if *bcastRetainBytes < 0 || *bcastRetainAge < 0 {
		return nil, usageErrorf("--broadcast-retain-bytes and --broadcast-retain-age must not be negative")
	}
	if cfg.serviceRole = strings.TrimSpace(*serviceRole); cfg.serviceRole == "" {
		return nil, usageErrorf("--service-role must name a role")
	}
	cfg.gcPercent = *gcPercent
	if *nodeID == "" {
		if *nodeID, cfg.nodeIDPersisted, err = defaultNodeID(*dataDir); err != nil {
			return nil, usageError{err}
		}
	} else if !nodeIDPattern.MatchString(*nodeID) {
		return nil, usageErrorf("--node-id %q: want letters, digits, '_', '.' or '-', at most 48, starting with a letter or digit", *nodeID)
	} else {
		cfg.nodeIDPersisted = true
	}
	if *slot == "" {
		cfg.stream.Slot = slotFor(*nodeID)
	}
	cfg.node = cluster.Config{ID: *nodeID, Slot: cfg.stream.Slot, Heartbeat: *heartbeat, TTL: *nodeTTL, SlotTTL: *slotTTL, Logger: log}
	if err := cfg.node.Validate(); err != nil {
		return nil, usageError{err}
	}
	if cfg.relay, err = relay.ParseMode(*relayMode); err != nil {
		return nil, usageError{fmt.Errorf("--%w", err)}
	}
	cfg.server = transport.Config{QueueBytes: *queueBytes, MaxChannels: *maxChannels, WriteCoalesce: *coalesce,
		MaxPayloadBytes: *maxPayload, MaxConnsPerIP: *maxConnsPerIP,
		DisableParking: !*parking, DisableRawIO: !*rawIO, AllowedOrigins: *origins, MaxQueuedBytes: *maxQueued,
		BroadcastRetention: &broadcast.Retention{MaxBytes: *bcastRetainBytes, MaxAge: *bcastRetainAge}}
	if err := cfg.stream.Validate(); err != nil {
		return nil, usageError{err}
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return nil, usageErrorf("--port %d: want 1-65535 (0 picks a free port)", cfg.port)
	}
	if cfg.adminPort < -1 || cfg.adminPort > 65535 {
		return nil, usageErrorf("--admin-port %d: want 1-65535 (0 picks a free port, -1 serves on --port)", cfg.adminPort)
	}
	if cfg.keys, err = keys.config(); err != nil {
		return nil, err
	}
	if cfg.dbURL != "" && cfg.jwtSecret == "" && !cfg.keys.hasKeys() {
		return nil, usageErrorf("serve: set --jwt-secret (or $JWT_SECRET) to the secret that signs your tokens, or --jwks-url / --jwks to their public keys")
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.log
	setGCPercent(cfg.gcPercent, getenv, log)
	local := cfg.dbURL == ""
	if local {
		lock, err := lockDataDir(cfg.dataDir)
		if err != nil {
			return err
		}
		defer lock.Unlock()
		cluster, err := startLocal(ctx, cfg)
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
				log.Error("stop local Postgres", "error", err)
			}
		}()
	}
	if err := applyMigrations(ctx, cfg.dbURL, io.Discard); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if local {
		if err := setupDemo(ctx, cfg, pool); err != nil {
			return err
		}
	}

	// Authorization checks run on a small pool of their own, so that a
	// burst of row checks never waits behind (or starves) the rest.
	authzPool, err := newAuthzPool(ctx, cfg.dbURL)
	if err != nil {
		return err
	}
	defer authzPool.Close()
	checker := authz.New(authz.Config{Pool: authzPool, ServiceRole: cfg.serviceRole, Logger: log})
	dispatcher := changes.New(changes.Config{Pool: pool, Publication: cfg.stream.Publication, Retention: &cfg.retention, Authz: checker, Logger: log})
	defer dispatcher.Close()
	// The server exists before the stream: it takes the broadcasts that
	// realtime.send emits into the stream.
	scfg := cfg.server
	verifier, err := newVerifier(ctx, cfg, log)
	if err != nil {
		return err
	}
	scfg.Verifier, scfg.Changes, scfg.Logger = verifier, dispatcher, log
	scfg.Authorizer = access.New(access.Config{Checker: checker, ServiceRole: cfg.serviceRole})
	listener, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer listener.Close()
	var adminListener net.Listener
	if cfg.adminPort >= 0 {
		if adminListener, err = net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.adminPort))); err != nil {
			return fmt.Errorf("listen on --admin-port: %w", err)
		}
	}
	nodes, err := newNodeParts(cfg, pool, listener.Addr().String(), &scfg)
	if err != nil {
		return err
	}
	server := transport.NewServer(scfg)
	cfg.stream.DatabaseURL = cfg.dbURL
	var stats *metrics.Metrics
	cfg.stream.OnCommit = func(c replication.Commit, d time.Duration) { stats.ObserveCommit(c, d) }
	stream, err := replication.NewStream(cfg.stream, replication.WithMessages(dispatcher, nodes.handlers(server)))
	if err != nil {
		return usageError{err}
	}
	stats = metrics.New(metrics.Config{Server: server, Stream: stream, Changes: dispatcher, DB: pool, Slot: cfg.stream.Slot})
	ready := readiness(stream, pool)
	handler := server.Handler()
	if local {
		handler = withDemo(handler, cfg, pool)
	}
	mainMux, adminMux := routes(handler, ready, stats.Handler(), adminListener != nil)
	httpServer := &http.Server{Handler: mainMux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: cfg.maxHeaderBytes}
	adminServer := &http.Server{Handler: adminMux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: cfg.maxHeaderBytes}

	streamCtx, stopStream := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if err := nodes.start(ctx, &wg, streamCtx); err != nil {
		stopStream()
		server.Close()
		return err
	}
	wg.Go(func() { runStream(streamCtx, stream, log) })
	httpErr := make(chan error, 2)
	go func() { httpErr <- httpServer.Serve(listener) }()
	port := listener.Addr().(*net.TCPAddr).Port
	logArgs := []any{"version", version, "addr", listener.Addr().String(), "port", port, "node", cfg.node.ID, "publication", cfg.stream.Publication, "slot", cfg.stream.Slot}
	if adminListener != nil {
		go func() { httpErr <- adminServer.Serve(adminListener) }()
		logArgs = append(logArgs, "admin_addr", adminListener.Addr().String())
	}
	log.Info("walcast serving", logArgs...)
	if local {
		printLocalAccess(log, cfg, port)
	}

	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("http server: %w", err)
	}
	// Shutdown order: stop the stream first, so that nothing committed from
	// now on is read (and acknowledged) while no client can receive it; it
	// acknowledges only what left the retention window, which the next
	// start reads again. Then stop taking connections and close the
	// sockets (clients reconnect elsewhere and resume), then the pool and
	// the local cluster (deferred).
	stopStream()
	wg.Wait()
	if st := dispatcher.RowChecks(); st != nil {
		log.Info("row checks", "changes", st.Changes.Load(), "queries", st.Queries.Load(),
			"deliveries_checked", st.Checked.Load(), "withheld", st.Denied.Load(), "failed_groups", st.Failures.Load())
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if serr := server.Shutdown(shutdownCtx); serr != nil {
		log.Error("close connections", "error", serr)
	}
	if herr := httpServer.Shutdown(shutdownCtx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		log.Error("stop http server", "error", herr)
	}
	if adminListener != nil {
		if herr := adminServer.Shutdown(shutdownCtx); herr != nil && !errors.Is(herr, http.ErrServerClosed) {
			log.Error("stop admin http server", "error", herr)
		}
	}
	// The sockets are closed, their presence left: write the leaves and
	// stop heartbeating.
	nodes.stop()
	log.Info("stopped")
	return err
}

// authzPoolConns is the size of the authorization checks' pool: a check is
// one short round trip, and authz spreads a batch over the connections.
const authzPoolConns = 4

func newAuthzPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pcfg.MaxConns = authzPoolConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect for authorization checks: %w", err)
	}
	return pool, nil
}

// runStream streams until ctx ends. A configuration problem is reported and
// retried slowly: the fix (wal_level, a privilege, a publication) is made in
// Postgres while the server keeps serving everything else.
func runStream(ctx context.Context, stream *replication.Stream, log *slog.Logger) {
	for {
		err := stream.Run(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Error("replication cannot start", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

// startLocal runs the local cluster and points cfg at it, with a JWT secret
// generated once and kept beside it.
func startLocal(ctx context.Context, cfg *serveConfig) (*localpg.Cluster, error) {
	dir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	pgdata, err := localDataDir(dir, cfg.log)
	if err != nil {
		return nil, err
	}
	cluster, err := localpg.Start(ctx, localpg.Config{DataDir: pgdata, Port: cfg.localPort, Logger: cfg.log})
	if err != nil {
		return nil, fmt.Errorf("start local Postgres (or set DATABASE_URL): %w", err)
	}
	cfg.dbURL = cluster.URL("postgres")
	cfg.log.Info("local Postgres running", "url", cfg.dbURL, "data_dir", pgdata, "server_log", filepath.Join(pgdata, "postgres.log"))
	if cfg.jwtSecret == "" {
		if cfg.jwtSecret, err = localSecret(dir); err != nil {
			_ = cluster.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return cluster, nil
}

// defaultGCPercent is serve's GOGC. Nearly all of a busy node's heap is
// long-lived connection state, and the runtime's default of 100 lets the
// heap grow to twice that before collecting, which is what the process
// then holds. Fan-out and change delivery allocate next to nothing per
// message, so collecting at 50% growth costs little CPU and keeps an idle
// connection at ~7.5 KB of RSS instead of ~11 KB (docs/benchmarks/idle.md).
const defaultGCPercent = 50

// defaultMaxHeaderBytes bounds a request's line and headers (Go's default
// is 1 MiB). A WebSocket upgrade carries its apikey in the query and
// REST calls a token in Authorization, a few KiB with generous claims;
// 32 KiB leaves room for those and refuses the rest with 431.
const defaultMaxHeaderBytes = 32 << 10

// setGCPercent applies --gc-percent unless $GOGC is set, which the runtime
// already applied and which the user asked for explicitly.
func setGCPercent(percent int, getenv func(string) string, log *slog.Logger) {
	if getenv("GOGC") != "" {
		log.Debug("GOGC is set; --gc-percent ignored", "GOGC", getenv("GOGC"))
		return
	}
	debug.SetGCPercent(percent)
}
