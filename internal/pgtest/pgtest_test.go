package pgtest_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/walcast/walcast/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestNewDatabase(t *testing.T) {
	url1 := pgtest.NewDatabase(t)
	url2 := pgtest.NewDatabase(t)
	if url1 == url2 {
		t.Fatalf("two NewDatabase calls returned the same URL %q", url1)
	}
	conn := connect(t, url1)
	if got := queryString(t, conn, "SHOW wal_level"); got != "logical" {
		t.Errorf("wal_level = %q, want logical", got)
	}
	if got := queryString(t, conn, "SELECT current_database()"); !strings.HasPrefix(got, "testnewdatabase_") {
		t.Errorf("current_database() = %q, want prefix testnewdatabase_", got)
	}
	if got := queryString(t, conn, "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"); got != "true" {
		t.Errorf("superuser = %s, want true", got)
	}
}

func TestCleanupDropsSlotsAndDatabase(t *testing.T) {
	observer := connect(t, pgtest.NewDatabase(t))
	var inner string
	t.Run("inner", func(t *testing.T) {
		dbURL := pgtest.NewDatabase(t)
		conn := connect(t, dbURL)
		inner = queryString(t, conn, "SELECT current_database()")
		for _, sql := range []string{
			"CREATE PUBLICATION pub FOR ALL TABLES",
			"SELECT pg_create_logical_replication_slot('idle_slot', 'pgoutput')",
			"SELECT pg_create_logical_replication_slot('busy_slot', 'pgoutput')",
		} {
			if _, err := conn.Exec(context.Background(), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		// Leave a walsender streaming from busy_slot, as a test that forgot
		// to stop its replication connection would.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		repl, err := pgconn.Connect(ctx, dbURL+"&replication=database")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { repl.Close(context.Background()) })
		err = pglogrepl.StartReplication(ctx, repl, "busy_slot", 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names 'pub'"},
		})
		if err != nil {
			t.Fatal(err)
		}
		pgtest.WaitForActiveSlot(t, dbURL)
	})
	if got := queryString(t, observer, "SELECT count(*)::text FROM pg_replication_slots WHERE database = $1", inner); got != "0" {
		t.Errorf("slots left in %s = %s, want 0", inner, got)
	}
	if got := queryString(t, observer, "SELECT count(*)::text FROM pg_database WHERE datname = $1", inner); got != "0" {
		t.Errorf("database %s still exists", inner)
	}
}

func TestRestart(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	before := connect(t, dbURL)
	if _, err := before.Exec(context.Background(), "SELECT pg_create_logical_replication_slot('kept', 'pgoutput')"); err != nil {
		t.Fatal(err)
	}
	pgtest.Restart(t)
	if err := before.Ping(context.Background()); err == nil {
		t.Error("connection from before the restart still works")
	}
	after := connect(t, dbURL)
	if got := queryString(t, after, "SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'kept'"); got != "kept" {
		t.Errorf("slot after restart = %q, want kept", got)
	}
}

func TestStopStart(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	pgtest.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		conn.Close(ctx)
		t.Fatal("connected while the cluster is stopped")
	}
	pgtest.Start(t)
	connect(t, dbURL)
}

func TestEnvURL(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skipf("%s is set already: the other tests use it", pgtest.EnvURL)
	}
	// Point the variable at the throwaway cluster: NewDatabase must then
	// work through it, and Restart must skip.
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	t.Setenv(pgtest.EnvURL, u.String())

	conn := connect(t, pgtest.NewDatabase(t))
	if got := queryString(t, conn, "SELECT current_database()"); !strings.HasPrefix(got, "testenvurl_") {
		t.Errorf("current_database() = %q, want prefix testenvurl_", got)
	}
	returned := false
	t.Run("restart", func(t *testing.T) {
		pgtest.Restart(t)
		returned = true
	})
	if returned {
		t.Error("Restart did not skip with " + pgtest.EnvURL + " set")
	}
}

func TestTempDir(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = pgtest.TempDir(t)
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		// Others may pass through (the postgres OS user), not list.
		if got := fi.Mode().Perm(); got != 0o711 {
			t.Fatalf("mode = %o, want 711", got)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s after the test: %v, want it removed", dir, err)
	}
}
