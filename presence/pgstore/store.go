package pgstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/presence"
)

// Config configures a Store.
type Config struct {
	Pool   *pgxpool.Pool
	Node   *cluster.Node
	Logger *slog.Logger
}

// Store is a presence.Store shared by the nodes of a cluster.
type Store struct {
	mem  *presence.Memory
	pool *pgxpool.Pool
	node *cluster.Node
	log  *slog.Logger

	mu      sync.Mutex
	local   map[memberKey]presence.Entry // this node's members
	pending map[memberKey]op             // local changes not yet written
	remotes map[cluster.Incarnation]*remote
	// dead holds, per node id, its last incarnation known dead: every
	// earlier one is dead too (a node's incarnations grow, and it takes a
	// new one only once the old one is over), so one entry per node id
	// does, and resyncOnce forgets the ids the registry no longer holds.
	dead   map[string]int64
	nextID presence.MemberID // ids of other nodes' members in mem
	live   bool
	// announce asks for a batch even with nothing pending: the first
	// batch of a new incarnation tells the others to drop the old one.
	announce bool

	// writer state, owned by the writer goroutine
	seqOf cluster.Incarnation
	seq   int64

	wake, resync chan struct{}
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// memberKey is a member of a room on one node.
type memberKey struct {
	room   string
	member int64
}

// op is a pending local change: the member's entry, or its leave.
type op struct {
	leave bool
	entry presence.Entry
}

// remote is what the local view holds of another node's incarnation.
type remote struct {
	seq     int64 // the last batch applied
	members map[memberKey]remoteMember
	waiting []*batch // batches past a gap, until a resync fills it
}

type remoteMember struct {
	id    presence.MemberID
	entry presence.Entry
}

// maxWaiting bounds the batches held past a gap; past it they are dropped
// and the resync reads the node's state from the table instead.
const maxWaiting = 10000

// firstRemoteID starts the ids of other nodes' members in the local view
// far above the ones Memory hands to local trackers.
const firstRemoteID = presence.MemberID(1) << 62

var (
	_ presence.Store  = (*Store)(nil)
	_ cluster.Watcher = (*Store)(nil)
)

// New returns a Store that hands every diff, local or from another node,
// to sink, and registers it as a watcher of cfg.Node (so call it before
// the node starts). Start its goroutines with Start; use it as a message
// handler of the node's stream.
func New(cfg Config, sink presence.Sink) *Store {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		mem: presence.NewMemory(sink), pool: cfg.Pool, node: cfg.Node,
		log:   cfg.Logger.With("component", "presence", "node", cfg.Node.ID()),
		local: make(map[memberKey]presence.Entry), pending: make(map[memberKey]op),
		remotes: make(map[cluster.Incarnation]*remote), dead: make(map[string]int64),
		nextID: firstRemoteID,
		wake:   make(chan struct{}, 1), resync: make(chan struct{}, 1),
	}
	cfg.Node.Watch(s)
	return s
}

// Start runs the writer and the resync loop until Close.
func (s *Store) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.writeLoop(ctx) })
	s.wg.Go(func() { s.resyncLoop(ctx) })
}

// Close writes what is pending (for up to 5 s: the leaves of a node
// shutting down should reach the others at once, not after its TTL) and
// stops the goroutines.
func (s *Store) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.write(ctx)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// NewMember implements presence.Store.
func (s *Store) NewMember() presence.MemberID { return s.mem.NewMember() }

// Track implements presence.Store: the local view changes at once, the
// write to Postgres follows in the background.
func (s *Store) Track(room string, member presence.MemberID, key string, meta presence.Meta) (presence.Diff, bool) {
	d, ok := s.mem.Track(room, member, key, meta)
	if ok {
		k := memberKey{room, int64(member)}
		s.mu.Lock()
		s.local[k] = d.Joins[0]
		s.pending[k] = op{entry: d.Joins[0]}
		s.mu.Unlock()
		signal(s.wake)
	}
	return d, ok
}

// Untrack implements presence.Store.
func (s *Store) Untrack(room string, member presence.MemberID) presence.Diff {
	d := s.mem.Untrack(room, member)
	if !d.Empty() {
		k := memberKey{room, int64(member)}
		s.mu.Lock()
		delete(s.local, k)
		s.pending[k] = op{leave: true}
		s.mu.Unlock()
		signal(s.wake)
	}
	return d
}

// Sync implements presence.Store.
func (s *Store) Sync(room string, f func(state []byte)) { s.mem.Sync(room, f) }

// State returns a copy of room's state as this node shows it.
func (s *Store) State(room string) []byte { return s.mem.State(room) }
