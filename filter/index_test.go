package filter

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/replication"
)

func change(rel *replication.Relation, kind replication.Kind, newRow, oldRow map[string]string) *replication.Change {
	ch := &replication.Change{Relation: rel, Kind: kind}
	if newRow != nil {
		ch.New = row(rel, newRow)
	}
	if oldRow != nil {
		ch.Old = row(rel, oldRow)
	}
	return ch
}

func matchIDs(ix *Index, ch *replication.Change) []uint64 {
	got := ix.Match(ch, nil)
	slices.Sort(got)
	return got
}

func mustAdd(t *testing.T, ix *Index, sub Subscription, rel *replication.Relation) {
	t.Helper()
	if err := ix.Add(sub, rel); err != nil {
		t.Fatalf("Add(%+v): %v", sub, err)
	}
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		in   string
		want EventMask
	}{
		{"*", EventInsert | EventUpdate | EventDelete},
		{"INSERT", EventInsert}, {"update", EventUpdate}, {"Delete", EventDelete}, {"TRUNCATE", EventTruncate},
	}
	for _, tc := range tests {
		got, err := ParseEvent(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseEvent(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseEvent("upsert"); err == nil || !strings.Contains(err.Error(), `invalid event "upsert"`) {
		t.Errorf("ParseEvent(upsert) error = %v", err)
	}
	if EventAll.Has(replication.Truncate) {
		t.Error("* includes TRUNCATE")
	}
	if got := (EventInsert | EventTruncate).String(); got != "INSERT|TRUNCATE" {
		t.Errorf("String = %q", got)
	}
}

func TestIndexEventsAndRows(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: "i4=eq.7"}, rel)
	mustAdd(t, ix, Subscription{ID: 2, Events: EventInsert, Schema: "public", Table: "t", Filter: "i4=eq.7"}, rel)
	mustAdd(t, ix, Subscription{ID: 3, Events: EventDelete, Schema: "public", Table: "t", Filter: "txt=eq.gone"}, rel)
	mustAdd(t, ix, Subscription{ID: 4, Events: EventAll, Schema: "public", Table: "t"}, rel)
	mustAdd(t, ix, Subscription{ID: 5, Events: EventTruncate | EventInsert, Schema: "public", Table: "t"}, rel)
	mustAdd(t, ix, Subscription{ID: 6, Events: EventTruncate, Schema: "public", Table: "t", Filter: "i4=eq.7"}, rel)
	mustAdd(t, ix, Subscription{ID: 7, Events: EventUpdate, Schema: "public", Table: "t", Filter: "i4=gt.5"}, rel)
	mustAdd(t, ix, Subscription{ID: 8, Events: EventDelete, Schema: "public", Table: "t", Filter: "txt=is.null"}, rel)

	keyOnly := change(rel, replication.Delete, nil, map[string]string{"id": "1", "i4": null, "txt": null})
	keyOnly.OldKeyOnly = true

	tests := []struct {
		name string
		ch   *replication.Change
		want []uint64
	}{
		{"insert", change(rel, replication.Insert, map[string]string{"i4": "7"}, nil), []uint64{1, 2, 4, 5}},
		{"insert other value", change(rel, replication.Insert, map[string]string{"i4": "8"}, nil), []uint64{4, 5}},
		{"update matches new row", change(rel, replication.Update, map[string]string{"i4": "7"}, map[string]string{"i4": "1"}), []uint64{1, 4, 7}},
		{"update old value does not count", change(rel, replication.Update, map[string]string{"i4": "1"}, map[string]string{"i4": "7"}), []uint64{4}},
		{"delete matches old row", change(rel, replication.Delete, nil, map[string]string{"id": "1", "i4": "7", "txt": "gone"}), []uint64{1, 3, 4}},
		{"delete key-only old row", change(rel, replication.Delete, nil, map[string]string{"id": "1"}), []uint64{4}},
		{"delete without old row", change(rel, replication.Delete, nil, nil), []uint64{4}},
		{"delete key-only old row with NULLs", keyOnly, []uint64{4}},
		{"delete full old row with NULLs", change(rel, replication.Delete, nil, map[string]string{"id": "1", "i4": null, "txt": null}), []uint64{4, 8}},
		{"truncate", &replication.Change{Relation: rel, Kind: replication.Truncate}, []uint64{5}},
		{"unknown relation", change(relation(9, "public", "other", testCols), replication.Insert, map[string]string{"i4": "7"}, nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, matchIDs(ix, tc.ch)); diff != "" {
				t.Fatalf("Match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIndexRemove(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	// More members than posMapMin, so both removal paths run.
	for id := uint64(1); id <= 40; id++ {
		mustAdd(t, ix, Subscription{ID: id, Events: EventAll, Table: "t", Filter: "i4=eq.7"}, rel)
	}
	mustAdd(t, ix, Subscription{ID: 100, Events: EventAll, Table: "t", Filter: "txt=like.a%"}, rel)
	mustAdd(t, ix, Subscription{ID: 101, Events: EventAll, Table: "t", Filter: "txt=like.b%"}, rel)
	ins := change(rel, replication.Insert, map[string]string{"i4": "7", "txt": "abc"}, nil)
	for id := uint64(1); id <= 40; id += 2 {
		ix.Remove(id)
	}
	ix.Remove(12345) // unknown: ignored
	var want []uint64
	for id := uint64(2); id <= 40; id += 2 {
		want = append(want, id)
	}
	want = append(want, 100)
	if diff := cmp.Diff(want, matchIDs(ix, ins)); diff != "" {
		t.Fatalf("after removing odd IDs (-want +got):\n%s", diff)
	}
	for id := uint64(2); id <= 40; id += 2 {
		ix.Remove(id)
	}
	ix.Remove(100)
	if got := matchIDs(ix, ins); len(got) != 0 {
		t.Fatalf("after removing all: %v", got)
	}
	ri := ix.rels[rel.ID]
	if len(ri.groups) != 1 || len(ri.hashed) != 0 || len(ri.scan) != 1 {
		t.Fatalf("leftovers: %d groups, %d hashed columns, %d scanned", len(ri.groups), len(ri.hashed), len(ri.scan))
	}
	// The ID can be used again.
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: "txt=like.a%"}, rel)
	if diff := cmp.Diff([]uint64{1}, matchIDs(ix, ins)); diff != "" {
		t.Fatalf("re-added (-want +got):\n%s", diff)
	}
}

func TestIndexDedup(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	filters := []string{"i4=eq.7,txt=eq.a", "txt=eq.a,i4=eq.007", "i4=in.(7),txt=eq.a", "txt=eq.a,i4=eq.+7"}
	for i, f := range filters {
		mustAdd(t, ix, Subscription{ID: uint64(i + 1), Events: EventAll, Table: "t", Filter: f}, rel)
	}
	mustAdd(t, ix, Subscription{ID: 10, Events: EventInsert, Table: "t", Filter: "num=gt.1"}, rel)
	mustAdd(t, ix, Subscription{ID: 11, Events: EventUpdate, Table: "t", Filter: "num=gt.1.0"}, rel)
	ri := ix.rels[rel.ID]
	if len(ri.groups) != 2 {
		t.Fatalf("%d groups, want 2", len(ri.groups))
	}
	got := matchIDs(ix, change(rel, replication.Insert, map[string]string{"i4": "7", "txt": "a", "num": "2"}, nil))
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 10}, got); diff != "" {
		t.Fatalf("Match (-want +got):\n%s", diff)
	}
}

