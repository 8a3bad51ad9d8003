package changes

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/replication"
)

// Row checks (Config.Authz): a change to a table under row-level security
// reaches a viewer only if its role and claims may SELECT the row. The
// replication goroutine does not wait for the database: it collects a
// transaction's deliveries into a batch, hands the batch to one checking
// goroutine at the commit, and reads on. That goroutine takes every batch
// waiting (so a busy stream gets bigger batches, not more queries), asks
// authz once per table for all changed keys and all distinct viewers
// (VisibleKeysGroups), then delivers the batches' items in order.
//
// Order: while any batch is open or queued, every delivery (checked or
// not) goes through the queue, so no sink sees a change before an earlier
// one. When nothing is queued, changes that need no check are delivered at
// once, as without Config.Authz, and cost no queue.
type rowChecks struct {
	d     *Dispatcher
	queue chan *checkBatch
	free  chan *checkBatch // delivered batches, emptied, for add to fill again
	open  *checkBatch      // the batch being collected (replication goroutine only)
	busy  atomic.Int64     // batches queued and not delivered yet

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	stats RowCheckStats
}

// RowCheckStats counts the work of row checks.
type RowCheckStats struct {
	Changes  atomic.Uint64 // changed keys checked (once per round they are in)
	Calls    atomic.Uint64 // VisibleKeysGroups calls (one per table and round)
	Queries  atomic.Uint64 // per-group queries those calls ran
	Checked  atomic.Uint64 // deliveries checked
	Denied   atomic.Uint64 // deliveries withheld (row not visible, or a failed check)
	Failures atomic.Uint64 // groups whose check failed (delivered nothing)
}

// maxBatchItems flushes a batch within a large transaction. With the
// queue's bound it caps what waits for checks: 64 batches of 4,096
// deliveries (about 45 MB) by default.
const maxBatchItems = 4096

// maxMerge is how many queued batches one check round takes.
const maxMerge = 64

type checkBatch struct {
	items []checkItem
	ids   []uint64 // the items' ids, carved from one growing slice
	xids  []uint32 // the transactions of its checked items
}

// checkItem is one delivery: to sink, ids, data; with check, only if the
// row named by key is visible to id.
type checkItem struct {
	sink  Sink
	ids   []uint64
	data  []byte
	check bool
	id    *authz.Identity
	table authz.Table
	key   []string
	xid   uint32 // the change's transaction
	// Set while checking.
	group, row int
	tc         *tableCheck
}

