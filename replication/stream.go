package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Handler receives the changes of committed transactions, in commit order.
// Its methods (and those of Flusher, RelationHandler and MessageHandler) are
// called from one goroutine at a time, never concurrently, apart from the
// goroutine that owns the replication connection: that one keeps answering
// the server's keepalives while a handler runs, so a slow handler delays the
// changes behind it (a queue of at most 8 MiB, then the stream stops
// reading) but never makes the server drop the connection.
type Handler interface {
	// HandleChange is called for each change, in order. ch is valid only
	// during the call.
	HandleChange(ctx context.Context, ch *Change) error
	// HandleCommit is called after the last change of a transaction. Once it
	// returns nil (and Flush, when the handler has one, returned nil after
	// it) the transaction is acknowledged to the server and will not be sent
	// again.
	HandleCommit(ctx context.Context, c Commit) error
}

// Flusher is implemented by handlers that hand changes on lazily (a buffered
// writer, say). The stream calls Flush before it acknowledges anything, when
// the server signals it has caught up, and before it stops.
type Flusher interface {
	Flush(ctx context.Context) error
}

// RelationHandler is implemented by handlers that want each relation (new or
// changed) before its first change in a connection.
type RelationHandler interface {
	HandleRelation(ctx context.Context, rel *Relation) error
}

// MessageHandler is implemented by handlers that want pg_logical_emit_message
// records. msg is valid only during the call.
type MessageHandler interface {
	HandleMessage(ctx context.Context, msg *LogicalMessage) error
}

// StateHandler is implemented by handlers that want to know whether the
// stream is live: HandleStreaming(true) once replication has started on a
// connection (every change committed from then on will be handed over), and
// HandleStreaming(false) when that connection is gone.
type StateHandler interface {
	HandleStreaming(ctx context.Context, streaming bool)
}

// StartHandler is implemented by handlers that keep what they handled (a
// retention window): before the first change of each connection it is told
// the position the stream resumes after. Every transaction whose commit
// record starts at or after it is handed over (those already handed to
// this Stream excepted); earlier ones never are again.
type StartHandler interface {
	HandleStart(ctx context.Context, from LSN)
}

// Retainer is implemented by handlers that keep recent transactions to
// hand them out again and need them back after a restart: the stream
// confirms no position past the commit LSN of the oldest one they keep, so
// that the slot sends them again to the next run. RetainFrom reports that
// LSN, or false when nothing is kept. It is called before each
// acknowledgement, from the goroutine that owns the connection, while the
// Handle methods may run on another: it must be safe for that.
type Retainer interface {
	RetainFrom() (LSN, bool)
}

// ErrStop may be returned by a handler to stop the stream: Run then
// acknowledges every transaction handled completely and returns nil.
var ErrStop = errors.New("stop streaming")

// Commit describes a committed transaction.
type Commit struct {
	LSN     LSN // start of the commit record: the LSN of the transaction's cursors
	EndLSN  LSN // end of the commit record: what is acknowledged
	Time    time.Time
	Changes int // changes handed to HandleChange (skipped ones not counted)
	// Xid is the transaction's id. Its commit record is streamed once it
	// is flushed, which may be a moment before new snapshots see the
	// transaction as committed: whoever reads its rows back at once waits
	// for the xid first (authz.WaitCommitted).
	Xid uint32
}

// Config configures a Stream. Zero values mean the documented default.
type Config struct {
	DatabaseURL string // a libpq URL or DSN; replication=database is added
	Publication string // default "walcast"; created when missing
	// Tables to publish: when the publication is missing it is created for
	// them (FOR ALL TABLES when empty); when it exists and AddTables is set,
	// missing ones are added, otherwise a missing one is an error.
	Tables    []TableSpec
	AddTables bool
	// Slot is a permanent slot, created when missing, from which a later
	// run resumes. Empty means a temporary slot that lives as long as one
	// connection: changes committed while disconnected are not seen.
	Slot string
	// StartAfter skips every change at or before this cursor.
	StartAfter Cursor
	// StatusInterval is how often the position is acknowledged (default 10s).
	// A connection that receives nothing for three intervals is considered
	// dead and replaced.
	StatusInterval time.Duration
	MinBackoff     time.Duration // first reconnect delay (default 100ms)
	MaxBackoff     time.Duration // cap of the reconnect delay (default 10s)
	// ApplicationName marks our connections (default "walcast"); a stale
	// walsender of ours still holding the slot is recognised by it.
	ApplicationName string
	Logger          *slog.Logger
	// OnCommit, when set, is called on the stream's goroutine after the
	// handler took a transaction with changes, with how long after its
	// commit that was (for a latency histogram). It must not block.
	OnCommit func(c Commit, sinceCommit time.Duration)
}

