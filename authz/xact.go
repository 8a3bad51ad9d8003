package authz

import (
	"context"
	"fmt"
	"time"
)

// committedQuery reports whether every transaction of $1 (32-bit xids, as
// the replication stream gives them) has ended: no longer in progress in
// the proc array, so that snapshots taken from now on see its outcome.
// The epoch is taken from the current snapshot; an xid above the current
// low 32 bits belongs to the previous epoch.
const committedQuery = `SELECT coalesce(pg_catalog.bool_and(pg_catalog.pg_xact_status(
           (((x.full >> 32) - CASE WHEN t.xid > (x.full & 4294967295) THEN 1 ELSE 0 END) << 32 | t.xid)::text::xid8)
       IS DISTINCT FROM 'in progress'), true)
FROM (SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint AS full) x,
     pg_catalog.unnest($1::bigint[]) AS t(xid)`

// waitPoll is how often WaitCommitted asks again.
const waitPoll = time.Millisecond

// WaitCommitted returns once every transaction in xids has ended, so that
// a check that follows sees its rows. A transaction's commit record
// reaches the replication stream as soon as it is flushed, a moment
// before the committing backend leaves the proc array; a row check in
// that moment would not see the row. It waits at most QueryTimeout.
func (a *Authorizer) WaitCommitted(ctx context.Context, xids []uint32) error {
	if len(xids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	arg := xidArg(xids)
	for {
		var done bool
		if err := a.cfg.Pool.QueryRow(ctx, committedQuery, arg).Scan(&done); err != nil {
			return fmt.Errorf("authz: wait for transactions to end: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("authz: wait for transactions to end: %w", ctx.Err())
		case <-time.After(waitPoll):
		}
	}
}

// xidArg is xids as committedQuery's parameter.
func xidArg(xids []uint32) []int64 {
	arg := make([]int64, len(xids))
	for i, x := range xids {
		arg[i] = int64(x)
	}
	return arg
}
