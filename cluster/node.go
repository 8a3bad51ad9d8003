package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Config. A node is declared dead after TTL without a
// heartbeat and found so by a survivor's next check, at most Heartbeat
// later: 12 s with the defaults.
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultTTL       = 10 * time.Second
	DefaultSlotTTL   = time.Hour
)

// Config configures a Node.
type Config struct {
	Pool *pgxpool.Pool
	// ID names the node. It must stay the same across restarts of the
	// node (a restarted node resumes its slot) and differ from every other
	// node's.
	ID string
	// Address is where the node serves, for operators reading the
	// registry.
	Address string
	// Slot is the node's replication slot, dropped by a survivor SlotTTL
	// after the node's last heartbeat once it is dead.
	Slot string
	// Heartbeat is how often the node refreshes its registration and
	// looks for dead nodes; TTL how long without a heartbeat makes a node
	// dead; SlotTTL how long without one makes its slot droppable. Zero
	// means the default. TTL must exceed two heartbeats, SlotTTL the TTL.
	Heartbeat, TTL, SlotTTL time.Duration
	Logger                  *slog.Logger
}

// Validate fills in defaults and checks the durations.
func (c *Config) Validate() error {
	if c.ID == "" {
		return errors.New("cluster: empty node id")
	}
	if len(c.ID) > 63 {
		return fmt.Errorf("cluster: node id %q is longer than 63 bytes", c.ID)
	}
	c.Heartbeat = cmpOr(c.Heartbeat, DefaultHeartbeat)
	c.TTL = cmpOr(c.TTL, DefaultTTL)
	c.SlotTTL = cmpOr(c.SlotTTL, DefaultSlotTTL)
	if c.Heartbeat < 0 || c.TTL <= 2*c.Heartbeat {
		return fmt.Errorf("cluster: the node TTL (%v) must exceed two heartbeat intervals (%v)", c.TTL, c.Heartbeat)
	}
	if c.SlotTTL <= c.TTL {
		return fmt.Errorf("cluster: the slot TTL (%v) must exceed the node TTL (%v)", c.SlotTTL, c.TTL)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Incarnation is one life of a node: from a start, or from finding itself
// declared dead, to its death.
type Incarnation struct {
	Node string
	N    int64
}

func (i Incarnation) String() string { return fmt.Sprintf("%s/%d", i.Node, i.N) }

// Watcher is told about the lives of nodes. Live and Dead are called on
// the replication stream's goroutine, in the stream's order; Bury inside
// the transaction that declares incarnations dead; Reincarnated on the
// heartbeat goroutine. None may block for long.
type Watcher interface {
	// Live: this node's stream now delivers every message committed from
	// here on (it delivered one the node emitted). Called once.
	Live()
	// Dead: inc was declared dead (never this node's current one).
	Dead(inc Incarnation)
	// Bury deletes what the dead incarnations left in Postgres, inside the
	// transaction that declares them dead.
	Bury(ctx context.Context, tx pgx.Tx, dead []Incarnation) error
	// Reincarnated: this node found itself declared dead (it was paused or
	// cut off for longer than the TTL) and now lives as incarnation n.
	Reincarnated(n int64)
}

// Node is this process's registration in the cluster: it heartbeats,
// declares silent nodes dead, drops the slots of long-dead ones, and
// reports nodes' lives to its Watchers.
type Node struct {
	cfg      Config
	log      *slog.Logger
	watchers []Watcher
	inc      atomic.Int64
	live     atomic.Bool
	peers    atomic.Bool // another node is registered alive
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a Node; nothing touches Postgres before Start.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, log: cfg.Logger.With("component", "cluster", "node", cfg.ID)}, nil
}

// Watch adds w; call it before Start.
func (n *Node) Watch(w Watcher) { n.watchers = append(n.watchers, w) }

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Incarnation returns the node's current incarnation (0 before Start).
func (n *Node) Incarnation() Incarnation { return Incarnation{n.cfg.ID, n.inc.Load()} }

// HasPeers reports whether another node is alive, as far as this one
// knows: it turns true as soon as this node's stream brings another
// node's hello, and follows the registry at every heartbeat. A relay with
// no peer has no one to relay to.
func (n *Node) HasPeers() bool { return n.peers.Load() }

// Config returns the node's configuration, defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// Start registers the node under a new incarnation and starts
// heartbeating. It fails when the node's slot is in use, which means a
// live process already runs under this node id.
func (n *Node) Start(ctx context.Context) error {
	if err := n.checkSlotFree(ctx); err != nil {
		return err
	}
	inc, err := n.register(ctx)
	if err != nil {
		return err
	}
	n.inc.Store(inc)
	if err := n.countPeers(ctx); err != nil {
		return fmt.Errorf("count the other nodes: %w", err)
	}
	n.log.Info("node registered", "incarnation", inc, "slot", n.cfg.Slot, "heartbeat", n.cfg.Heartbeat, "ttl", n.cfg.TTL, "slot_ttl", n.cfg.SlotTTL)
	ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.wg.Go(func() { n.run(ctx) })
	return nil
}

// Close stops heartbeating, waits for the heartbeat goroutine, and
// deletes the node's registration: the other nodes stop counting it at
// once. Its slot stays for a restart under the same id; a survivor drops
// it SlotTTL later unless the node comes back first.
func (n *Node) Close() error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	n.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.leave(ctx)
}

// run heartbeats until ctx ends.
func (n *Node) run(ctx context.Context) {
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.tick(ctx)
	}
}

func (n *Node) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(n.cfg.Heartbeat, time.Second))
	defer cancel()
	alive, err := n.heartbeat(ctx)
	switch {
	case err != nil:
		n.warn(ctx, "heartbeat failed; retrying at the next one", err)
		return
	case !alive:
		old := n.inc.Load()
		inc, err := n.register(ctx)
		if err != nil {
			n.warn(ctx, "the cluster declared this node dead, and registering again failed; retrying", err)
			return
		}
		n.inc.Store(inc)
		n.log.Warn("the cluster declared this node dead (it was paused or cut off past the TTL); registered again", "old_incarnation", old, "incarnation", inc)
		for _, w := range n.watchers {
			w.Reincarnated(inc)
		}
	}
	if !n.live.Load() {
		if err := n.emit(ctx, n.cfg.Pool, nodeMessage{Hello: &wireInc{n.cfg.ID, n.inc.Load()}}); err != nil {
			n.warn(ctx, "hello failed", err)
		}
	}
	if err := n.countPeers(ctx); err != nil {
		n.warn(ctx, "counting the other nodes failed", err)
	}
	if err := n.declareDead(ctx); err != nil {
		n.warn(ctx, "looking for dead nodes failed", err)
	}
	if err := n.adoptOrphanSlots(ctx); err != nil {
		n.warn(ctx, "looking for slots of unregistered nodes failed", err)
	}
	if err := n.reapSlots(ctx); err != nil {
		n.warn(ctx, "dropping dead nodes' slots failed", err)
	}
}

func (n *Node) warn(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return
	}
	n.log.Warn(msg, "error", err)
}
