package changes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// These tests drive the Handler side directly with an in-memory relation:
// registration skips the database check (register is what Subscribe calls
// once bindings are validated).

var memItems = &replication.Relation{ID: 16400, Schema: "public", Table: "items", ReplicaIdentity: 'd', Columns: []replication.Column{
	{Name: "id", TypeOID: pgtype.Int4OID, TypeName: "int4", Key: true, Codec: replication.CodecFor(pgtype.Int4OID, false)},
	{Name: "room", TypeOID: pgtype.Int4OID, TypeName: "int4", Codec: replication.CodecFor(pgtype.Int4OID, false)},
	{Name: "name", TypeOID: pgtype.TextOID, TypeName: "text", Codec: replication.CodecFor(pgtype.TextOID, false)},
}}

func memInsert(id, room int) *replication.Change {
	text := func(s string) replication.Value {
		return replication.Value{State: replication.ValueText, Data: []byte(s)}
	}
	return &replication.Change{Relation: memItems, Kind: replication.Insert,
		CommitTime: time.Date(2025, 11, 19, 0, 22, 40, 877_000_000, time.UTC),
		Cursor:     replication.Cursor{LSN: 0x1A2B3C8, Ordinal: 1},
		New:        []replication.Value{text(strconv.Itoa(id)), text(strconv.Itoa(room)), text("item " + strconv.Itoa(id))}}
}

func mustRegister(tb testing.TB, d *Dispatcher, sink Sink, bindings ...Binding) []uint64 {
	tb.Helper()
	ids, err := registerBindings(d, sink, bindings...)
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

func registerBindings(d *Dispatcher, sink Sink, bindings ...Binding) ([]uint64, error) {
	ids := make([]uint64, len(bindings))
	specs := make([]spec, len(bindings))
	errs := make([]error, len(bindings))
	for i, b := range bindings {
		ids[i] = d.lastID.Add(1)
		specs[i], errs[i] = parseBinding(b, filter.Limits{})
	}
	d.register(sink, ids, specs, errs, nil, nil)
	return ids, errors.Join(errs...)
}

// countSink keeps nothing but counts, so that it allocates nothing itself.
type countSink struct {
	calls, ids int
	last       []byte
}

func (c *countSink) DeliverChange(ids []uint64, data []byte) {
	c.calls++
	c.ids += len(ids)
	c.last = data
}

// newMemDispatcher returns a dispatcher with n sinks on memItems. shared:
// every sink binds room=eq.1 (plus INSERT on the table when two is set);
// otherwise sink i binds id=eq.i.
func newMemDispatcher(tb testing.TB, n int, shared, two bool) (*Dispatcher, []*countSink) {
	d := New(Config{})
	if err := d.HandleRelation(context.Background(), memItems); err != nil {
		tb.Fatal(err)
	}
	sinks := make([]*countSink, n)
	for i := range sinks {
		sinks[i] = &countSink{}
		b := Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"}
		if !shared {
			b.Filter = "id=eq." + strconv.Itoa(i)
		}
		bindings := []Binding{b}
		if two {
			bindings = append(bindings, Binding{Event: "INSERT", Schema: "public", Table: "items"})
		}
		mustRegister(tb, d, sinks[i], bindings...)
	}
	return d, sinks
}

func TestHandleChangeAllocs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		sinks       int
		shared, two bool
	}{{1, true, false}, {1000, true, false}, {1, true, true}, {1000, true, true}, {1000, false, false}} {
		t.Run(fmt.Sprintf("sinks=%d/shared=%v/two=%v", tc.sinks, tc.shared, tc.two), func(t *testing.T) {
			d, sinks := newMemDispatcher(t, tc.sinks, tc.shared, tc.two)
			ch := memInsert(tc.sinks/2, 1)
			const runs = 100
			allocs := testing.AllocsPerRun(runs, func() { _ = d.HandleChange(ctx, ch) })
			if allocs > 1 {
				t.Errorf("HandleChange: %v allocations per change, want at most 1 (the shared data)", allocs)
			}
			perSink := 1
			if tc.two {
				perSink = 2
			}
			for i, s := range sinks {
				wantCalls := runs + 1 // AllocsPerRun warms up once
				if !tc.shared && i != tc.sinks/2 {
					wantCalls = 0
				}
				if s.calls != wantCalls || s.ids != wantCalls*perSink {
					t.Fatalf("sink %d: %d calls with %d ids, want %d calls with %d ids each", i, s.calls, s.ids, wantCalls, perSink)
				}
				if wantCalls > 0 && &s.last[0] != &sinks[tc.sinks/2].last[0] {
					t.Fatalf("sink %d got its own data slice", i)
				}
			}
			// A change nobody wants costs nothing.
			miss := memInsert(-1, 2)
			if tc.two {
				miss.Kind = replication.Delete
				miss.Old, miss.New = miss.New, nil
			}
			if allocs := testing.AllocsPerRun(runs, func() { _ = d.HandleChange(ctx, miss) }); allocs != 0 {
				t.Errorf("unmatched change: %v allocations, want 0", allocs)
			}
		})
	}
}

