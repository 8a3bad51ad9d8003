package authz

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/internal/pgtest"
	walcastsql "github.com/walcast/walcast/sql"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// newDB returns a fresh migrated database with schema applied (as a
// superuser), an Authorizer on a pool of it, and the pool.
func newDB(t testing.TB, schema ...string) (*Authorizer, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := walcastsql.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, q := range schema {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return New(Config{Pool: pool}), pool
}

func identity(t testing.TB, role string, claims map[string]any) Identity {
	t.Helper()
	if claims == nil {
		claims = map[string]any{}
	}
	if _, ok := claims["role"]; !ok {
		claims["role"] = role
	}
	id, err := NewIdentity(role, claims)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// createRole creates a cluster-wide role once (roles outlive test
// databases).
const createRole = `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'walcast_test_nogrant') THEN
    CREATE ROLE walcast_test_nogrant NOLOGIN;
  END IF;
END $$`

// testingSeed is $WALCAST_AUTHZ_SEED, to replay a randomized test.
func testingSeed() uint64 {
	s, _ := strconv.ParseUint(os.Getenv("WALCAST_AUTHZ_SEED"), 10, 64)
	return s
}
