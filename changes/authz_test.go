package changes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/walcast/walcast/authz"
)

const (
	user1 = "00000000-0000-0000-0000-000000000001"
	user2 = "00000000-0000-0000-0000-000000000002"
)

// TestAuthzTables: a table the role may not SELECT is refused when named
// and left out of a schema-wide binding; tables without a primary key,
// or whose key the role cannot read, get Supabase's errors; an unknown
// role and a missing viewer are refused.
func TestAuthzTables(t *testing.T) {
	f := newAuthzFixture(t, `
		CREATE TABLE secret (id int PRIMARY KEY, v text);
		REVOKE ALL ON secret FROM anon, PUBLIC;
		CREATE TABLE open (id int PRIMARY KEY, v text);
		GRANT SELECT ON open TO anon;
		CREATE TABLE nokey (v text);
		GRANT SELECT ON nokey TO anon;
		CREATE TABLE hiddenkey (id int PRIMARY KEY, v text);
		GRANT SELECT (v) ON hiddenkey TO anon;
		CREATE PUBLICATION walcast_test FOR TABLE secret, open, nokey, hiddenkey`)
	anon := viewer("anon", "", nil)
	ctx := context.Background()
	for _, tc := range []struct {
		table, want string
	}{
		{"secret", `Error 401: Unauthorized: role "anon" may not SELECT from public.secret`},
		{"nokey", "Error 400: Bad Request, no primary key"},
		{"hiddenkey", "Error 401: Unauthorized"},
	} {
		_, err := f.d.Subscribe(ctx, &recorder{}, bind(anon, Binding{Event: "*", Schema: "public", Table: tc.table}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("anon subscribing to %s: %v, want %q", tc.table, err, tc.want)
		}
	}
	_, err := f.d.Subscribe(ctx, &recorder{}, bind(viewer("nosuchrole", "", nil), Binding{Event: "*", Schema: "public", Table: "open"}))
	if !errors.Is(err, authz.ErrUnknownRole) {
		t.Errorf("unknown role: %v, want ErrUnknownRole", err)
	}
	_, err = f.d.Subscribe(ctx, &recorder{}, []Binding{{Event: "*", Schema: "public", Table: "open"}})
	if !errors.Is(err, errNoViewer) {
		t.Errorf("no viewer: %v, want errNoViewer", err)
	}

	wide, named := &recorder{}, &recorder{}
	f.subscribe(t, wide, bind(anon, Binding{Event: "*", Schema: "public"})...)
	// The refused binding does not take the valid one of the call with it.
	_, err = f.d.Subscribe(ctx, named, bind(anon, Binding{Event: "*", Schema: "public", Table: "secret"}, Binding{Event: "*", Schema: "public", Table: "open"}))
	if got := refusedIndexes(t, err); !slices.Equal(got, []int{0}) {
		t.Errorf("refused %v, want [0]", got)
	}
	f.exec(t, "INSERT INTO secret VALUES (1, 's')", "INSERT INTO open VALUES (1, 'o')", "INSERT INTO hiddenkey VALUES (1, 'h')")
	f.sync(t)
	for name, r := range map[string]*recorder{"schema-wide": wide, "named": named} {
		got := r.received(t)
		if len(got) != 1 || got[0].Table != "open" {
			t.Errorf("%s anon subscriber received %+v, want only the open row", name, got)
		}
	}
}

// TestAuthzRowSecurity: under USING (user_id = auth.uid()) each user
// receives only their rows, anon none, service_role all; DELETE reaches
// every subscriber with its old_record cut to the primary key; a new
// viewer (token refresh) changes what a subscription receives, keeping
// its ids.
func TestAuthzRowSecurity(t *testing.T) {
	f := newAuthzFixture(t, `
		CREATE TABLE notes (id int PRIMARY KEY, user_id uuid, body text);
		ALTER TABLE notes REPLICA IDENTITY FULL;
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes FOR SELECT USING (user_id = auth.uid());
		GRANT SELECT ON notes TO anon, authenticated, service_role;
		CREATE PUBLICATION walcast_test FOR TABLE notes`)
	subs := map[string]*Viewer{
		"u1":      viewer("authenticated", user1, nil),
		"u2":      viewer("authenticated", user2, nil),
		"anon":    viewer("anon", "", nil),
		"service": serviceViewer,
	}
	recs := map[string]*recorder{}
	for name, v := range subs {
		recs[name] = &recorder{}
		f.subscribe(t, recs[name], bind(v, Binding{Event: "*", Schema: "public", Table: "notes"})...)
	}
	late := &recorder{}
	lateIDs := f.subscribe(t, late, bind(viewer("anon", "", nil), Binding{Event: "*", Schema: "public", Table: "notes"})...)
	f.exec(t, `INSERT INTO notes VALUES (1, '`+user1+`', 'one'), (2, '`+user2+`', 'two')`,
		`UPDATE notes SET body = 'uno' WHERE id = 1`)
	// Rows are judged when checked, as Supabase does: a row deleted before
	// its INSERT is checked is not seen. Wait for the checks first.
	f.sync(t)
	f.exec(t, `DELETE FROM notes WHERE id = 2`)
	f.sync(t)
	want := map[string][]string{
		"u1":      {"INSERT 1", "UPDATE 1", "DELETE 2"},
		"u2":      {"INSERT 2", "DELETE 2"},
		"anon":    {"DELETE 2"},
		"service": {"INSERT 1", "INSERT 2", "UPDATE 1", "DELETE 2"},
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		var got []string
		for _, r := range recs[name].received(t) {
			rec := r.Record
			if r.Type == "DELETE" {
				rec = r.OldRecord
				keys := slices.Sorted(maps.Keys(rec))
				if name != "service" && !slices.Equal(keys, []string{"id"}) {
					t.Errorf("%s: DELETE old_record %v, want the primary key only", name, rec)
				}
				if name == "service" && len(keys) != 3 {
					t.Errorf("service_role: DELETE old_record %v, want the whole row", rec)
				}
			}
			got = append(got, fmt.Sprintf("%s %d", r.Type, recordID(t, rec)))
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s received %v, want %v", name, got, want[name])
		}
	}

	// A refreshed token as user1: the same binding now sees user1's rows.
	if err := f.d.SetViewer(context.Background(), late, viewer("authenticated", user1, nil)); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `INSERT INTO notes VALUES (3, '`+user1+`', 'three'), (4, '`+user2+`', 'four')`)
	f.sync(t)
	got := late.deliveries(t)
	if len(got) != 2 || decode(t, got[0].data).Type != "DELETE" || !slices.Equal(got[1].ids, lateIDs) {
		t.Fatalf("after SetViewer: %d deliveries, want the DELETE then row 3 with ids %v", len(got), lateIDs)
	}
	if r := late.received(t)[1]; recordID(t, r.Record) != 3 {
		t.Errorf("after SetViewer received %v, want row 3", r.Record)
	}
	// A token of a role that may not read the table drops the binding.
	err := f.d.SetViewer(context.Background(), late, viewer("walcast_no_such_role", "", nil))
	if !errors.Is(err, authz.ErrUnknownRole) {
		t.Errorf("SetViewer to an unknown role: %v", err)
	}
	f.exec(t, `INSERT INTO notes VALUES (5, '`+user1+`', 'five')`)
	f.sync(t)
	if n := len(late.deliveries(t)); n != 2 {
		t.Errorf("a dropped binding still received changes: %d deliveries", n)
	}
}