func BenchmarkHandleChange(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"shared", "routed"} {
		for _, n := range []int{1, 100, 10_000} {
			b.Run(fmt.Sprintf("%s/sinks=%d", mode, n), func(b *testing.B) {
				d, sinks := newMemDispatcher(b, n, mode == "shared", false)
				ch := memInsert(n/2, 1)
				b.ReportAllocs()
				for b.Loop() {
					_ = d.HandleChange(ctx, ch)
				}
				b.StopTimer()
				delivered := 0
				for _, s := range sinks {
					delivered += s.calls
				}
				b.ReportMetric(float64(delivered)/float64(b.N), "deliveries/op")
			})
		}
	}
}

// tablesOnly is a RowAuthorizer for tests without row security: the
// grants are set by hand, and a row check is a bug.
type tablesOnly struct{ tb testing.TB }

func (a tablesOnly) TableAccess(context.Context, string, []authz.Table) ([]authz.TableAccess, error) {
	a.tb.Error("TableAccess called")
	return nil, errors.New("unexpected")
}

func (a tablesOnly) VisibleKeys(context.Context, authz.Identity, authz.Table, [][]string) ([]bool, error) {
	a.tb.Error("VisibleKeys called for a table without row security")
	return nil, errors.New("unexpected")
}

func (a tablesOnly) VisibleKeysGroups(_ context.Context, ids []authz.Identity, _ authz.Table, _ [][]string, _ []uint32) ([][]bool, []error) {
	a.tb.Error("VisibleKeysGroups called for a table without row security")
	return make([][]bool, len(ids)), make([]error, len(ids))
}

// TestHandleChangeAllocsAuthorized: with Config.Authz, a change to a table
// without row security costs one allocation per distinct column set, not
// per subscriber, and goes through no queue.
func TestHandleChangeAllocsAuthorized(t *testing.T) {
	ctx := context.Background()
	d := New(Config{Authz: tablesOnly{t}})
	defer d.Close()
	if err := d.HandleRelation(ctx, memItems); err != nil {
		t.Fatal(err)
	}
	items := authz.Table{Schema: "public", Name: "items"}
	all := d.internCols(items, []string{"id", "room", "name"})
	some := d.internCols(items, []string{"id", "room"})
	sinks := make([]*countSink, 1000)
	for i := range sinks {
		sinks[i] = &countSink{}
		ids := mustRegister(t, d, sinks[i], Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"})
		cols := all
		if i%2 == 1 {
			cols = some
		}
		d.specs[ids[0]].grant = &grant{tables: map[authz.Table]*tableGrant{items: {cols: cols, pk: []string{"id"}}}}
	}
	ch := memInsert(1, 1)
	const runs = 100
	allocs := testing.AllocsPerRun(runs, func() { _ = d.HandleChange(ctx, ch) })
	if allocs > 2 {
		t.Errorf("HandleChange: %v allocations per change, want at most 2 (one data slice per column set)", allocs)
	}
	for i, s := range sinks {
		if s.calls != runs+1 {
			t.Fatalf("sink %d: %d calls, want %d", i, s.calls, runs+1)
		}
		if same := &s.last[0] == &sinks[i%2].last[0]; !same {
			t.Fatalf("sink %d got its own data slice", i)
		}
	}
	if strings.Contains(string(sinks[1].last), `"item 1"`) || !strings.Contains(string(sinks[0].last), `"item 1"`) {
		t.Errorf("column sets not applied:\n%s\n%s", sinks[0].last, sinks[1].last)
	}
}