func newRowChecks(d *Dispatcher) *rowChecks {
	n := d.cfg.CheckQueue
	if n <= 0 {
		n = 64
	}
	r := &rowChecks{d: d, queue: make(chan *checkBatch, n), free: make(chan *checkBatch, n), done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r
}

// RowChecks returns the counters of row checks, or nil without Config.Authz.
func (d *Dispatcher) RowChecks() *RowCheckStats {
	if d.rows == nil {
		return nil
	}
	return &d.rows.stats
}

func (r *rowChecks) close() {
	r.cancel()
	<-r.done
}

// idle reports whether a change may be delivered at once.
func (r *rowChecks) idle() bool { return r.open == nil && r.busy.Load() == 0 }

// add queues a delivery, copying ids.
func (r *rowChecks) add(it checkItem, ids []uint64) {
	if r.open == nil {
		// A used batch keeps its arrays: a round's items (one per
		// subscriber of each change) would otherwise grow new ones.
		select {
		case r.open = <-r.free:
		default:
			r.open = &checkBatch{}
		}
	}
	b := r.open
	if it.check && (len(b.xids) == 0 || b.xids[len(b.xids)-1] != it.xid) {
		b.xids = append(b.xids, it.xid)
	}
	// Earlier items keep pointing into the old array when this one grows.
	start := len(b.ids)
	b.ids = append(b.ids, ids...)
	it.ids = b.ids[start:len(b.ids):len(b.ids)]
	b.items = append(b.items, it)
	if len(b.items) >= maxBatchItems {
		r.flush()
	}
}

// flush queues the open batch; it waits while the queue is full.
func (r *rowChecks) flush() {
	b := r.open
	if b == nil {
		return
	}
	r.open = nil
	r.busy.Add(1)
	select {
	case r.queue <- b:
	case <-r.ctx.Done():
		r.busy.Add(-1)
	}
}

func (r *rowChecks) run() {
	defer close(r.done)
	var batches []*checkBatch
	for {
		select {
		case <-r.ctx.Done():
			return
		case b := <-r.queue:
			batches = append(batches[:0], b)
		}
	more:
		for len(batches) < maxMerge {
			select {
			case b := <-r.queue:
				batches = append(batches, b)
			default:
				break more
			}
		}
		r.check(batches)
		for _, b := range batches {
			for i := range b.items {
				it := &b.items[i]
				if it.check && !it.tc.visible(it) {
					r.stats.Denied.Add(1)
					continue
				}
				it.sink.DeliverChange(it.ids, it.data)
				r.d.deliveries.Add(1)
			}
			r.busy.Add(-1)
			r.recycle(b)
		}
		clear(batches)
	}
}

// recycle empties a delivered batch (sinks keep neither ids nor the
// items) and offers it to add; one that carried unusually many ids is
// left to the collector rather than kept at that size.
func (r *rowChecks) recycle(b *checkBatch) {
	if cap(b.ids) > 4*maxBatchItems {
		return
	}
	clear(b.items)
	b.items, b.ids, b.xids = b.items[:0], b.ids[:0], b.xids[:0]
	select {
	case r.free <- b:
	default:
	}
}

// tableCheck is one VisibleKeysGroups call: the distinct keys and viewers
// of one table in a check round.
type tableCheck struct {
	table  authz.Table
	keys   [][]string
	keyIdx map[string]int
	ids    []authz.Identity
	idIdx  map[[32]byte]int
	seen   [][]bool
	errs   []error
}

func (tc *tableCheck) visible(it *checkItem) bool {
	return tc.errs[it.group] == nil && tc.seen[it.group][it.row]
}

// check runs the row checks of the batches' items: one VisibleKeysGroups
// call per table, the tables at once.
func (r *rowChecks) check(batches []*checkBatch) {
	// The checks wait for these transactions to end (each check's round
	// trip asks first), so that they see the rows.
	var xids []uint32
	for _, b := range batches {
		xids = append(xids, b.xids...)
	}
	tables := map[authz.Table]*tableCheck{}
	var sb strings.Builder
	// The items of one change follow each other and share its key slice,
	// and a viewer's grant is shared by its bindings: remembering the last
	// of each skips most lookups.
	var (
		lastKey *string
		lastRow int
		lastID  *authz.Identity
		lastG   int
		lastTC  *tableCheck
	)
	for _, b := range batches {
		for i := range b.items {
			it := &b.items[i]
			if !it.check {
				continue
			}
			tc := lastTC
			if tc == nil || tc.table != it.table {
				tc = tables[it.table]
				if tc == nil {
					tc = &tableCheck{table: it.table, keyIdx: map[string]int{}, idIdx: map[[32]byte]int{}}
					tables[it.table] = tc
				}
				lastTC, lastKey, lastID = tc, nil, nil
			}
			r.stats.Checked.Add(1)
			if &it.key[0] != lastKey {
				sb.Reset()
				for _, k := range it.key {
					sb.WriteString(k)
					sb.WriteByte(0)
				}
				row, ok := tc.keyIdx[sb.String()]
				if !ok {
					row = len(tc.keys)
					tc.keyIdx[sb.String()] = row
					tc.keys = append(tc.keys, it.key)
					r.stats.Changes.Add(1)
				}
				lastKey, lastRow = &it.key[0], row
			}
			if it.id != lastID {
				g, ok := tc.idIdx[it.id.Key]
				if !ok {
					g = len(tc.ids)
					tc.idIdx[it.id.Key] = g
					tc.ids = append(tc.ids, *it.id)
				}
				lastID, lastG = it.id, g
			}
			it.tc, it.row, it.group = tc, lastRow, lastG
		}
	}
	var wg sync.WaitGroup
	for _, tc := range tables {
		wg.Go(func() {
			tc.seen, tc.errs = r.d.cfg.Authz.VisibleKeysGroups(r.ctx, tc.ids, tc.table, tc.keys, xids)
			r.stats.Calls.Add(1)
			r.stats.Queries.Add(uint64(len(tc.ids)))
			for g, err := range tc.errs {
				if err != nil {
					r.stats.Failures.Add(1)
					if r.ctx.Err() == nil {
						r.d.log.Warn("row check failed: changes withheld from this role and claims",
							"table", tc.table.String(), "role", tc.ids[g].Role, "error", err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// routeChecked delivers ch to the sorted targets under their grants: only
// the tables each may read, only its columns (one encoding per column
// set), and for tables under row security through a check. It runs on
// the replication goroutine.
func (d *Dispatcher) routeChecked(ch *replication.Change, targets []target) {
	rel := ch.Relation
	table := authz.Table{Schema: rel.Schema, Name: rel.Table}
	r := d.rows
	var key []string
	keyRead := false
	for i := 0; i < len(targets); {
		e := targets[i].entry
		ids := d.ids[:0]
		var tg *tableGrant
		var g *grant
		for ; i < len(targets) && targets[i].entry == e; i++ {
			gr := targets[i].grant
			if gr == nil {
				continue // registered without authorization: nothing is delivered
			}
			t := gr.tables[table]
			if t == nil {
				continue
			}
			if tg == nil {
				tg, g = t, gr
			}
			ids = append(ids, targets[i].id)
		}
		d.ids = ids
		if tg == nil {
			continue
		}
		check := tg.rowChecked && ch.Kind != replication.Delete
		if check && !keyRead {
			key, keyRead = primaryKey(ch, tg.pk), true
		}
		if check && key == nil {
			if d.log.Enabled(context.Background(), slog.LevelDebug) {
				d.log.Debug("change without a readable primary key withheld from row-checked subscribers",
					"schema", rel.Schema, "table", rel.Table, "cursor", ch.Cursor.String())
			}
			continue
		}
		data := d.encodeView(&d.scratch, ch, viewKey{rel: rel, cols: tg.cols, keyOnly: ch.Kind == replication.Delete && tg.rowChecked})
		if !check && r.idle() {
			e.sink.DeliverChange(ids, data)
			d.deliveries.Add(1)
			continue
		}
		r.add(checkItem{sink: e.sink, data: data, check: check, id: &g.id, table: table, key: key, xid: ch.Xid}, ids)
	}
	d.scratch.next()
}

// primaryKey returns the text of the change's new row's key columns, in
// key order, or nil when one is missing (NULL, binary, or not sent).
func primaryKey(ch *replication.Change, pk []string) []string {
	if len(pk) == 0 || ch.New == nil {
		return nil
	}
	key := make([]string, len(pk))
	for j, name := range pk {
		i := ch.Relation.ColumnIndex(name)
		if i < 0 || i >= len(ch.New) {
			return nil
		}
		v := ch.New[i]
		if v.State == replication.ValueUnchanged && ch.Old != nil && i < len(ch.Old) {
			v = ch.Old[i]
		}
		if v.State != replication.ValueText {
			return nil
		}
		key[j] = string(v.Data)
	}
	return key
}