// TestAuthzColumns: columns the role may not read are left out of record,
// old_record and columns; the change is encoded once per column set.
func TestAuthzColumns(t *testing.T) {
	f := newAuthzFixture(t, `
		CREATE TABLE docs (id int PRIMARY KEY, title text, secret text);
		ALTER TABLE docs REPLICA IDENTITY FULL;
		GRANT SELECT (id, title) ON docs TO anon;
		GRANT SELECT ON docs TO service_role;
		CREATE PUBLICATION walcast_test FOR TABLE docs`)
	a1, a2, full := &recorder{}, &recorder{}, &recorder{}
	f.subscribe(t, a1, bind(viewer("anon", "", nil), Binding{Event: "*", Schema: "public", Table: "docs"})...)
	f.subscribe(t, a2, bind(viewer("anon", "", map[string]any{"x": 1}), Binding{Event: "*", Schema: "public", Table: "docs"})...)
	f.subscribe(t, full, bind(serviceViewer, Binding{Event: "*", Schema: "public", Table: "docs"})...)
	f.exec(t, "INSERT INTO docs VALUES (1, 't', 's')", "UPDATE docs SET title = 'u'", "DELETE FROM docs")
	f.sync(t)
	for _, r := range a1.received(t) {
		for _, rec := range []map[string]any{r.Record, r.OldRecord} {
			if rec == nil {
				continue
			}
			if keys := slices.Sorted(maps.Keys(rec)); !slices.Equal(keys, []string{"id", "title"}) {
				t.Errorf("anon %s: record %v, want id and title only", r.Type, rec)
			}
		}
		if len(r.Columns) != 2 {
			t.Errorf("anon %s: columns %v, want id and title", r.Type, r.Columns)
		}
	}
	if n := len(a1.received(t)); n != 3 {
		t.Errorf("anon received %d changes, want 3", n)
	}
	for i, d := range a1.deliveries(t) {
		if other := a2.deliveries(t); len(other) <= i || &other[i].data[0] != &d.data[0] {
			t.Errorf("change %d encoded again for an equal column set", i)
		}
	}
	for _, r := range full.received(t) {
		if r.Record != nil && len(r.Record) != 3 {
			t.Errorf("service_role %s: record %v, want every column", r.Type, r.Record)
		}
	}
}

