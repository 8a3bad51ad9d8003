// Package sql holds walcast's schema migrations, embedded in the binary, and
// applies them. Import it under an alias (for example walcastsql): its name
// clashes with database/sql.
//
// Migrations are plain files migrations/NNNN_name.sql, applied in the order
// of their number, each in its own transaction, so a file must not contain
// transaction control or statements that cannot run in a transaction (CREATE
// INDEX CONCURRENTLY). A version is the file name without ".sql"; applied
// versions are recorded in realtime.schema_migrations, which the first
// migration creates. Files are never edited or renamed once released: a
// change is a new file.
//
// Apply holds a session-level advisory lock while it migrates, so it needs a
// direct connection, not one through a transaction-pooling proxy.
package sql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var embedded embed.FS

// lockKey is the advisory lock that serializes migrations of one database,
// so nodes starting together apply each file once. It is the ASCII of
// "walcastM".
const lockKey int64 = 0x77616c636173744d

// fileName is the shape of a migration file: a four-digit number, then a
// lower-case name.
var fileName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

type migration struct {
	version string // the file name without ".sql"
	sql     string
}

// Versions returns the versions of the embedded migrations, in order.
func Versions() []string {
	migs, err := load(embeddedDir())
	if err != nil {
		panic(err) // a misnamed embedded file, which the package's tests catch
	}
	versions := make([]string, len(migs))
	for i, m := range migs {
		versions[i] = m.version
	}
	return versions
}

// Apply applies the embedded migrations that the database has not recorded
// yet and returns their versions. It is idempotent and safe to run from
// several nodes at once.
func Apply(ctx context.Context, conn *pgx.Conn) (applied []string, err error) {
	return apply(ctx, conn, embeddedDir())
}

func embeddedDir() fs.FS {
	dir, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return dir
}

func apply(ctx context.Context, conn *pgx.Conn, fsys fs.FS) ([]string, error) {
	migs, err := load(fsys)
	if err != nil {
		return nil, err
	}
	// A first look without the lock: at a routine start every migration is
	// recorded and nothing waits on other nodes.
	pending, err := pendingOf(ctx, conn, migs)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	// The lock is a session lock taken before the migration transactions,
	// not a transaction lock taken inside them: a transaction that started
	// before another node's commit may still see the catalog as it was at
	// its start (no realtime.schema_migrations yet) after waiting on a lock.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// If this fails the connection is broken, and the server released
		// the lock with the session.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	}()
	// Look again: another node may have applied some while we waited.
	if pending, err = pendingOf(ctx, conn, migs); err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range pending {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO realtime.schema_migrations (version) VALUES ($1)", m.version); err != nil {
				return fmt.Errorf("record version: %w", err)
			}
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("apply migration %s: %w", m.version, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// pendingOf returns the migrations the ledger does not list. There is no
// ledger before the first migration created it.
func pendingOf(ctx context.Context, conn *pgx.Conn, migs []migration) ([]migration, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('realtime.schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for realtime.schema_migrations: %w", err)
	}
	if !exists {
		return migs, nil
	}
	rows, err := conn.Query(ctx, "SELECT version FROM realtime.schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read realtime.schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read realtime.schema_migrations: %w", err)
	}
	var pending []migration
	for _, m := range migs {
		if !slices.Contains(versions, m.version) {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// load reads and checks the migration files of fsys, in order.
func load(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".") // sorted by name, so by number
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("no migrations")
	}
	migs := make([]migration, 0, len(entries))
	byNumber := make(map[string]string)
	for _, e := range entries {
		name := e.Name()
		match := fileName.FindStringSubmatch(name)
		if match == nil {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql (lower case)", name)
		}
		if prev, ok := byNumber[match[1]]; ok {
			return nil, fmt.Errorf("migration files %s and %s share number %s", prev, name, match[1])
		}
		byNumber[match[1]] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		migs = append(migs, migration{version: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	return migs, nil
}
