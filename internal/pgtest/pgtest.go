package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "WALCAST_TEST_DATABASE_URL"

// maxIdentLen is Postgres's identifier limit (NAMEDATALEN-1) in bytes.
const maxIdentLen = 63

// Run runs the tests, then stops the shared cluster if one was started and
// removes its directory. Use it from TestMain: os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// NewDatabase creates a fresh database for the test and returns its URL,
// for a superuser. The database and its replication slots are dropped when
// the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(admin, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return withDatabase(admin, name)
}

// adminURL returns the URL through which databases are created: the
// server's from EnvURL, or the shared cluster's "postgres" database.
func adminURL(t testing.TB) string {
	t.Helper()
	if env := os.Getenv(EnvURL); env != "" {
		if err := checkServer(env); err != nil {
			t.Fatalf("pgtest: %s: %v", EnvURL, err)
		}
		return env
	}
	return sharedCluster(t).URL("postgres")
}

// checkServer verifies, once per URL and test binary, that the server can
// run replication tests.
func checkServer(rawURL string) error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if err, ok := shared.checked[rawURL]; ok {
		return err
	}
	err := func() error {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("want a postgres:// URL")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer conn.Close(ctx)
		var level string
		if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
			return fmt.Errorf("show wal_level: %w", err)
		}
		if level != "logical" {
			return fmt.Errorf("server has wal_level=%s; replication tests need wal_level=logical (start postgres with -c wal_level=logical)", level)
		}
		return nil
	}()
	if shared.checked == nil {
		shared.checked = make(map[string]error)
	}
	shared.checked[rawURL] = err
	return err
}

// unavailable skips the test, or fails it under CI, where a missing
// Postgres must not pass unnoticed.
func unavailable(t testing.TB, reason error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: no Postgres for integration tests: %v (or set %s)", reason, EnvURL)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; failing instead of skipping because CI is set")
	} else {
		t.Skip(msg)
	}
}

// databaseName makes a database name from a test name: lower case letters,
// digits and underscores, then a random suffix so that reruns (-count) and
// parallel test binaries never collide.
func databaseName(testName string) string {
	var b strings.Builder
	underscore := true // no leading underscore
	for _, r := range strings.ToLower(testName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	suffix := make([]byte, 4)
	rand.Read(suffix) // never fails
	const suffixLen = 1 + 8
	base := b.String()
	if len(base) > maxIdentLen-suffixLen {
		base = base[:maxIdentLen-suffixLen]
	}
	base = strings.TrimRight(base, "_")
	if base == "" {
		base = "test"
	}
	return base + "_" + hex.EncodeToString(suffix)
}

// withDatabase returns admin with its database replaced by name.
func withDatabase(admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil {
		panic(err) // checked by checkServer or built by localpg
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// dropDatabase drops the database's replication slots, then the database.
// A test's replication goroutine may still be reconnecting and take a slot
// again, so the sequence is retried while objects are in use.
func dropDatabase(admin, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("drop database %s: connect: %w", name, err)
	}
	defer conn.Close(ctx)
	for {
		err := dropOnce(ctx, conn, name)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dropOnce(ctx context.Context, conn *pgx.Conn, name string) error {
	const (
		terminate = `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`
		dropSlots = `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`
	)
	if _, err := conn.Exec(ctx, terminate, name); err != nil {
		return fmt.Errorf("terminate walsenders of %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, dropSlots, name); err != nil {
		return fmt.Errorf("drop replication slots of %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
