package authz

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// policySchema has one table per kind of policy Supabase users write:
// on claims (auth.jwt()), on auth.uid(), and a join to a membership table.
var policySchema = []string{
	createRole,
	// Claims: a note is seen by its owner (sub) and by its team
	// (app_metadata.team); team 0 is public, also to anon.
	`CREATE TABLE claims_notes (id int PRIMARY KEY, owner text NOT NULL, team int NOT NULL, body text)`,
	`ALTER TABLE claims_notes ENABLE ROW LEVEL SECURITY`,
	`CREATE POLICY own_or_team ON claims_notes FOR SELECT TO authenticated
	   USING (owner = auth.jwt() ->> 'sub' OR team = (auth.jwt() -> 'app_metadata' ->> 'team')::int)`,
	`CREATE POLICY public_team ON claims_notes FOR SELECT TO anon USING (team = 0)`,
	`GRANT SELECT ON claims_notes TO anon, authenticated, service_role`,
	// auth.uid(): a user's own notes.
	`CREATE TABLE uid_notes (id uuid PRIMARY KEY, user_id uuid NOT NULL, body text)`,
	`ALTER TABLE uid_notes ENABLE ROW LEVEL SECURITY`,
	`CREATE POLICY own ON uid_notes FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()))`,
	`GRANT SELECT ON uid_notes TO anon, authenticated, service_role`,
	// Membership: documents of the organisations a user belongs to, with
	// a composite key.
	`CREATE TABLE members (org int, user_id uuid, PRIMARY KEY (org, user_id))`,
	`GRANT SELECT ON members TO authenticated`,
	`CREATE TABLE docs (org int, doc text, title text, PRIMARY KEY (org, doc))`,
	`ALTER TABLE docs ENABLE ROW LEVEL SECURITY`,
	`CREATE POLICY members_read ON docs FOR SELECT TO authenticated
	   USING (EXISTS (SELECT 1 FROM members m WHERE m.org = docs.org AND m.user_id = (SELECT auth.uid())))`,
	`GRANT SELECT ON docs TO anon, authenticated, service_role`,
}

const (
	user1 = "11111111-1111-4111-8111-111111111111"
	user2 = "22222222-2222-4222-8222-222222222222"
)

type visibleCase struct {
	name  string
	id    Identity
	table string
	keys  [][]string
	want  []bool
}

func TestVisibleKeys(t *testing.T) {
	a, pool := newDB(t, policySchema...)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO claims_notes VALUES (1, '` + user1 + `', 5, 'u1 private'), (2, '` + user2 + `', 5, 'team 5'), (3, '` + user2 + `', 0, 'public'), (4, '` + user2 + `', 6, 'u2 team 6')`,
		`INSERT INTO uid_notes VALUES ('aaaaaaaa-0000-4000-8000-000000000001', '` + user1 + `', 'u1'), ('aaaaaaaa-0000-4000-8000-000000000002', '` + user2 + `', 'u2')`,
		`INSERT INTO members VALUES (1, '` + user1 + `'), (2, '` + user2 + `')`,
		`INSERT INTO docs VALUES (1, 'a', 'org 1'), (2, 'a', 'org 2'), (1, 'it''s "quoted"', 'org 1 odd key')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	u1 := identity(t, "authenticated", map[string]any{"sub": user1, "app_metadata": map[string]any{"team": 5}})
	u2 := identity(t, "authenticated", map[string]any{"sub": user2})
	anon := identity(t, "anon", nil)
	service := identity(t, "service_role", nil)
	claimsKeys := [][]string{{"1"}, {"2"}, {"3"}, {"4"}, {"99"}}
	uidKeys := [][]string{{"aaaaaaaa-0000-4000-8000-000000000001"}, {"aaaaaaaa-0000-4000-8000-000000000002"}}
	docKeys := [][]string{{"1", "a"}, {"2", "a"}, {"1", `it's "quoted"`}, {"3", "a"}}
	tests := []visibleCase{
		{"claims: own and team", u1, "claims_notes", claimsKeys, []bool{true, true, false, false, false}},
		{"claims: own only", u2, "claims_notes", claimsKeys, []bool{false, true, true, true, false}},
		{"claims: anon sees team 0", anon, "claims_notes", claimsKeys, []bool{false, false, true, false, false}},
		{"uid: u1", u1, "uid_notes", uidKeys, []bool{true, false}},
		{"uid: u2", u2, "uid_notes", uidKeys, []bool{false, true}},
		{"uid: anon has no policy", anon, "uid_notes", uidKeys, []bool{false, false}},
		{"membership: u1, composite and quoted keys", u1, "docs", docKeys, []bool{true, false, true, false}},
		{"membership: u2", u2, "docs", docKeys, []bool{false, true, false, false}},
		{"service role has BYPASSRLS", service, "docs", docKeys, []bool{true, true, true, false}},
	}
	// Not in the grouped comparison below: other keys.
	dup := visibleCase{"duplicate keys", u1, "claims_notes", [][]string{{"1"}, {"1"}, {"4"}}, []bool{true, true, false}}
	for _, tc := range append(tests, dup) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.VisibleKeys(ctx, tc.id, Table{"public", tc.table}, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("VisibleKeys = %v, want %v", got, tc.want)
			}
		})
	}
	// All groups at once answer the same, also split into round trips of
	// two groups and chunks of two keys.
	for _, c := range []*Authorizer{a, New(Config{Pool: pool, GroupsPerRoundTrip: 2, MaxKeys: 2})} {
		for _, table := range []string{"claims_notes", "uid_notes", "docs"} {
			var ids []Identity
			var want [][]bool
			for _, tc := range tests {
				if tc.table == table {
					ids, want = append(ids, tc.id), append(want, tc.want)
				}
			}
			got, errs := c.VisibleKeysGroups(ctx, ids, Table{"public", table}, tests[slices.IndexFunc(tests, func(tc visibleCase) bool { return tc.table == table })].keys, nil)
			for g := range ids {
				if errs[g] != nil || !slices.Equal(got[g], want[g]) {
					t.Errorf("VisibleKeysGroups %s group %d = %v, %v; want %v", table, g, got[g], errs[g], want[g])
				}
			}
		}
	}
	// Batches larger than MaxKeys are split, and answer the same.
	small := New(Config{Pool: pool, MaxKeys: 2})
	got, err := small.VisibleKeys(ctx, u1, Table{"public", "claims_notes"}, claimsKeys)
	if err != nil || !slices.Equal(got, []bool{true, true, false, false, false}) {
		t.Errorf("split batch = %v, %v", got, err)
	}
}

