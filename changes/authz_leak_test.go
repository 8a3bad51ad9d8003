package changes

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// leakSchema has three tables under row security, each with its kind of
// policy: auth.uid(), a claim, and a membership table; anon may read
// notes (sees nothing under its policy) and room_msgs, not team_docs, and
// no role but service_role may read notes.secret.
const leakSchema = `
	CREATE TABLE notes (id int PRIMARY KEY, owner uuid, body text, secret text);
	ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own ON notes FOR SELECT USING (owner = auth.uid());
	GRANT SELECT (id, owner, body) ON notes TO anon, authenticated;

	CREATE TABLE team_docs (id int PRIMARY KEY, team text, body text);
	ALTER TABLE team_docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY team ON team_docs FOR SELECT TO authenticated USING (team = auth.jwt() ->> 'team');
	GRANT SELECT ON team_docs TO authenticated;
	REVOKE ALL ON team_docs FROM anon, PUBLIC;

	CREATE TABLE members (room int, user_id uuid, PRIMARY KEY (room, user_id));
	GRANT SELECT ON members TO anon, authenticated;
	CREATE TABLE room_msgs (id int PRIMARY KEY, room int, body text);
	ALTER TABLE room_msgs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY member ON room_msgs FOR SELECT USING (
		EXISTS (SELECT 1 FROM members m WHERE m.room = room_msgs.room AND m.user_id = auth.uid()));
	GRANT SELECT ON room_msgs TO anon, authenticated;

	GRANT SELECT ON notes, team_docs, room_msgs, members TO service_role;
	CREATE PUBLICATION walcast_test FOR TABLE notes, team_docs, room_msgs`

var leakTables = []string{"notes", "team_docs", "room_msgs"}

// leakSub is one subscriber of the leak test: a viewer and what it got.
type leakSub struct {
	name    string
	v       *Viewer
	rec     *recorder
	tables  map[string]bool // the tables it may subscribe to
	columns map[string][]string
	seen    int // deliveries already compared
}

// TestAuthzLeak compares what every subscriber receives with what SELECT
// as its role and claims returns, over random traffic on three tables
// with different policies, random users and random membership changes.
// Each round touches a row at most once and waits until everything is
// dispatched before the next, so the state SELECT sees after the round is
// the state the checks saw (see authz's doc on check time). Every INSERT
// and UPDATE a subscriber receives must be of a row it SELECTs, every
// such change must arrive, every DELETE arrives with old_record cut to
// the primary key, and no record carries a column the role cannot read.
// WALCAST_AUTHZ_SEED replays a run.
func TestAuthzLeak(t *testing.T) {
	changes := 10_000
	if testing.Short() {
		changes = 3_000
	}
	seed, _ := strconv.ParseUint(os.Getenv("WALCAST_AUTHZ_SEED"), 10, 64)
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (WALCAST_AUTHZ_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	f := newAuthzFixture(t, leakSchema)

	const users = 6
	uid := func(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1) }
	teams := []string{"red", "blue"}
	var subs []*leakSub
	authCols := map[string][]string{"notes": {"body", "id", "owner"}, "team_docs": {"body", "id", "team"}, "room_msgs": {"body", "id", "room"}}
	add := func(name string, v *Viewer, tables ...string) {
		s := &leakSub{name: name, v: v, rec: &recorder{}, tables: map[string]bool{}, columns: authCols}
		var bs []Binding
		for _, tb := range tables {
			s.tables[tb] = true
			bs = append(bs, Binding{Event: "*", Schema: "public", Table: tb})
		}
		f.subscribe(t, s.rec, bind(v, bs...)...)
		subs = append(subs, s)
	}
	for i := range users {
		v := viewer("authenticated", uid(i), map[string]any{"team": teams[i%2]})
		// Two subscribers per user: one group checks for both.
		add(fmt.Sprintf("user%d", i), v, leakTables...)
		add(fmt.Sprintf("user%d'", i), viewer("authenticated", uid(i), map[string]any{"team": teams[i%2]}), "notes", "room_msgs")
	}
	add("no-sub", viewer("authenticated", "", map[string]any{"team": "red"}), leakTables...)
	add("anon", viewer("anon", "", nil), "notes", "room_msgs")
	svc := &leakSub{name: "service", v: serviceViewer, rec: &recorder{}, tables: map[string]bool{}}
	svc.columns = map[string][]string{"notes": {"body", "id", "owner", "secret"}, "team_docs": authCols["team_docs"], "room_msgs": authCols["room_msgs"]}
	for _, tb := range leakTables {
		svc.tables[tb] = true
	}
	f.subscribe(t, svc.rec, bind(serviceViewer, Binding{Event: "*", Schema: "public"})...)
	subs = append(subs, svc)
	// anon may not subscribe to team_docs at all.
	if _, err := f.d.Subscribe(t.Context(), &recorder{}, bind(viewer("anon", "", nil), Binding{Event: "*", Schema: "public", Table: "team_docs"})); err == nil {
		t.Fatal("anon subscribed to team_docs, which it may not SELECT")
	}

	live := map[string]map[int]bool{}
	for _, tb := range leakTables {
		live[tb] = map[int]bool{}
	}
	nextID := 1
	total, round := 0, 0
	for total < changes {
		round++
		// Membership changes between rounds.
		for range 2 {
			room, u := rng.IntN(4), rng.IntN(users)
			if rng.IntN(2) == 0 {
				f.exec(t, fmt.Sprintf("INSERT INTO members VALUES (%d, '%s') ON CONFLICT DO NOTHING", room, uid(u)))
			} else {
				f.exec(t, fmt.Sprintf("DELETE FROM members WHERE room = %d AND user_id = '%s'", room, uid(u)))
			}
		}
		touched := map[string]map[int]string{} // table → id → kind
		for _, tb := range leakTables {
			touched[tb] = map[int]string{}
		}
		var stmts []string
		for range 100 + rng.IntN(100) {
			tb := leakTables[rng.IntN(len(leakTables))]
			var id int
			kind := "INSERT"
			if len(live[tb]) > 0 && rng.IntN(3) > 0 {
				ids := slices.Sorted(maps.Keys(live[tb]))
				id = ids[rng.IntN(len(ids))]
				kind = "UPDATE"
				if rng.IntN(3) == 0 {
					kind = "DELETE"
				}
			} else {
				id = nextID
				nextID++
			}
			if _, again := touched[tb][id]; again {
				continue
			}
			touched[tb][id] = kind
			val := func() string {
				switch tb {
				case "notes":
					owner := "NULL"
					if rng.IntN(8) > 0 {
						owner = "'" + uid(rng.IntN(users)) + "'"
					}
					return fmt.Sprintf("%s, 'b%d', 's%d'", owner, rng.IntN(1000), rng.IntN(1000))
				case "team_docs":
					return fmt.Sprintf("'%s', 'b%d'", []string{"red", "blue", "green"}[rng.IntN(3)], rng.IntN(1000))
				}
				return fmt.Sprintf("%d, 'b%d'", rng.IntN(5), rng.IntN(1000))
			}
			switch kind {
			case "INSERT":
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s VALUES (%d, %s)", tb, id, val()))
				live[tb][id] = true
			case "UPDATE":
				cols := map[string]string{"notes": "(owner, body, secret)", "team_docs": "(team, body)", "room_msgs": "(room, body)"}[tb]
				stmts = append(stmts, fmt.Sprintf("UPDATE %s SET %s = ROW(%s) WHERE id = %d", tb, cols, val(), id))
			case "DELETE":
				stmts = append(stmts, fmt.Sprintf("DELETE FROM %s WHERE id = %d", tb, id))
				delete(live[tb], id)
			}
		}
		// A few statements per transaction, so batches mix tables. The
		// test cluster runs with synchronous_commit off; on, as by default,
		// a commit reaches the stream before new snapshots see it, which
		// the checks must wait out.
		for i := 0; i < len(stmts); {
			n := 1 + rng.IntN(8)
			end := min(i+n, len(stmts))
			f.exec(t, "BEGIN; SET LOCAL synchronous_commit = on; "+strings.Join(stmts[i:end], "; ")+"; COMMIT")
			i = end
		}
		total += len(stmts)
		f.sync(t)
		for _, s := range subs {
			checkLeakRound(t, f, s, touched, round)
		}
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}
	st := f.d.RowChecks()
	t.Logf("%d changes in %d rounds; row checks: %d changes, %d calls, %d group queries, %d deliveries checked, %d withheld",
		total, round, st.Changes.Load(), st.Calls.Load(), st.Queries.Load(), st.Checked.Load(), st.Denied.Load())
}