// Validate checks the names in c (not the database URL) and fills in defaults.
func (c *Config) Validate() error {
	if c.Publication == "" {
		c.Publication = "walcast"
	}
	if !validName.MatchString(c.Publication) {
		return fmt.Errorf("publication name %q: use lower-case letters, digits and _ (at most 63)", c.Publication)
	}
	if c.Slot != "" && !validName.MatchString(c.Slot) {
		return fmt.Errorf("slot name %q: use lower-case letters, digits and _ (at most 63)", c.Slot)
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "walcast"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stream reads changes from a replication slot and hands them to a Handler.
type Stream struct {
	cfg     Config
	h       Handler
	flusher Flusher
	relH    RelationHandler
	msgH    MessageHandler
	stateH  StateHandler
	startH  StartHandler
	keeper  Retainer
	log     *slog.Logger

	// last is the cursor of the last change handed to the handler, kept
	// across reconnects so a redelivered transaction is not handed twice.
	last Cursor
	// ackable is the newest position whose transactions were all handled.
	ackable LSN

	stats streamStats
}

// NewStream validates cfg and returns a Stream; nothing is connected until Run.
func NewStream(cfg Config, h Handler) (*Stream, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("replication: no database URL")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stream{cfg: cfg, h: h, last: cfg.StartAfter, log: cfg.Logger.With("component", "replication")}
	s.flusher, _ = h.(Flusher)
	s.relH, _ = h.(RelationHandler)
	s.msgH, _ = h.(MessageHandler)
	s.stateH, _ = h.(StateHandler)
	s.startH, _ = h.(StartHandler)
	s.keeper, _ = h.(Retainer)
	return s, nil
}

// handlerError marks a handler's failure: the stream stops instead of
// reconnecting.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "handler: " + e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// Run streams until ctx is cancelled (it then returns nil), a handler returns
// ErrStop (nil) or another error (returned), or a ConfigError shows the server
// cannot serve us. Lost connections are re-established with capped, jittered
// exponential backoff, resuming from the slot without handing any change twice.
func (s *Stream) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		started := time.Now()
		err := s.session(ctx, attempt)
		switch {
		case errors.Is(err, ErrStop):
			return nil
		case ctx.Err() != nil:
			return nil
		case err == nil:
			continue
		case IsConfigError(err):
			return err
		}
		var he *handlerError
		if errors.As(err, &he) {
			return err
		}
		if time.Since(started) > 30*time.Second {
			backoff = s.cfg.MinBackoff // the last connection was healthy
		}
		delay := backoff/2 + mrand.N(backoff/2+1)
		s.stats.reconnect.Add(1)
		s.log.Warn("replication connection lost; reconnecting", "error", err, "retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

// session runs one connection: checks, publication, slot, then the receive
// loop. Its error says why it ended.
func (s *Stream) session(ctx context.Context, attempt int) error {
	cfg, err := pgx.ParseConfig(s.cfg.DatabaseURL)
	if err != nil {
		return configErrorf("check --database-url / DATABASE_URL", "parse database URL: %v", redact(err))
	}
	cfg.RuntimeParams["application_name"] = s.cfg.ApplicationName + "-catalog"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	catalog := NewCatalog(conn)
	defer catalog.Close(context.WithoutCancel(ctx))

	if err := checkServer(ctx, conn, s.cfg.Slot); err != nil {
		return err
	}
	if err := ensurePublication(ctx, conn, s.cfg.Publication, s.cfg.Tables, s.cfg.AddTables, s.log); err != nil {
		return err
	}
	if attempt == 1 {
		if _, err := checkReplicaIdentity(ctx, conn, s.cfg.Publication, s.log); err != nil {
			return err
		}
	}
	if s.cfg.Slot != "" {
		if err := s.ensureSlot(ctx, conn); err != nil {
			return err
		}
	}

	rconn, err := s.connectReplication(ctx)
	if err != nil {
		return err
	}
	defer rconn.Close(context.WithoutCancel(ctx))

	senderTimeout := walSenderTimeout(ctx, rconn, s.log)
	slot := s.cfg.Slot
	if slot == "" {
		slot = "walcast_tmp_" + randomHex(6)
		_, err := pglogrepl.CreateReplicationSlot(ctx, rconn, slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Temporary: true, SnapshotAction: "NOEXPORT_SNAPSHOT"})
		if err != nil {
			return fmt.Errorf("create temporary slot: %w", err)
		}
		if attempt > 1 {
			s.log.Warn("reconnected with a new temporary slot: changes committed while disconnected were not seen; use a named slot to resume without a gap")
		}
	}
	if s.startH != nil {
		from, err := s.resumePoint(ctx, conn, rconn, slot)
		if err != nil {
			return err
		}
		s.startH.HandleStart(ctx, from)
	}
	args := []string{"proto_version '2'", "publication_names '" + s.cfg.Publication + "'", "messages 'true'"}
	if err := pglogrepl.StartReplication(ctx, rconn, slot, s.last.LSN, pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		return fmt.Errorf("start replication on slot %s: %w", slot, err)
	}
	s.log.Info("streaming", "slot", slot, "publication", s.cfg.Publication, "after", s.last.String(), "wal_sender_timeout", senderTimeout)
	s.stats.streaming.Store(true)
	defer s.stats.streaming.Store(false)
	if s.stateH != nil {
		s.stateH.HandleStreaming(ctx, true)
		defer s.stateH.HandleStreaming(context.WithoutCancel(ctx), false)
	}
	l := loop{s: s, conn: rconn, catalog: catalog, rels: make(map[uint32]*Relation),
		waitStatus: waitStatusInterval(senderTimeout, s.cfg.StatusInterval)}
	return l.run(ctx)
}

// resumePoint is where streaming from slot will resume: the slot's
// confirmed position (a new temporary slot's is where it was created), or
// what this Stream handled last when that is newer.
func (s *Stream) resumePoint(ctx context.Context, conn *pgx.Conn, rconn *pgconn.PgConn, slot string) (LSN, error) {
	var confirmed LSN
	if s.cfg.Slot != "" {
		var lsn string
		err := conn.QueryRow(ctx, "SELECT coalesce(confirmed_flush_lsn, restart_lsn)::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&lsn)
		if err != nil {
			return 0, fmt.Errorf("read the position of slot %s: %w", slot, err)
		}
		if confirmed, err = pglogrepl.ParseLSN(lsn); err != nil {
			return 0, fmt.Errorf("read the position of slot %s: %w", slot, err)
		}
	} else {
		// A temporary slot starts where it was created: the server's
		// current position is no later than that.
		sys, err := pglogrepl.IdentifySystem(ctx, rconn)
		if err != nil {
			return 0, fmt.Errorf("identify system: %w", err)
		}
		confirmed = sys.XLogPos
	}
	return max(confirmed, s.last.LSN), nil
}

// connectReplication opens the replication connection with the session
// settings that make value text independent of role and database defaults.
func (s *Stream) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(s.cfg.DatabaseURL)
	if err != nil {
		return nil, configErrorf("check --database-url / DATABASE_URL", "parse database URL: %v", redact(err))
	}
	for k, v := range map[string]string{
		"replication":        "database",
		"application_name":   s.cfg.ApplicationName,
		"TimeZone":           "UTC",
		"DateStyle":          "ISO",
		"IntervalStyle":      "postgres",
		"bytea_output":       "hex",
		"extra_float_digits": "1",
		"lc_monetary":        "C",
	} {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect for replication: %w", err)
	}
	return conn, nil
}

// ensureSlot creates the permanent slot when missing and frees it from a
// stale walsender of ours (left by a connection that died without the
// server noticing yet).
func (s *Stream) ensureSlot(ctx context.Context, conn *pgx.Conn) error {
	var (
		plugin, status, app string
		active              bool
		pid                 int32
	)
	err := conn.QueryRow(ctx, `SELECT coalesce(s.plugin, ''), s.active, coalesce(s.active_pid, 0), coalesce(s.wal_status, ''), coalesce(a.application_name, '')
		FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1`, s.cfg.Slot).Scan(&plugin, &active, &pid, &status, &app)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", s.cfg.Slot)
		if err != nil {
			return fmt.Errorf("create slot %s: %w", s.cfg.Slot, err)
		}
		s.log.Info("created replication slot", "slot", s.cfg.Slot)
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up slot %s: %w", s.cfg.Slot, err)
	}
	switch {
	case plugin != "pgoutput":
		return configErrorf(fmt.Sprintf("choose another --slot, or drop it: SELECT pg_drop_replication_slot('%s');", s.cfg.Slot),
			"slot %s uses output plugin %q, walcast needs pgoutput", s.cfg.Slot, plugin)
	case status == "lost":
		return configErrorf(fmt.Sprintf("drop and recreate it (changes since it was lost cannot be replayed): SELECT pg_drop_replication_slot('%s');", s.cfg.Slot),
			"slot %s was invalidated: it fell behind more than max_slot_wal_keep_size", s.cfg.Slot)
	case active && app == s.cfg.ApplicationName:
		s.log.Warn("slot held by a stale connection of ours; terminating it", "slot", s.cfg.Slot, "pid", pid)
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			return fmt.Errorf("terminate stale walsender %d: %w", pid, err)
		}
		// The walsender releases the slot as it exits; START retries if it is not gone yet.
	case active:
		return fmt.Errorf("slot %s is in use by pid %d (application %q): is another walcast node using the same slot name?", s.cfg.Slot, pid, app)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = cryptoRead(b)
	return hex.EncodeToString(b)
}

var cryptoRead = rand.Read

// redact drops the connection string from a parse error (it may hold a password).
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s", pe.Error())
	}
	return err
}
