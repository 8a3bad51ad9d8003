package authz

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// TestVisibleKeysGroupsAfter: checks made after a transaction see its
// row, whether it has ended when they start (the transaction of the
// checks asks first) or not yet (they wait for it), and do not answer
// while it runs.
func TestVisibleKeysGroupsAfter(t *testing.T) {
	a, pool := newDB(t, policySchema...)
	ctx := context.Background()
	u1 := identity(t, "authenticated", map[string]any{"sub": user1})
	u2 := identity(t, "authenticated", map[string]any{"sub": user2})
	table := Table{"public", "claims_notes"}
	insert := func(tx pgx.Tx, id int) uint32 {
		t.Helper()
		var xid int64
		if err := tx.QueryRow(ctx, "INSERT INTO claims_notes VALUES ($1, $2, 9, 'x') RETURNING (pg_current_xact_id()::text::bigint & 4294967295)", id, user1).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		return uint32(xid)
	}
	check := func(xid uint32, id int) ([][]bool, []error) {
		return a.VisibleKeysGroups(ctx, []Identity{u1, u2}, table, [][]string{{strconv.Itoa(id)}}, []uint32{xid, 3})
	}
	want := [][]bool{{true}, {false}}
	for _, ended := range []bool{true, false} {
		id := 1
		if !ended {
			id = 2
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		xid := insert(tx, id)
		var got [][]bool
		var errs []error
		if ended {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			got, errs = check(xid, id)
		} else {
			type answer struct {
				got  [][]bool
				errs []error
			}
			done := make(chan answer, 1)
			go func() {
				got, errs := check(xid, id)
				done <- answer{got, errs}
			}()
			select {
			case ans := <-done:
				t.Fatalf("checks answered %v %v while the transaction runs", ans.got, ans.errs)
			case <-time.After(200 * time.Millisecond):
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			ans := <-done
			got, errs = ans.got, ans.errs
		}
		for g := range want {
			if errs[g] != nil || !slices.Equal(got[g], want[g]) {
				t.Errorf("ended before the checks %v: group %d = %v, %v; want %v", ended, g, got[g], errs[g], want[g])
			}
		}
	}
}