func TestIndexWildcardsAndBind(t *testing.T) {
	users := relation(1, "public", "users", []colDef{{"id", "int8", pgtype.Int8OID, false}, {"name", "text", pgtype.TextOID, false}})
	orders := relation(2, "public", "orders", []colDef{{"id", "int8", pgtype.Int8OID, false}, {"total", "numeric", pgtype.NumericOID, false}})
	audit := relation(3, "audit", "log", []colDef{{"id", "int8", pgtype.Int8OID, false}, {"name", "text", pgtype.TextOID, false}})

	ix := NewIndex()
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Schema: "*", Table: "*"}, nil)
	mustAdd(t, ix, Subscription{ID: 2, Events: EventAll, Schema: "public"}, nil)                 // table *
	mustAdd(t, ix, Subscription{ID: 3, Events: EventAll, Schema: "*", Filter: "name=eq.x"}, nil) // only tables with name
	mustAdd(t, ix, Subscription{ID: 4, Events: EventAll, Table: "users", Filter: "id=eq.1"}, nil)
	mustAdd(t, ix, Subscription{ID: 5, Events: EventAll, Schema: "*", Table: "log"}, nil)

	ins := func(rel *replication.Relation, vals map[string]string) []uint64 {
		return matchIDs(ix, change(rel, replication.Insert, vals, nil))
	}
	if got := ins(users, map[string]string{"id": "1", "name": "x"}); len(got) != 0 {
		t.Fatalf("matched before Bind: %v", got)
	}
	ix.Bind(users)
	ix.Bind(orders)
	ix.Bind(audit)
	tests := []struct {
		name string
		rel  *replication.Relation
		vals map[string]string
		want []uint64
	}{
		{"users", users, map[string]string{"id": "1", "name": "x"}, []uint64{1, 2, 3, 4}},
		{"users other", users, map[string]string{"id": "2", "name": "y"}, []uint64{1, 2}},
		{"orders (no name column)", orders, map[string]string{"id": "1", "total": "5"}, []uint64{1, 2}},
		{"audit", audit, map[string]string{"id": "1", "name": "x"}, []uint64{1, 3, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ins(tc.rel, tc.vals)); diff != "" {
				t.Fatalf("Match (-want +got):\n%s", diff)
			}
		})
	}

	// A subscription added after Bind is compiled against the bound relation,
	// and its errors are returned even without rel.
	mustAdd(t, ix, Subscription{ID: 6, Events: EventAll, Table: "orders", Filter: "total=gt.4.99"}, nil)
	if err := ix.Add(Subscription{ID: 7, Events: EventAll, Table: "orders", Filter: "name=eq.x"}, nil); err == nil ||
		!strings.Contains(err.Error(), "invalid column for filter name: table public.orders") {
		t.Fatalf("Add with a bad column on a bound table: %v", err)
	}
	mustAdd(t, ix, Subscription{ID: 7, Events: EventAll, Schema: "*", Table: "orders", Filter: "name=eq.x"}, nil) // wildcard: accepted
	if diff := cmp.Diff([]uint64{1, 2, 6}, ins(orders, map[string]string{"id": "1", "total": "5"})); diff != "" {
		t.Fatalf("orders after Add (-want +got):\n%s", diff)
	}

	// The same relation again (a new Relation message, same shape) keeps working.
	users2 := relation(1, "public", "users", []colDef{{"id", "int8", pgtype.Int8OID, false}, {"name", "text", pgtype.TextOID, false}})
	ix.Bind(users2)
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, ins(users2, map[string]string{"id": "1", "name": "x"})); diff != "" {
		t.Fatalf("after rebinding (-want +got):\n%s", diff)
	}
	// A column changed type: filters are compiled again.
	users3 := relation(1, "public", "users", []colDef{{"id", "text", pgtype.TextOID, false}, {"name", "text", pgtype.TextOID, false}})
	ix.Bind(users3)
	if diff := cmp.Diff([]uint64{1, 2, 3}, ins(users3, map[string]string{"id": "01", "name": "x"})); diff != "" {
		t.Fatalf("after a type change (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, ins(users3, map[string]string{"id": "1", "name": "x"})); diff != "" {
		t.Fatalf("after a type change (-want +got):\n%s", diff)
	}
	// A change carrying a relation of another shape than the bound one
	// matches nothing until it is bound.
	if got := ins(users, map[string]string{"id": "1", "name": "x"}); len(got) != 0 {
		t.Fatalf("stale relation matched %v", got)
	}
	// The table was dropped and created again: new ID, same name.
	users4 := relation(44, "public", "users", []colDef{{"id", "int8", pgtype.Int8OID, false}, {"name", "text", pgtype.TextOID, false}})
	ix.Bind(users4)
	if _, ok := ix.rels[1]; ok {
		t.Fatal("the old relation ID is still bound")
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, ins(users4, map[string]string{"id": "1", "name": "x"})); diff != "" {
		t.Fatalf("after recreation (-want +got):\n%s", diff)
	}
	for id := uint64(1); id <= 7; id++ {
		ix.Remove(id)
	}
	for _, ri := range ix.rels {
		if len(ri.groups) != 0 {
			t.Fatalf("%s.%s keeps %d groups after every subscription left", ri.rel.Schema, ri.rel.Table, len(ri.groups))
		}
	}
}

