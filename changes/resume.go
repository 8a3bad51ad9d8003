package changes

import (
	"context"
	"slices"

	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/replication"
)

// Resume is the catch-up of a subscription made with SubscribeAfter: the
// kept changes after its cursor that match its bindings. Until Run has
// delivered them and switched the subscription live, changes as they
// happen are not delivered to it; after, they are. Nothing is delivered
// twice and nothing is skipped: a change is delivered by Run exactly when
// the live path leaves it out.
type Resume struct {
	d    *Dispatcher
	e    *sinkEntry // nil when no binding was registered
	next uint64     // window sequence number of the next change to replay
	gap  *Gap
	// early is set when the subscription came before the stream started
	// (a node restarting): Run waits for the start to look after up.
	early bool
	after replication.Cursor
	all   []uint64 // Run's scratch: every id a replayed change matched
}

// Gap reports that changes after the cursor may have been lost (it was
// older than the window, or none was kept). The subscription is live all
// the same; the caller tells its client to refetch. A subscription made
// before the stream started learns of a gap only from Run.
func (r *Resume) Gap() *Gap { return r.gap }

// SubscribeAfter is Subscribe for a client that saw every matching change
// up to and including after: Run then delivers the kept changes after it,
// in order, and switches the subscription to live delivery. When changes
// after it may have been lost, the subscription is live at once and Gap
// says so.
func (d *Dispatcher) SubscribeAfter(ctx context.Context, sink Sink, bindings []Binding, after replication.Cursor) ([]uint64, *Resume, error) {
	ids, e, err := d.subscribe(ctx, sink, bindings, &after)
	r := &Resume{d: d, e: e}
	if e == nil {
		return ids, r, err
	}
	if after != (replication.Cursor{}) && !d.win.started() {
		// A client back before this (restarted) node's stream: whether
		// its cursor is still kept is known once the stream starts.
		r.early, r.after = true, after
		return ids, r, err
	}
	next, gap := d.win.find(after)
	if gap != nil {
		r.gap = gap
		d.win.liveNow(e)
		return ids, r, err
	}
	r.next = next
	return ids, r, err
}

// Head returns the cursor of the newest change dispatched (or, before the
// first, where the stream started): SubscribeAfter(Head()) misses nothing
// committed after the call, which makes it the cursor to hand a client
// that starts following now.
func (d *Dispatcher) Head() replication.Cursor { return d.win.position() }

// replayBatch is how many kept changes Run looks at between two waits.
const replayBatch = 64

// Run delivers the kept changes that match the subscription and then
// switches it live. Before each batch it calls wait, which returns once
// the sink can take more (or an error to stop: the subscription then
// stays out of live delivery, so the caller must Unsubscribe). A gap that
// opens while it runs (the window evicted changes it had not replayed)
// switches the subscription live and returns the Gap. It must be called
// at most once, and not at all when Gap() is set.
func (r *Resume) Run(ctx context.Context, wait func(context.Context) error) error {
	if r.e == nil || r.gap != nil {
		return r.gap.asError()
	}
	d := r.d
	if r.early {
		select {
		case <-d.win.begun:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.early = false
		next, gap := d.win.find(r.after)
		if gap != nil {
			d.win.liveNow(r.e)
			r.gap = gap
			return gap
		}
		r.next = next
	}
	var (
		batch   []retained
		matched []uint64
		buf     []byte
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var gap *Gap
		batch, r.next, gap = d.win.read(batch[:0], r.next, replayBatch)
		if gap != nil {
			d.win.liveNow(r.e)
			r.gap = gap
			return gap
		}
		if len(batch) == 0 {
			if d.win.goLive(r.e, r.next) {
				return nil
			}
			continue // a change came in meanwhile
		}
		if err := wait(ctx); err != nil {
			return err
		}
		if d.rows != nil {
			if err := r.deliverChecked(ctx, batch); err != nil {
				return err
			}
			clear(batch)
			continue
		}
		for i := range batch {
			matched = r.match(&batch[i].ch, matched[:0])
			if len(matched) == 0 {
				continue
			}
			var data []byte
			data, buf = d.encodeWith(buf, &batch[i].ch)
			r.e.sink.DeliverChange(matched, data)
		}
		clear(batch) // the kept changes may leave the window meanwhile
	}
}

// match appends the ids of the subscription's bindings that ch satisfies,
// in binding order.
func (r *Resume) match(ch *replication.Change, dst []uint64) []uint64 {
	r.all = r.d.index.Match(ch, r.all[:0])
	r.d.mu.RLock()
	for _, id := range r.e.ids {
		if slices.Contains(r.all, id) {
			dst = append(dst, id)
		}
	}
	r.d.mu.RUnlock()
	return dst
}

func (g *Gap) asError() error {
	if g == nil {
		return nil
	}
	return g
}

// replayed is one kept change to deliver to a resuming sink under its
// grant.
type replayed struct {
	ids   []uint64
	data  []byte
	check bool
	table authz.Table
	key   []string
	ok    bool
}

// deliverChecked delivers the kept changes of batch that match the
// subscription as the live path would under Config.Authz: its tables,
// its columns, and for tables under row security only rows its viewer
// may SELECT now, checked with one VisibleKeys call per table.
func (r *Resume) deliverChecked(ctx context.Context, batch []retained) error {
	d := r.d
	var (
		out     []replayed
		scratch viewScratch
		viewer  *authz.Identity
	)
	for i := range batch {
		ch := &batch[i].ch
		matched := r.match(ch, nil)
		if len(matched) == 0 {
			continue
		}
		table := authz.Table{Schema: ch.Relation.Schema, Name: ch.Relation.Table}
		var tg *tableGrant
		ids := matched[:0]
		d.mu.RLock()
		for _, id := range matched {
			s := d.specs[id]
			if s == nil || s.grant == nil || s.grant.tables[table] == nil {
				continue
			}
			if tg == nil {
				tg, viewer = s.grant.tables[table], &s.grant.id
			}
			ids = append(ids, id)
		}
		d.mu.RUnlock()
		if tg == nil {
			continue
		}
		it := replayed{ids: ids, table: table, ok: true}
		it.check = tg.rowChecked && ch.Kind != replication.Delete
		if it.check {
			if it.key = primaryKey(ch, tg.pk); it.key == nil {
				continue
			}
		}
		it.data = d.encodeView(&scratch, ch, viewKey{rel: ch.Relation, cols: tg.cols, keyOnly: ch.Kind == replication.Delete && tg.rowChecked})
		scratch.next()
		out = append(out, it)
	}
	byTable := map[authz.Table][]int{}
	for i := range out {
		if out[i].check {
			byTable[out[i].table] = append(byTable[out[i].table], i)
		}
	}
	for table, idx := range byTable {
		keys := make([][]string, len(idx))
		for j, i := range idx {
			keys[j] = out[i].key
		}
		seen, err := d.cfg.Authz.VisibleKeys(ctx, *viewer, table, keys)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.log.Warn("row check of a replay failed: changes withheld", "table", table.String(), "role", viewer.Role, "error", err)
		}
		for j, i := range idx {
			out[i].ok = err == nil && seen[j]
		}
	}
	for i := range out {
		if out[i].ok {
			r.e.sink.DeliverChange(out[i].ids, out[i].data)
		}
	}
	return nil
}
