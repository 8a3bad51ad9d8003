package authz

import (
	"context"
	"testing"
	"time"
)

// TestWaitCommitted: the wait returns only once the transaction ended.
func TestWaitCommitted(t *testing.T) {
	a, pool := newDB(t, "CREATE TABLE t (id int PRIMARY KEY)")
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var xid int64
	if err := tx.QueryRow(ctx, "INSERT INTO t VALUES (1) RETURNING (pg_current_xact_id()::text::bigint & 4294967295)").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.WaitCommitted(ctx, []uint32{uint32(xid), 3}) }()
	select {
	case err := <-done:
		t.Fatalf("WaitCommitted returned (%v) while the transaction runs", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitCommitted still waiting after the commit")
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("row count %d (%v)", n, err)
	}
}
