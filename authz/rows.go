package authz

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// setIdentity applies Supabase's settings for id, transaction-local, plus a
// statement timeout so a slow policy cannot hold a pool connection.
const setIdentity = `SELECT pg_catalog.set_config('role', $1, true),
       pg_catalog.set_config('request.jwt.claims', $2, true),
       pg_catalog.set_config('request.jwt.claim.sub', $3, true),
       pg_catalog.set_config('request.jwt.claim.role', $1, true),
       pg_catalog.set_config('statement_timeout', $4, true)`

// VisibleKeys reports which of keys (each the primary key values of one
// changed row, as text, in TableAccess.PrimaryKey order) id's role sees in
// table with id's claims, now. It is one query per MaxKeys keys, sent with
// its transaction in one round trip:
//
//	BEGIN; SELECT set_config('role', ...), ...; SELECT k.i FROM unnest(...) ... ; ROLLBACK
//
// The caller asks only for tables whose TableAccess.RowChecked is true;
// for others the answer is TableAccess alone. On error nothing is visible.
func (a *Authorizer) VisibleKeys(ctx context.Context, id Identity, table Table, keys [][]string) ([]bool, error) {
	visible := make([]bool, len(keys))
	if len(keys) == 0 {
		return visible, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	info, err := a.info(ctx, table)
	if err != nil {
		return visible, err
	}
	if info.query == "" {
		return visible, fmt.Errorf("authz: table %s has no primary key", table)
	}
	for start := 0; start < len(keys); start += a.cfg.MaxKeys {
		end := min(start+a.cfg.MaxKeys, len(keys))
		if err := a.visibleChunk(ctx, id, table, info, keys[start:end], visible[start:end]); err != nil {
			clear(visible)
			return visible, err
		}
	}
	return visible, nil
}

func (a *Authorizer) visibleChunk(ctx context.Context, id Identity, table Table, info *tableInfo, keys [][]string, visible []bool) error {
	cols, err := keyColumns(table, info, keys)
	if err != nil {
		return err
	}
	conn, err := a.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	defer conn.Release() // a connection left inside a transaction is closed by the pool

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(setIdentity, id.Role, id.Claims, id.Sub, a.timeoutSetting())
	q := b.Queue(info.query, cols...)
	b.Queue("ROLLBACK")
	var ords []int64
	q.Query(func(rows pgx.Rows) error {
		var err error
		ords, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("authz: check rows of %s as role %q: %w", table, id.Role, err)
	}
	for _, o := range ords {
		if o >= 1 && int(o) <= len(visible) {
			visible[o-1] = true
		}
	}
	return nil
}

// keyColumns turns keys (one slice of values per row) into one text array
// per key column, the query's parameters.
func keyColumns(table Table, info *tableInfo, keys [][]string) ([]any, error) {
	cols := make([]any, len(info.pk))
	for j := range cols {
		col := make([]string, len(keys))
		for i, k := range keys {
			if len(k) != len(info.pk) {
				return nil, fmt.Errorf("authz: key %d of %s has %d values, want %d (%v)", i, table, len(k), len(info.pk), info.pk)
			}
			col[i] = k[j]
		}
		cols[j] = col
	}
	return cols, nil
}
