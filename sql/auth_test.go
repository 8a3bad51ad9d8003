package sql

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
)

// TestAuthMigration: a plain Postgres gets Supabase's roles, auth
// functions, realtime.messages and realtime.topic(), and they behave as
// Supabase's do.
func TestAuthMigration(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	if _, err := Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname IN ('anon','authenticated','service_role') AND NOT rolcanlogin AND NOT rolinherit`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("NOLOGIN NOINHERIT roles = %d, %v; want 3", n, err)
	}
	var bypass bool
	if err := conn.QueryRow(ctx, `SELECT rolbypassrls FROM pg_roles WHERE rolname = 'service_role'`).Scan(&bypass); err != nil || !bypass {
		t.Errorf("service_role BYPASSRLS = %v, %v", bypass, err)
	}
	var rls bool
	if err := conn.QueryRow(ctx, `SELECT relrowsecurity FROM pg_class WHERE oid = 'realtime.messages'::regclass`).Scan(&rls); err != nil || !rls {
		t.Errorf("realtime.messages row security = %v, %v", rls, err)
	}

	const uid = "6f1b7a52-9f1c-4c55-9f0e-3d1e1f0b2a11"
	tests := []struct {
		name     string
		settings map[string]string
		query    string
		want     string
	}{
		{"uid from claims", map[string]string{"request.jwt.claims": `{"sub":"` + uid + `","role":"authenticated"}`}, "SELECT auth.uid()::text", uid},
		{"uid: the single claim wins", map[string]string{"request.jwt.claims": `{"sub":"00000000-0000-0000-0000-000000000000"}`, "request.jwt.claim.sub": uid}, "SELECT auth.uid()::text", uid},
		{"uid without claims", nil, "SELECT coalesce(auth.uid()::text, 'null')", "null"},
		{"role from claims", map[string]string{"request.jwt.claims": `{"role":"anon"}`}, "SELECT auth.role()", "anon"},
		{"role: the single claim wins", map[string]string{"request.jwt.claims": `{"role":"anon"}`, "request.jwt.claim.role": "authenticated"}, "SELECT auth.role()", "authenticated"},
		{"jwt", map[string]string{"request.jwt.claims": `{"role":"anon","app_metadata":{"team":7}}`}, "SELECT auth.jwt() -> 'app_metadata' ->> 'team'", "7"},
		{"topic", map[string]string{"realtime.topic": "room:1"}, "SELECT realtime.topic()", "room:1"},
		{"no topic", map[string]string{"realtime.topic": ""}, "SELECT coalesce(realtime.topic(), 'null')", "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				for k, v := range tc.settings {
					if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", k, v); err != nil {
						return err
					}
				}
				var got string
				if err := tx.QueryRow(ctx, tc.query).Scan(&got); err != nil {
					return err
				}
				if got != tc.want {
					t.Errorf("%s = %q, want %q", tc.query, got, tc.want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	// A policy as Supabase's docs write it, used by the granted roles.
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			`CREATE POLICY "read own room" ON realtime.messages FOR SELECT TO authenticated USING ((SELECT realtime.topic()) = 'room:' || (SELECT auth.uid())::text AND extension = 'broadcast')`,
			`INSERT INTO realtime.messages (topic, extension) VALUES ('room:` + uid + `', 'broadcast'), ('room:other', 'broadcast')`,
			`SELECT set_config('realtime.topic', 'room:` + uid + `', true)`,
			`SELECT set_config('request.jwt.claims', '{"sub":"` + uid + `","role":"authenticated"}', true)`,
			`SET LOCAL ROLE authenticated`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM realtime.messages").Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("authenticated sees %d probe rows, want 2 (the policy depends on the topic, not the row)", n)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE anon"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM realtime.messages").Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("anon sees %d rows without a policy, want 0", n)
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
}

var errRollback = &rollback{}

type rollback struct{}

func (*rollback) Error() string { return "rollback" }

// TestAuthMigrationKeepsExisting: on a database that has the roles and
// functions (as a Supabase one does), the migration keeps them, and its
// statements can run again.
func TestAuthMigrationKeepsExisting(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	body, err := os.ReadFile("migrations/0003_auth.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF; END $$`,
		`CREATE SCHEMA IF NOT EXISTS auth`,
		`CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ SELECT '11111111-1111-1111-1111-111111111111'::uuid $$`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	// The file again, as if the ledger had been lost.
	if _, err := conn.Exec(ctx, string(body)); err != nil {
		t.Fatalf("0003 twice: %v", err)
	}
	var got string
	if err := conn.QueryRow(ctx, "SELECT auth.uid()::text").Scan(&got); err != nil || !strings.HasPrefix(got, "1111") {
		t.Errorf("auth.uid() = %q, %v; the existing function was replaced", got, err)
	}
}
