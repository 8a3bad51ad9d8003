package changes

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/replication"
)

var (
	_ replication.Handler         = (*Dispatcher)(nil)
	_ replication.RelationHandler = (*Dispatcher)(nil)
	_ replication.StateHandler    = (*Dispatcher)(nil)
	_ replication.StartHandler    = (*Dispatcher)(nil)
	_ replication.Retainer        = (*Dispatcher)(nil)
)

// target is one matched binding with its sink, for grouping by sink.
type target struct {
	seq   uint64
	id    uint64
	entry *sinkEntry
	grant *grant // with Config.Authz: what the binding's viewer may read
}

func compareTargets(a, b target) int {
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// HandleRelation binds the relation in the index, which compiles the
// filters of the bindings that cover it.
func (d *Dispatcher) HandleRelation(_ context.Context, rel *replication.Relation) error {
	if old := d.rels[rel.ID]; old != nil && !sameRelation(old, rel) {
		// Kept changes of the old shape can no longer be matched against
		// filters compiled for the new one: the window starts again, and a
		// resume from before the DDL is a gap.
		d.win.reset()
		// The row checks' key lookup was built for the old shape.
		if f, ok := d.cfg.Authz.(interface{ Forget(authz.Table) }); ok {
			f.Forget(authz.Table{Schema: rel.Schema, Name: rel.Table})
		}
	}
	if d.rels[rel.ID] != rel {
		d.views.reset()
	}
	d.rels[rel.ID] = rel
	d.index.Bind(rel)
	return nil
}

// sameRelation reports whether a and b describe the same table the same
// way (a stream announces each relation again on every connection).
func sameRelation(a, b *replication.Relation) bool {
	if a.Schema != b.Schema || a.Table != b.Table || a.ReplicaIdentity != b.ReplicaIdentity || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		x, y := &a.Columns[i], &b.Columns[i]
		if x.Name != y.Name || x.TypeOID != y.TypeOID || x.Modifier != y.Modifier || x.Key != y.Key {
			return false
		}
	}
	return true
}

// HandleStart records where the stream resumes: changes before it are not
// kept, so a resume before it is a gap.
func (d *Dispatcher) HandleStart(_ context.Context, from replication.LSN) { d.win.start(from) }

// RetainFrom tells the stream not to confirm past the oldest kept change,
// after applying the window's age bound.
func (d *Dispatcher) RetainFrom() (replication.LSN, bool) {
	d.win.expire(time.Now())
	return d.win.oldest()
}

// HandleChange delivers ch to every sink with a binding it satisfies: one
// call per sink, with the ids of all its matched bindings, and one encoded
// data slice shared by all. TRUNCATE is never delivered, as in Supabase.
// It never fails: a sink's trouble must not stop the stream.
func (d *Dispatcher) HandleChange(_ context.Context, ch *replication.Change) error {
	if ch.Kind == replication.Truncate {
		return nil
	}
	seq := d.win.add(ch)
	d.matched, d.over = d.index.MatchBudget(ch, d.matched[:0], d.over[:0], d.cfg.GroupBudget)
	if len(d.over) > 0 {
		d.dropOverBudget(ch)
	}
	if len(d.matched) == 0 {
		return nil
	}
	targets := d.targets[:0]
	d.mu.RLock()
	for _, id := range d.matched {
		// An id unsubscribed since Match is simply gone; a resuming one
		// gets this change from its Resume.
		if e := d.byID[id]; e != nil && e.liveFrom.Load() <= seq && e.after.Less(ch.Cursor) {
			t := target{seq: e.seq, id: id, entry: e}
			if d.rows != nil {
				if s := d.specs[id]; s != nil {
					t.grant = s.grant
				}
			}
			targets = append(targets, t)
		}
	}
	d.mu.RUnlock()
	if len(targets) == 0 {
		d.targets = targets
		return nil
	}
	// Sorting groups a sink's bindings without a map; Match returns members
	// mostly in registration order, which pdqsort handles in linear time.
	slices.SortFunc(targets, compareTargets)
	if d.rows != nil {
		d.routeChecked(ch, targets)
		clear(targets)
		d.targets = targets[:0]
		return nil
	}
	data := d.encode(ch)
	deliveries := 0
	// No lock is held here: a sink may call back into the dispatcher.
	for i := 0; i < len(targets); {
		e := targets[i].entry
		ids := d.ids[:0]
		for ; i < len(targets) && targets[i].entry == e; i++ {
			ids = append(ids, targets[i].id)
		}
		d.ids = ids
		e.sink.DeliverChange(ids, data)
		deliveries++
	}
	d.deliveries.Add(uint64(deliveries))
	clear(targets) // do not keep unsubscribed sinks reachable
	d.targets = targets[:0]
	return nil
}

// encode renders the data object of ch into a new slice of exactly its
// size: the one allocation per delivered change. The encoding goes through
// a reused scratch buffer first, so its growth is not paid per change and
// the size limit is checked before anything is kept.
func (d *Dispatcher) encode(ch *replication.Change) []byte {
	var data []byte
	data, d.buf = d.encodeWith(d.buf, ch)
	return data
}

// encodeWith is encode with the scratch buffer buf, which it returns for
// the next call.
func (d *Dispatcher) encodeWith(buf []byte, ch *replication.Change) (data, scratch []byte) {
	buf = replication.AppendChange(buf[:0], ch, d.cfg.Encode)
	if len(buf) > d.cfg.MaxRecordBytes {
		size := len(buf)
		d.oversized.Add(1)
		buf = replication.AppendChangeTooLarge(buf[:0], ch, d.cfg.Encode)
		if d.log.Enabled(context.Background(), slog.LevelDebug) {
			d.log.Debug("change over the record size limit sent without its large values",
				"schema", ch.Relation.Schema, "table", ch.Relation.Table, "cursor", ch.Cursor.String(), "bytes", size)
		}
	}
	data = make([]byte, len(buf))
	copy(data, buf)
	if cap(buf) > 2*d.cfg.MaxRecordBytes {
		buf = nil // a huge change should not pin its buffer for good
	}
	return data, buf
}

// HandleCommit hands the transaction's deliveries waiting for row checks
// (Config.Authz) to the checking goroutine. Otherwise it has nothing to
// do: changes are delivered as they come, and Postgres sends only
// committed transactions.
func (d *Dispatcher) HandleCommit(context.Context, replication.Commit) error {
	if d.rows != nil {
		d.rows.flush()
	}
	return nil
}

// liveState is closed-channel signalling: ch is closed while the stream is
// live and replaced by a new, open one when it goes down.
type liveState struct {
	mu sync.Mutex
	on bool
	ch chan struct{}
}

// HandleStreaming records whether the stream is live.
func (d *Dispatcher) HandleStreaming(_ context.Context, streaming bool) {
	d.live.mu.Lock()
	defer d.live.mu.Unlock()
	if !streaming && d.rows != nil {
		d.rows.flush()
	}
	if streaming == d.live.on {
		return
	}
	d.live.on = streaming
	if streaming {
		close(d.live.ch)
	} else {
		d.live.ch = make(chan struct{})
	}
}

// Live reports whether the replication stream is streaming now: every
// change committed from now on will be dispatched.
func (d *Dispatcher) Live() bool {
	d.live.mu.Lock()
	defer d.live.mu.Unlock()
	return d.live.on
}

// WaitLive blocks until the stream is live or ctx is done.
func (d *Dispatcher) WaitLive(ctx context.Context) error {
	d.live.mu.Lock()
	ch := d.live.ch
	d.live.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