// TestAuthzResume: a subscription that resumes after a cursor replays
// only what its viewer may see, as the live path delivers it.
func TestAuthzResume(t *testing.T) {
	f := newAuthzFixture(t, `
		CREATE TABLE notes (id int PRIMARY KEY, user_id uuid, body text, secret text);
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes FOR SELECT USING (user_id = auth.uid());
		GRANT SELECT (id, user_id, body) ON notes TO authenticated;
		CREATE PUBLICATION walcast_test FOR TABLE notes`)
	f.sync(t)
	after := f.d.Head()
	f.exec(t, `INSERT INTO notes VALUES (1, '`+user1+`', 'one', 's'), (2, '`+user2+`', 'two', 's'), (3, '`+user1+`', 'three', 's')`,
		`DELETE FROM notes WHERE id = 3`)
	f.sync(t)
	r := &recorder{}
	_, res, err := f.d.SubscribeAfter(context.Background(), r, bind(viewer("authenticated", user1, nil), Binding{Event: "*", Schema: "public", Table: "notes"}), after)
	if err != nil || res.Gap() != nil {
		t.Fatalf("SubscribeAfter: %v, gap %v", err, res.Gap())
	}
	if err := res.Run(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range r.received(t) {
		rec := x.Record
		if x.Type == "DELETE" {
			rec = x.OldRecord
		} else if _, leaked := rec["secret"]; leaked {
			t.Errorf("replayed %s carries a column the role may not read: %v", x.Type, rec)
		}
		got = append(got, fmt.Sprintf("%s %d", x.Type, recordID(t, rec)))
	}
	// Row 3 was deleted before the replay checked it: as on the live path,
	// a row is judged as it is when checked.
	if want := []string{"INSERT 1", "DELETE 3"}; !slices.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
}

// TestAuthzCheckFails: a group whose policy raises an error (a sub that
// is not a uuid under auth.uid()) receives nothing; the others are not
// affected.
func TestAuthzCheckFails(t *testing.T) {
	f := newAuthzFixture(t, `
		CREATE TABLE notes (id int PRIMARY KEY, user_id uuid, body text);
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes FOR SELECT USING (user_id = auth.uid());
		GRANT SELECT ON notes TO authenticated;
		CREATE PUBLICATION walcast_test FOR TABLE notes`)
	bad, good := &recorder{}, &recorder{}
	f.subscribe(t, bad, bind(viewer("authenticated", "not-a-uuid", nil), Binding{Event: "*", Schema: "public", Table: "notes"})...)
	f.subscribe(t, good, bind(viewer("authenticated", user1, nil), Binding{Event: "*", Schema: "public", Table: "notes"})...)
	f.exec(t, `INSERT INTO notes VALUES (1, '`+user1+`', 'one')`)
	f.sync(t)
	if got := bad.received(t); len(got) != 0 {
		t.Errorf("a failing check delivered %v", got)
	}
	if got := good.received(t); len(got) != 1 || recordID(t, got[0].Record) != 1 {
		t.Errorf("the other group received %v, want row 1", got)
	}
	if n := f.d.RowChecks().Failures.Load(); n == 0 {
		t.Error("the failed check was not counted")
	}
}
