package relay

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/replication"
)

// MessagePrefix is the pg_logical_emit_message prefix of relayed
// broadcasts.
const MessagePrefix = "walcast.relay"

// DefaultMaxQueueBytes bounds what waits for the database.
const DefaultMaxQueueBytes = 64 << 20

// Config configures a Relay.
type Config struct {
	Pool *pgxpool.Pool
	// Node is this node's id: the sender of the broadcasts it relays, and
	// how it recognizes its own when its stream brings them back.
	Node string
	// MaxQueueBytes bounds the encoded broadcasts waiting for the
	// database; past it new ones reach local subscribers only and are
	// counted as dropped. Zero means DefaultMaxQueueBytes.
	MaxQueueBytes int
	// Peers reports whether any other node could receive a relayed
	// broadcast; while it says no, nothing is written (a single node pays
	// nothing for the relay). Nil means always.
	Peers func() bool
	// Mode is the path through Postgres: ModeWAL (the zero value) or
	// ModeNotify. Every node of a deployment must use the same.
	Mode   Mode
	Logger *slog.Logger
}

// Mode is how relayed broadcasts cross Postgres.
type Mode string

const (
	// ModeWAL commits each batch as a logical message that every node
	// reads from its own slot.
	ModeWAL Mode = "wal"
	// ModeNotify sends each batch with pg_notify to every node's LISTEN
	// connection.
	ModeNotify Mode = "notify"
)

// ParseMode reads a --relay value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeWAL, ModeNotify:
		return m, nil
	}
	return "", fmt.Errorf("relay %q: want wal or notify", s)
}

// Relay carries a node's broadcasts to the other nodes through Postgres.
// Use Wrap as transport.Config.Relay, the Relay as one of the stream's
// message handlers (ModeWAL), Listen before the node registers and Close
// after it stops (ModeNotify), and Run for the writer.
type Relay struct {
	cfg   Config
	log   *slog.Logger
	local broadcast.Publisher

	mu      sync.Mutex
	queue   []byte // encoded envelopes waiting, after a header
	spare   []byte
	dropped int
	wake    chan struct{}

	// The notify path: the writer's sequence number of its next
	// notification, the listener's state, and its goroutine.
	epoch, seq uint64
	senders    map[string]*pendingBatch
	stopListen context.CancelFunc
	listenWG   sync.WaitGroup
}

// New returns a Relay; nothing runs before Run.
func New(cfg Config) *Relay {
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeWAL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg, log: cfg.Logger.With("component", "relay", "node", cfg.Node), wake: make(chan struct{}, 1), epoch: rand.Uint64()}
	r.queue = appendHeader(nil, cfg.Node)
	return r
}

// Wrap is transport.Config.Relay: it returns the Publisher every
// broadcast of the node goes through.
func (r *Relay) Wrap(local broadcast.Publisher) broadcast.Publisher {
	r.local = local
	return broadcast.PublisherFunc(r.publish)
}

// publish delivers locally, then queues a copy for the other nodes.
// Presence diffs stay local (presence crosses nodes through the shared
// store), and so do broadcasts every node gets by itself.
func (r *Relay) publish(e *broadcast.Envelope) {
	r.local.Publish(e)
	if e.Kind == broadcast.KindPresenceDiff || e.NodeLocal || r.cfg.Peers != nil && !r.cfg.Peers() {
		return
	}
	r.mu.Lock()
	if len(r.queue) > r.cfg.MaxQueueBytes {
		r.dropped++
		r.mu.Unlock()
		return
	}
	r.queue = appendEnvelope(r.queue, e)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run writes the queued broadcasts until ctx ends: one transactional
// message per round trip, holding whatever queued while the previous one
// was committing, so the batch grows with the load and a lone broadcast
// waits for no timer. Broadcasts of one sender are queued in the order it
// published them, and one writer commits them in that order.
func (r *Relay) Run(ctx context.Context) {
	header := len(appendHeader(nil, r.cfg.Node))
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		batch, dropped := r.queue, r.dropped
		r.queue, r.spare, r.dropped = r.spare[:0], nil, 0
		r.queue = appendHeader(r.queue, r.cfg.Node)
		r.mu.Unlock()
		if dropped > 0 {
			r.log.Warn("the relay queue was full: broadcasts reached this node's subscribers only", "dropped", dropped, "max_queue_bytes", r.cfg.MaxQueueBytes)
		}
		if len(batch) > header {
			if r.cfg.Mode == ModeNotify {
				r.sendNotify(ctx, batch)
			} else {
				r.send(ctx, batch)
			}
		}
		r.mu.Lock()
		if r.spare == nil && cap(batch) <= 1<<20 {
			r.spare = batch[:0]
		}
		r.mu.Unlock()
	}
}

// emitSQL commits a batch with synchronous_commit=local whatever the
// server's default: walsenders send only WAL flushed to disk, so under
// synchronous_commit=off a relayed broadcast would wait for the WAL writer
// (wal_writer_delay, 200 ms by default) before any node saw it. The
// setting is transaction-local and still in force at the commit.
const emitSQL = "SELECT set_config('synchronous_commit', 'local', true), pg_logical_emit_message(true, $1, $2::bytea)"

// send emits one batch. A batch the database refuses is lost for the other
// nodes (broadcast is at most once); the log says so.
func (r *Relay) send(ctx context.Context, batch []byte) {
	for attempt := 0; ; attempt++ {
		_, err := r.cfg.Pool.Exec(ctx, emitSQL, MessagePrefix, batch)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 2 {
			r.log.Error("relaying broadcasts to other nodes failed; they reached this node's subscribers only", "bytes", len(batch), "error", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond << attempt):
		}
	}
}

var _ replication.MessageHandler = (*Relay)(nil)

// HandleMessage hands other nodes' broadcasts from the stream to the
// node's own Publisher; its own come back too and are skipped (they were
// delivered when published). A malformed message is logged and skipped:
// an error would stop the stream.
func (r *Relay) HandleMessage(_ context.Context, msg *replication.LogicalMessage) error {
	if msg.Prefix != MessagePrefix || r.local == nil {
		return nil
	}
	r.deliver(msg.Content, "cursor", msg.Cursor.String())
	return nil
}

// deliver hands the envelopes of a batch from another node to the node's
// own Publisher; a batch of its own is skipped. where names the batch in
// the log.
func (r *Relay) deliver(batch []byte, where ...any) {
	rd := reader{b: batch}
	node := rd.header()
	if rd.err != nil || node == r.cfg.Node {
		if rd.err != nil {
			r.log.Warn("skipping a relay message", append(where, "error", rd.err)...)
		}
		return
	}
	var e broadcast.Envelope
	for len(rd.b) > 0 && rd.envelope(&e, node) {
		r.local.Publish(&e)
	}
	if rd.err != nil {
		r.log.Warn("skipping the rest of a malformed relay message", append(where, "from", node, "error", rd.err)...)
	}
}
