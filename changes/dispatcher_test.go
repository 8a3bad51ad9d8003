package changes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/internal/pgtest"
)

const testSchema = `
	CREATE TABLE items (id int PRIMARY KEY, room int, name text);
	CREATE TABLE rooms (id int PRIMARY KEY, title text);
	CREATE SCHEMA other;
	CREATE TABLE other.things (id int PRIMARY KEY);
	CREATE TABLE secret (id int PRIMARY KEY);
	CREATE PUBLICATION walcast_test FOR TABLE items, rooms, other.things`

// want is one expected delivery: the change's type and table, and which of
// the sink's bindings (by position) it carries the ids of.
type want struct {
	typ, table string
	bindings   []int
}

func TestDelivery(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	for _, tc := range []struct {
		name  string
		sinks map[string][]Binding
		sql   []string
		want  map[string][]want
	}{
		{
			name: "insert update delete reach the right sinks",
			sinks: map[string][]Binding{
				"items": {{Event: "*", Schema: "public", Table: "items"}},
				"rooms": {{Event: "INSERT", Schema: "public", Table: "rooms"}},
			},
			sql: []string{"INSERT INTO items VALUES (1, 1, 'a')", "UPDATE items SET name = 'b'", "DELETE FROM items", "INSERT INTO rooms VALUES (1, 'r')"},
			want: map[string][]want{
				"items": {{"INSERT", "items", []int{0}}, {"UPDATE", "items", []int{0}}, {"DELETE", "items", []int{0}}},
				"rooms": {{"INSERT", "rooms", []int{0}}},
			},
		},
		{
			name: "specific events, any case",
			sinks: map[string][]Binding{"a": {
				{Event: "INSERT", Schema: "public", Table: "items"},
				{Event: "UPDATE", Schema: "public", Table: "items"},
				{Event: "DELETE", Schema: "public", Table: "items"},
				{Event: "update", Schema: "public", Table: "items"},
			}},
			sql:  []string{"INSERT INTO items VALUES (1, 1, 'a')", "UPDATE items SET name = 'b'", "DELETE FROM items"},
			want: map[string][]want{"a": {{"INSERT", "items", []int{0}}, {"UPDATE", "items", []int{1, 3}}, {"DELETE", "items", []int{2}}}},
		},
		{
			name: "bindings of one sink matched together make one delivery",
			sinks: map[string][]Binding{"a": {
				{Event: "*", Schema: "public", Table: "items"},
				{Event: "INSERT", Schema: "public", Table: "items", Filter: "room=eq.1"},
				{Event: "UPDATE", Schema: "public", Table: "items"},
			}},
			sql:  []string{"INSERT INTO items VALUES (1, 1, 'a')", "INSERT INTO items VALUES (2, 2, 'b')", "UPDATE items SET name = 'c' WHERE id = 2"},
			want: map[string][]want{"a": {{"INSERT", "items", []int{0, 1}}, {"INSERT", "items", []int{0}}, {"UPDATE", "items", []int{0, 2}}}},
		},
		{
			name: "filters route to their sinks",
			sinks: map[string][]Binding{
				"room1":  {{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"}},
				"room2":  {{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.2"}},
				"both":   {{Event: "*", Schema: "public", Table: "items", Filter: "room=in.(1,2)"}},
				"name_b": {{Event: "*", Schema: "public", Table: "items", Filter: "room=gte.2,name=like.b%"}},
			},
			sql: []string{"INSERT INTO items VALUES (1, 1, 'a')", "INSERT INTO items VALUES (2, 2, 'b')", "INSERT INTO items VALUES (3, 3, 'bb')"},
			want: map[string][]want{
				"room1":  {{"INSERT", "items", []int{0}}},
				"room2":  {{"INSERT", "items", []int{0}}},
				"both":   {{"INSERT", "items", []int{0}}, {"INSERT", "items", []int{0}}},
				"name_b": {{"INSERT", "items", []int{0}}, {"INSERT", "items", []int{0}}},
			},
		},
		{
			name: "wildcard schema and table",
			sinks: map[string][]Binding{
				"public": {{Event: "INSERT", Schema: "public"}},
				"all":    {{Event: "INSERT", Schema: "*", Table: "*"}},
				"table":  {{Event: "INSERT", Table: "rooms"}},
				"other":  {{Event: "INSERT", Schema: "other", Table: "*"}},
			},
			sql: []string{"INSERT INTO items VALUES (1, 1, 'a')", "INSERT INTO rooms VALUES (1, 'r')", "INSERT INTO other.things VALUES (1)"},
			want: map[string][]want{
				"public": {{"INSERT", "items", []int{0}}, {"INSERT", "rooms", []int{0}}},
				"all":    {{"INSERT", "items", []int{0}}, {"INSERT", "rooms", []int{0}}, {"INSERT", "things", []int{0}}},
				"table":  {{"INSERT", "rooms", []int{0}}},
				"other":  {{"INSERT", "things", []int{0}}},
			},
		},
		{
			name: "an unknown event means *, TRUNCATE is never delivered",
			sinks: map[string][]Binding{
				"truncate": {{Event: "TRUNCATE", Schema: "public", Table: "items"}},
				"bogus":    {{Event: "upsert", Schema: "public", Table: "items"}},
			},
			sql: []string{"INSERT INTO items VALUES (1, 1, 'a')", "TRUNCATE items", "DELETE FROM rooms"},
			want: map[string][]want{
				"truncate": {{"INSERT", "items", []int{0}}},
				"bogus":    {{"INSERT", "items", []int{0}}},
			},
		},
		{
			name: "DELETE filters see the key only under the default replica identity",
			sinks: map[string][]Binding{
				"by_room": {{Event: "DELETE", Schema: "public", Table: "items", Filter: "room=eq.1"}},
				"by_id":   {{Event: "DELETE", Schema: "public", Table: "items", Filter: "id=eq.1"}},
			},
			sql:  []string{"INSERT INTO items VALUES (1, 1, 'a')", "DELETE FROM items"},
			want: map[string][]want{"by_id": {{"DELETE", "items", []int{0}}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.exec(t, "TRUNCATE items, rooms, other.things")
			sinks := map[string]*recorder{}
			ids := map[string][]uint64{}
			for name, bindings := range tc.sinks {
				sinks[name] = &recorder{}
				ids[name] = f.subscribe(t, sinks[name], bindings...)
			}
			defer func() {
				for _, s := range sinks {
					f.d.Unsubscribe(s)
				}
			}()
			f.exec(t, tc.sql...)
			f.sync(t)
			for name, s := range sinks {
				got := s.deliveries(t)
				if len(got) != len(tc.want[name]) {
					t.Errorf("sink %s: got %d deliveries, want %d: %s", name, len(got), len(tc.want[name]), describe(t, got))
					continue
				}
				for i, w := range tc.want[name] {
					d := decode(t, got[i].data)
					var wantIDs []uint64
					for _, b := range w.bindings {
						wantIDs = append(wantIDs, ids[name][b])
					}
					gotIDs := slices.Sorted(slices.Values(got[i].ids))
					if d.Type != w.typ || d.Table != w.table || !slices.Equal(gotIDs, wantIDs) {
						t.Errorf("sink %s delivery %d: %s %s ids %v, want %s %s ids %v", name, i, d.Type, d.Table, gotIDs, w.typ, w.table, wantIDs)
					}
				}
			}
		})
	}
}

func describe(t *testing.T, ds []delivery) string {
	var b strings.Builder
	for _, d := range ds {
		x := decode(t, d.data)
		fmt.Fprintf(&b, "[%s %s %v] ", x.Type, x.Table, d.ids)
	}
	return b.String()
}

// TestDataShape checks the delivered data object and that sinks share it:
// one encoding per change, whatever the filters that matched.
func TestDataShape(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	a, b, c, all := &recorder{}, &recorder{}, &recorder{}, &recorder{}
	f.subscribe(t, a, Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.7"})
	f.subscribe(t, b, Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.7"})
	f.subscribe(t, c, Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=gte.7"})
	f.subscribe(t, all, Binding{Event: "*", Schema: "public", Table: "items"})
	f.exec(t, "INSERT INTO items VALUES (1, 7, 'x')", "UPDATE items SET name = 'y'", "DELETE FROM items")
	f.sync(t)
	// The DELETE's old row holds only the key: the room filters miss it.
	da, db, dc, dall := a.deliveries(t), b.deliveries(t), c.deliveries(t), all.deliveries(t)
	if len(da) != 2 || len(db) != 2 || len(dc) != 2 || len(dall) != 3 {
		t.Fatalf("got %d, %d, %d, %d deliveries, want 2, 2, 2, 3", len(da), len(db), len(dc), len(dall))
	}
	for i := range 2 {
		p := &dall[i].data[0]
		if &da[i].data[0] != p || &db[i].data[0] != p || &dc[i].data[0] != p {
			t.Errorf("change %d: sinks got different data slices; want one shared encoding", i)
		}
	}
	for i, w := range []struct {
		typ               string
		record, oldRecord string
	}{
		{"INSERT", `{"id":1,"name":"x","room":7}`, ""},
		{"UPDATE", `{"id":1,"name":"y","room":7}`, `{"id":1}`},
		{"DELETE", "", `{"id":1}`},
	} {
		d := decode(t, dall[i].data)
		if d.Schema != "public" || d.Table != "items" || d.Type != w.typ || d.Errors != nil || len(d.Columns) != 3 ||
			len(d.CommitTimestamp) != len("2025-11-19T00:22:40.877Z") || d.Cursor == "" {
			t.Errorf("change %d: %s", i, dall[i].data)
		}
		if got := jsonOf(d.Record); got != w.record {
			t.Errorf("change %d: record %s, want %s", i, got, w.record)
		}
		if got := jsonOf(d.OldRecord); got != w.oldRecord {
			t.Errorf("change %d: old_record %s, want %s", i, got, w.oldRecord)
		}
	}
}

func jsonOf(m *map[string]any) string {
	if m == nil {
		return ""
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range *m {
			if !yield(k) {
				return
			}
		}
	})
	var parts []string
	for _, k := range keys {
		v := (*m)[k]
		if s, ok := v.(string); ok {
			v = fmt.Sprintf("%q", s)
		}
		parts = append(parts, fmt.Sprintf("%q:%v", k, v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestUnsubscribe(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	a, b := &recorder{}, &recorder{}
	f.subscribe(t, a, Binding{Event: "*", Schema: "public", Table: "items"}, Binding{Event: "INSERT", Schema: "public", Table: "items"})
	f.subscribe(t, b, Binding{Event: "*", Schema: "public", Table: "items"})
	f.exec(t, "INSERT INTO items VALUES (1, 1, 'a')")
	f.sync(t)
	f.d.Unsubscribe(a)
	f.d.Unsubscribe(a)           // twice: no-op
	f.d.Unsubscribe(&recorder{}) // never subscribed: no-op
	f.exec(t, "INSERT INTO items VALUES (2, 1, 'b')")
	f.sync(t)
	if got := len(a.deliveries(t)); got != 1 {
		t.Errorf("unsubscribed sink got %d deliveries, want 1 (before Unsubscribe)", got)
	}
	if got := len(b.deliveries(t)); got != 2 {
		t.Errorf("other sink got %d deliveries, want 2", got)
	}
	// A sink may subscribe again after leaving.
	ids := f.subscribe(t, a, Binding{Event: "INSERT", Schema: "public", Table: "items"})
	f.exec(t, "INSERT INTO items VALUES (3, 1, 'c')")
	f.sync(t)
	got := a.deliveries(t)
	if len(got) != 2 || !slices.Equal(got[1].ids, ids) {
		t.Errorf("resubscribed sink got %s, want a second delivery with ids %v", describe(t, got), ids)
	}
}

// reentrant unsubscribes itself from inside DeliverChange: sinks are called
// without the dispatcher's lock.
type reentrant struct {
	recorder
	d *Dispatcher
}

func (r *reentrant) DeliverChange(ids []uint64, data []byte) {
	r.recorder.DeliverChange(ids, data)
	r.d.Unsubscribe(r)
}

func TestSinkMayCallBack(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	r := &reentrant{d: f.d}
	f.subscribe(t, r, Binding{Event: "INSERT", Schema: "public", Table: "items"})
	f.exec(t, "INSERT INTO items VALUES (1, 1, 'a')", "INSERT INTO items VALUES (2, 1, 'b')")
	f.sync(t)
	if got := len(r.deliveries(t)); got != 1 {
		t.Errorf("got %d deliveries, want 1 (the sink unsubscribed on the first)", got)
	}
}

func TestSubscribeRefused(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	const unable = "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: "
	items := Binding{Event: "*", Schema: "public", Table: "items"}
	rooms := Binding{Event: "INSERT", Schema: "public", Table: "rooms"}
	for _, tc := range []struct {
		name     string
		bindings []Binding
		refused  []int
		errText  []string // substrings of the error, in order
		exact    string   // the whole error, when set
	}{
		{name: "table not in the publication", bindings: []Binding{{Event: "*", Schema: "public", Table: "secret"}},
			refused: []int{0}, exact: unable + "[event: *, schema: public, table: secret, filters: []]"},
		{name: "no such table", bindings: []Binding{{Event: "insert", Schema: "public", Table: "nope", Filter: "id=eq.1"}},
			refused: []int{0}, exact: unable + "[event: INSERT, schema: public, table: nope, filters: id=eq.1]"},
		{name: "no such schema", bindings: []Binding{{Event: "DELETE", Schema: "nope"}},
			refused: []int{0}, exact: unable + "[event: DELETE, schema: nope, table: *, filters: []]"},
		{name: "no schema nor table", bindings: []Binding{{Event: "*"}},
			refused: []int{0}, errText: []string{"No subscription params provided"}},
		{name: "unknown column", bindings: []Binding{{Event: "*", Schema: "public", Table: "items", Filter: "nope=eq.1"}},
			refused: []int{0}, errText: []string{"invalid column for filter nope", `no column "nope"`}},
		{name: "unknown operator", bindings: []Binding{{Event: "*", Schema: "public", Table: "items", Filter: "room=foo.1"}},
			refused: []int{0}, errText: []string{`unknown operator "foo"`, `column "room"`}},
		{name: "value of the wrong type", bindings: []Binding{{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.abc"}},
			refused: []int{0}, errText: []string{`column "room"`, "int4"}},
		{name: "like on a number", bindings: []Binding{{Event: "*", Schema: "public", Table: "items", Filter: "room=like.1%"}},
			refused: []int{0}, errText: []string{"room", "like"}},
		{name: "filter must fit every table a wildcard covers", bindings: []Binding{{Event: "*", Schema: "public", Filter: "room=eq.1"}},
			refused: []int{0}, errText: []string{"invalid column for filter room", "has no column"}},
		{name: "the others stay active", bindings: []Binding{items, {Event: "*", Schema: "public", Table: "items", Filter: "nope=eq.1"}, rooms, {Event: "*", Schema: "public", Table: "secret"}},
			refused: []int{1, 3}, errText: []string{"invalid column for filter nope", "; ", unable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.exec(t, "TRUNCATE items, rooms")
			s := &recorder{}
			ids, err := f.d.Subscribe(context.Background(), s, tc.bindings)
			defer f.d.Unsubscribe(s)
			if len(ids) != len(tc.bindings) || slices.Contains(ids, 0) {
				t.Fatalf("ids %v for %d bindings", ids, len(tc.bindings))
			}
			if got := refusedIndexes(t, err); !slices.Equal(got, tc.refused) {
				t.Fatalf("refused %v (%v), want %v", got, err, tc.refused)
			}
			if tc.exact != "" && err.Error() != tc.exact {
				t.Errorf("error\n%s\nwant\n%s", err, tc.exact)
			}
			rest := err.Error()
			for _, s := range tc.errText {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Errorf("error %q lacks %q", err, s)
					break
				}
				rest = rest[i+len(s):]
			}
			// The accepted bindings deliver; the refused ones never do.
			f.exec(t, "INSERT INTO items VALUES (1, 1, 'a')", "INSERT INTO rooms VALUES (1, 'r')")
			f.sync(t)
			var wantIDs []uint64
			for i, id := range ids {
				if !slices.Contains(tc.refused, i) {
					wantIDs = append(wantIDs, id)
				}
			}
			var gotIDs []uint64
			for _, d := range s.deliveries(t) {
				gotIDs = append(gotIDs, d.ids...)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("delivered ids %v, want %v", gotIDs, wantIDs)
			}
		})
	}
}

func TestSubscribeAllTablesPublication(t *testing.T) {
	f := newFixture(t, `CREATE TABLE items (id int PRIMARY KEY); CREATE PUBLICATION walcast_test FOR ALL TABLES`, Config{})
	s := &recorder{}
	ids := f.subscribe(t, s, Binding{Event: "*", Schema: "public", Table: "items", Filter: "id=gt.1"})
	f.exec(t, "INSERT INTO items VALUES (1), (2)", "CREATE TABLE later (id int PRIMARY KEY)")
	// A table created after the stream started is published and accepted.
	later := f.subscribe(t, s, Binding{Event: "INSERT", Table: "later"})
	f.exec(t, "INSERT INTO later VALUES (1)")
	f.sync(t)
	got := s.deliveries(t)
	if len(got) != 2 || !slices.Equal(got[0].ids, ids) || !slices.Equal(got[1].ids, later) {
		t.Errorf("got %s, want id 2 of items then later", describe(t, got))
	}
}

func TestErrorPayloadTooLarge(t *testing.T) {
	f := newFixture(t, testSchema, Config{MaxRecordBytes: 400})
	s := &recorder{}
	f.subscribe(t, s, Binding{Event: "*", Schema: "public", Table: "items"})
	long := strings.Repeat("z", 300)
	f.exec(t, "INSERT INTO items VALUES (1, 1, 'short')", "INSERT INTO items VALUES (2, 1, '"+long+"')",
		"UPDATE items SET room = 2 WHERE id = 2")
	f.sync(t)
	got := s.deliveries(t)
	if len(got) != 3 {
		t.Fatalf("got %d deliveries, want 3", len(got))
	}
	for i, w := range []struct {
		record string
		errors []string
	}{
		{`{"id":1,"name":"short","room":1}`, nil},
		{`{"id":2,"room":1}`, []string{"Error 413: Payload Too Large"}},
		{`{"id":2,"room":2}`, []string{"Error 413: Payload Too Large"}},
	} {
		d := decode(t, got[i].data)
		if rec := jsonOf(d.Record); rec != w.record || !slices.Equal(d.Errors, w.errors) || len(d.Columns) != 3 {
			t.Errorf("change %d: record %s errors %q, want %s %q\n%s", i, rec, d.Errors, w.record, w.errors, got[i].data)
		}
		if len(got[i].data) > 400 {
			t.Errorf("change %d: %d bytes, over the limit", i, len(got[i].data))
		}
	}
}

func TestLive(t *testing.T) {
	url := pgtest.NewDatabase(t)
	d := New(Config{Publication: testPublication})
	if d.Live() {
		t.Fatal("live before any stream")
	}
	short := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		return d.WaitLive(ctx)
	}
	if err := short(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitLive before the stream = %v, want deadline exceeded", err)
	}
	// A waiter blocked before the stream starts is released when it goes live.
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		waited <- d.WaitLive(ctx)
	}()
	stop := startStream(t, url, d)
	if err := <-waited; err != nil {
		t.Fatalf("WaitLive: %v", err)
	}
	if !d.Live() {
		t.Error("not live while streaming")
	}
	stop()
	if d.Live() {
		t.Error("live after the stream stopped")
	}
	if err := short(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitLive after the stream stopped = %v, want deadline exceeded", err)
	}
}

// TestSubscribeBindsFilteredTable: a filtered binding binds its table in
// the index from the catalog, so that the stream's first Relation message
// for it does not compile every subscription again, and changes still
// match after that message arrives.
func TestSubscribeBindsFilteredTable(t *testing.T) {
	f := newFixture(t, testSchema, Config{})
	if f.d.index.Bound("public", "items") {
		t.Fatal("items is bound before anything subscribed to it or changed it")
	}
	s := &recorder{}
	f.subscribe(t, s, Binding{Event: "INSERT", Schema: "public", Table: "items", Filter: "room=eq.1"})
	defer f.d.Unsubscribe(s)
	if !f.d.index.Bound("public", "items") {
		t.Fatal("items is not bound after a filtered subscription to it")
	}
	f.exec(t, "INSERT INTO items VALUES (1, 1, 'a'), (2, 2, 'b')")
	f.sync(t)
	got := s.deliveries(t)
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1 (room 1 only)", len(got))
	}
	if rec := decode(t, got[0].data).Record; rec == nil || (*rec)["room"] != float64(1) {
		t.Fatalf("delivered %s, want the row of room 1", got[0].data)
	}
}