// checkLeakRound compares what s received this round with SELECT as s.
func checkLeakRound(t *testing.T, f *fixture, s *leakSub, touched map[string]map[int]string, round int) {
	t.Helper()
	all := s.rec.received(t)
	got := all[s.seen:]
	s.seen = len(all)
	type ev struct {
		table string
		id    int
		kind  string
	}
	var gotEvs, wantEvs []ev
	for _, r := range got {
		rec := r.Record
		if r.Type == "DELETE" {
			rec = r.OldRecord
			if keys := slices.Sorted(maps.Keys(rec)); s.name != "service" && !slices.Equal(keys, []string{"id"}) {
				t.Errorf("round %d %s: DELETE on %s with old_record %v, want only the key", round, s.name, r.Table, rec)
			}
		} else if keys := slices.Sorted(maps.Keys(rec)); !slices.Equal(keys, s.columns[r.Table]) {
			t.Errorf("round %d %s: %s on %s with columns %v, want %v", round, s.name, r.Type, r.Table, keys, s.columns[r.Table])
		}
		gotEvs = append(gotEvs, ev{r.Table, recordID(t, rec), r.Type})
	}
	for _, tb := range leakTables {
		if !s.tables[tb] {
			continue
		}
		var ids []int
		for id, kind := range touched[tb] {
			if kind != "DELETE" {
				ids = append(ids, id)
			} else {
				wantEvs = append(wantEvs, ev{tb, id, kind})
			}
		}
		visible := selectAs(t, f.pool, s.v, tb, ids)
		for _, id := range ids {
			if visible[id] {
				wantEvs = append(wantEvs, ev{tb, id, touched[tb][id]})
			}
		}
	}
	cmpEv := func(a, b ev) int {
		if c := strings.Compare(a.table, b.table); c != 0 {
			return c
		}
		return a.id - b.id
	}
	slices.SortFunc(gotEvs, cmpEv)
	slices.SortFunc(wantEvs, cmpEv)
	if !slices.Equal(gotEvs, wantEvs) {
		t.Errorf("round %d %s:\n got %v\nwant %v", round, s.name, gotEvs, wantEvs)
	}
}
