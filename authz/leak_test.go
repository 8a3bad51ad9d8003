package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestLeaksRandomized compares the Authorizer with Postgres itself. Random
// INSERT/UPDATE/DELETE traffic (membership changes included) runs on the
// tables of policySchema; after each round, for every identity (roles
// anon, authenticated with several users and teams, service_role, and a
// role without privileges) and table, what a subscriber would receive
// (TableAccess, then VisibleKeys for row-checked tables) is compared with
// what SELECT as that role with those claims returns, at check time.
// A leak is a change delivered for a row the SELECT does not return; a
// miss is a row it returns whose change was not delivered. Both must be 0.
func TestLeaksRandomized(t *testing.T) {
	a, pool := newDB(t, policySchema...)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	if s := testingSeed(); s != 0 {
		seed = s
	}
	t.Logf("seed %d (set WALCAST_AUTHZ_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	const nUsers, opsPerRound = 8, 50
	rounds := 200 // 10,000 changes
	if testing.Short() {
		rounds = 20
	}
	users := make([]string, nUsers)
	for i := range users {
		users[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i)
	}
	var ids []Identity
	for i, u := range users {
		claims := map[string]any{"sub": u}
		if i%3 != 0 { // some users have no team
			claims["app_metadata"] = map[string]any{"team": rng.IntN(4)}
		}
		ids = append(ids, identity(t, "authenticated", claims))
	}
	ids = append(ids, identity(t, "anon", nil), identity(t, "service_role", nil), identity(t, "walcast_test_nogrant", nil),
		// A token whose claims name a user but whose role is anon: anon's
		// policies apply, not authenticated's.
		identity(t, "anon", map[string]any{"sub": users[0]}))
	tables := []Table{{"public", "claims_notes"}, {"public", "uid_notes"}, {"public", "docs"}}

	w := &traffic{rng: rng, users: users}
	var changes, checked, skipped, delivered, leaks, misses int
	split := New(Config{Pool: pool, GroupsPerRoundTrip: 3, MaxKeys: 7})
	var superuser Identity
	if err := pool.QueryRow(ctx, "SELECT current_user::text").Scan(&superuser.Role); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		changed := map[string][][]string{} // table → keys of INSERT/UPDATE
		for range opsPerRound {
			table, key, sql, args := w.next()
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				t.Fatalf("round %d: %s %v: %v", round, sql, args, err)
			}
			changes++
			if key != nil {
				changed[table] = append(changed[table], key)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		existing := map[string]map[string]bool{}
		for _, table := range tables {
			pk := []string{"id"}
			if table.Name == "docs" {
				pk = []string{"org", "doc"}
			}
			if existing[table.Name], err = selectAs(ctx, pool, superuser, table, pk); err != nil {
				t.Fatal(err)
			}
		}
		// The groups' answers, all groups of a table at once, by a checker
		// that splits them into several round trips and key chunks.
		grouped := map[string][][]bool{}
		for _, table := range tables {
			if keys := changed[table.Name]; len(keys) > 0 {
				var errs []error
				grouped[table.Name], errs = split.VisibleKeysGroups(ctx, ids, table, keys, nil)
				for g, err := range errs {
					// Only the role without privileges fails.
					if err != nil && ids[g].Role != "walcast_test_nogrant" {
						t.Fatalf("VisibleKeysGroups for %s: %v", ids[g].Claims, err)
					}
				}
			}
		}
		accessOf := map[string][]TableAccess{} // by role
		for g, id := range ids {
			access, ok := accessOf[id.Role]
			if !ok {
				if access, err = a.TableAccess(ctx, id.Role, tables); err != nil {
					t.Fatal(err)
				}
				accessOf[id.Role] = access
			}
			for ti, table := range tables {
				keys := changed[table.Name]
				if len(keys) == 0 {
					continue
				}
				got := make([]bool, len(keys))
				ta := access[ti]
				switch {
				case ta.Err() != nil:
					// Not subscribed: nothing delivered.
				case !ta.RowChecked():
					for i := range got {
						got[i] = true
					}
				default:
					if got, err = a.VisibleKeys(ctx, id, table, keys); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, grouped[table.Name][g]) {
						t.Fatalf("%s for %s: VisibleKeys %v, VisibleKeysGroups %v", table, id.Claims, got, grouped[table.Name][g])
					}
				}
				truth, err := selectAs(ctx, pool, id, table, ta.PrimaryKey)
				if err != nil {
					t.Fatal(err)
				}
				exists := existing[table.Name]
				for i, k := range keys {
					key := strings.Join(k, "\x00")
					want := truth[key]
					if ta.Err() == nil && !ta.RowChecked() && !exists[key] {
						// Delivered without a row check, as every change of a
						// table the role reads whole; the row was deleted later
						// in the round, so no SELECT can confirm it now.
						skipped++
						continue
					}
					checked++
					if got[i] {
						delivered++
					}
					if got[i] && !want {
						leaks++
						t.Errorf("leak: %s key %v delivered to role %s claims %s", table, k, id.Role, id.Claims)
					}
					if !got[i] && want {
						misses++
						t.Errorf("miss: %s key %v not delivered to role %s claims %s", table, k, id.Role, id.Claims)
					}
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d changes, %d (change, identity) checks, %d delivered, %d leaks, %d misses; %d deliveries without row check of rows deleted later in their round not compared",
		changes, checked, delivered, leaks, misses, skipped)
	if changes < rounds*opsPerRound || delivered == 0 || delivered == checked {
		t.Fatalf("%d changes, %d of %d delivered: the test did not exercise both outcomes", changes, delivered, checked)
	}
}

// selectAs returns the primary keys (joined with NUL) of the rows of table
// that role sees with claims, by plain SELECT. Only request.jwt.claims is
// set, so auth.uid() takes the other path than the Authorizer's. A role
// without SELECT sees nothing.
func selectAs(ctx context.Context, pool *pgxpool.Pool, id Identity, table Table, pk []string) (map[string]bool, error) {
	seen := map[string]bool{}
	if len(pk) == 0 {
		return seen, nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{id.Role}.Sanitize()); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('request.jwt.claims', $1, true)", id.Claims); err != nil {
		return nil, err
	}
	var cols []string
	for _, c := range pk {
		cols = append(cols, pgx.Identifier{c}.Sanitize()+"::text")
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT s"); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+pgx.Identifier{table.Schema, table.Name}.Sanitize())
	if err == nil {
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = v.(string)
			}
			seen[strings.Join(parts, "\x00")] = true
		}
		err = rows.Err()
	}
	if err != nil && strings.Contains(err.Error(), "permission denied") {
		return seen, nil
	}
	return seen, err
}

// traffic makes random writes on policySchema's tables, keeping the keys
// it made so that updates and deletes usually hit rows.
type traffic struct {
	rng    *rand.Rand
	users  []string
	nextID int
	notes  []int      // claims_notes ids
	uids   []string   // uid_notes ids
	docs   [][]string // docs keys
}

func (w *traffic) user() string {
	if w.rng.IntN(10) == 0 {
		return "44444444-4444-4444-8444-444444444444" // nobody's
	}
	return w.users[w.rng.IntN(len(w.users))]
}

// next returns one write: its table, the key of the changed row (nil for
// DELETE and membership changes, which the caller does not check), and
// the SQL.
func (w *traffic) next() (table string, key []string, sql string, args []any) {
	w.nextID++
	id := w.nextID
	switch r := w.rng.IntN(100); {
	case r < 25: // claims_notes insert
		w.notes = append(w.notes, id)
		return "claims_notes", []string{strconv.Itoa(id)}, "INSERT INTO claims_notes VALUES ($1, $2, $3, 'n')", []any{id, w.user(), w.rng.IntN(5)}
	case r < 35 && len(w.notes) > 0: // claims_notes update: owner or team moves
		n := w.notes[w.rng.IntN(len(w.notes))]
		return "claims_notes", []string{strconv.Itoa(n)}, "UPDATE claims_notes SET owner = $2, team = $3 WHERE id = $1", []any{n, w.user(), w.rng.IntN(5)}
	case r < 40 && len(w.notes) > 0:
		i := w.rng.IntN(len(w.notes))
		n := w.notes[i]
		w.notes = append(w.notes[:i], w.notes[i+1:]...)
		return "claims_notes", nil, "DELETE FROM claims_notes WHERE id = $1", []any{n}
	case r < 60: // uid_notes insert
		u := fmt.Sprintf("%08x-1111-4111-8111-%012x", w.rng.Uint32(), id)
		w.uids = append(w.uids, u)
		return "uid_notes", []string{u}, "INSERT INTO uid_notes VALUES ($1, $2, 'n')", []any{u, w.user()}
	case r < 68 && len(w.uids) > 0:
		u := w.uids[w.rng.IntN(len(w.uids))]
		return "uid_notes", []string{u}, "UPDATE uid_notes SET user_id = $2 WHERE id = $1", []any{u, w.user()}
	case r < 72 && len(w.uids) > 0:
		i := w.rng.IntN(len(w.uids))
		u := w.uids[i]
		w.uids = append(w.uids[:i], w.uids[i+1:]...)
		return "uid_notes", nil, "DELETE FROM uid_notes WHERE id = $1", []any{u}
	case r < 87: // docs insert, keys with quotes and spaces
		k := []string{strconv.Itoa(w.rng.IntN(6)), fmt.Sprintf("doc '%d' \"x\"", id)}
		w.docs = append(w.docs, k)
		return "docs", k, "INSERT INTO docs VALUES ($1::int, $2, 't')", []any{k[0], k[1]}
	case r < 92 && len(w.docs) > 0:
		k := w.docs[w.rng.IntN(len(w.docs))]
		return "docs", k, "UPDATE docs SET title = $3 WHERE org = $1::int AND doc = $2", []any{k[0], k[1], strconv.Itoa(id)}
	case r < 94 && len(w.docs) > 0:
		i := w.rng.IntN(len(w.docs))
		k := w.docs[i]
		w.docs = append(w.docs[:i], w.docs[i+1:]...)
		return "docs", nil, "DELETE FROM docs WHERE org = $1::int AND doc = $2", []any{k[0], k[1]}
	case r < 97: // join an organisation
		return "members", nil, "INSERT INTO members VALUES ($1, $2) ON CONFLICT DO NOTHING", []any{w.rng.IntN(6), w.user()}
	default: // leave one
		return "members", nil, "DELETE FROM members WHERE org = $1 AND user_id = $2", []any{w.rng.IntN(6), w.user()}
	}
}