func TestVisibleKeysErrors(t *testing.T) {
	a, pool := newDB(t, policySchema...)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE nopk (x int); GRANT SELECT ON nopk TO anon;
		INSERT INTO claims_notes VALUES (1, 'x', 0, 'public');
		INSERT INTO uid_notes VALUES ('aaaaaaaa-0000-4000-8000-000000000001', '`+user1+`', 'u1')`); err != nil {
		t.Fatal(err)
	}
	var self string
	if err := pool.QueryRow(ctx, "SELECT current_user::text").Scan(&self); err != nil {
		t.Fatal(err)
	}
	anon := identity(t, "anon", nil)
	tests := []struct {
		name  string
		id    Identity
		table string
		keys  [][]string
		want  string
	}{
		{"a sub that is not a uuid makes auth.uid() fail", identity(t, "authenticated", map[string]any{"sub": "not-a-uuid"}), "uid_notes", [][]string{{"aaaaaaaa-0000-4000-8000-000000000001"}}, "invalid input syntax for type uuid"},
		{"unknown role", identity(t, "no_such_role", nil), "claims_notes", [][]string{{"1"}}, `role "no_such_role" does not exist`},
		{"no privilege", identity(t, "walcast_test_nogrant", nil), "claims_notes", [][]string{{"1"}}, "permission denied"},
		{"key of the wrong type", anon, "claims_notes", [][]string{{"x"}}, "invalid input syntax for type integer"},
		{"key with too few values", anon, "docs", [][]string{{"1"}}, "has 1 values, want 2"},
		{"table without a primary key", anon, "nopk", [][]string{{"1"}}, "has no primary key"},
		{"unknown table", anon, "missing", [][]string{{"1"}}, "unknown table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.VisibleKeys(ctx, tc.id, Table{"public", tc.table}, tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VisibleKeys error = %v, want %q", err, tc.want)
			}
			if slices.Contains(got, true) {
				t.Errorf("VisibleKeys = %v with an error, want nothing visible", got)
			}
		})
	}
	// The pool is still usable, and no setting leaked onto its connections.
	for range 8 {
		var role, claims string
		if err := pool.QueryRow(ctx, "SELECT current_user::text, coalesce(current_setting('request.jwt.claims', true), '')").Scan(&role, &claims); err != nil {
			t.Fatal(err)
		}
		if role != self || claims != "" {
			t.Fatalf("after failed checks a pool connection runs as %q with claims %q", role, claims)
		}
	}
}

// TestVisibleKeysGroupsIsolatesErrors: a group whose policy fails gets its
// error; the groups checked in the same round trip get their answers.
func TestVisibleKeysGroupsIsolatesErrors(t *testing.T) {
	a, pool := newDB(t, policySchema...)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO uid_notes VALUES ('aaaaaaaa-0000-4000-8000-000000000001', '`+user1+`', 'u1')`); err != nil {
		t.Fatal(err)
	}
	ids := []Identity{
		identity(t, "authenticated", map[string]any{"sub": user1}),
		identity(t, "authenticated", map[string]any{"sub": "not-a-uuid"}),
		identity(t, "no_such_role", nil),
		identity(t, "authenticated", map[string]any{"sub": user2}),
	}
	got, errs := a.VisibleKeysGroups(ctx, ids, Table{"public", "uid_notes"}, [][]string{{"aaaaaaaa-0000-4000-8000-000000000001"}}, nil)
	want := [][]bool{{true}, {false}, {false}, {false}}
	for g := range ids {
		if !slices.Equal(got[g], want[g]) || (errs[g] != nil) != (g == 1 || g == 2) {
			t.Errorf("group %d: %v, %v; want %v and an error only for groups 1 and 2", g, got[g], errs[g], want[g])
		}
	}
	_, errs = a.VisibleKeysGroups(ctx, ids[:1], Table{"public", "missing"}, [][]string{{"1"}}, nil)
	if !errors.Is(errs[0], ErrUnknownTable) {
		t.Errorf("unknown table: %v", errs[0])
	}
}