func TestIndexAddErrors(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t"}, rel)
	tests := []struct {
		name string
		sub  Subscription
		rel  *replication.Relation
		want string
	}{
		{"duplicate", Subscription{ID: 1, Events: EventAll, Table: "t"}, rel, "subscription 1 already exists"},
		{"no events", Subscription{ID: 2, Table: "t"}, rel, "invalid event mask"},
		{"syntax", Subscription{ID: 2, Events: EventAll, Table: "t", Filter: "i4=foo.1"}, nil, `subscription 2: filter "i4=foo.1": unknown operator "foo"`},
		{"column", Subscription{ID: 2, Events: EventAll, Table: "t", Filter: "nope=eq.1"}, rel, "invalid column for filter nope"},
		{"value", Subscription{ID: 2, Events: EventAll, Table: "t", Filter: "i4=eq.x"}, rel, `invalid input for column "i4" (int4)`},
		{"wildcard with rel", Subscription{ID: 2, Events: EventAll, Schema: "*", Table: "*", Filter: "nope=eq.1"}, rel, "invalid column for filter nope"},
		{"wrong relation", Subscription{ID: 2, Events: EventAll, Table: "u"}, rel, "subscription 2 is on public.u, not on public.t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ix.Add(tc.sub, tc.rel)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if len(ix.subs) != 1 {
		t.Fatalf("%d subscriptions registered, want 1 (failed Adds must leave nothing)", len(ix.subs))
	}
}
