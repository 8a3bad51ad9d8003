package authz

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// VisibleKeysGroups answers VisibleKeys for several identities (the claims
// groups subscribed to table) and one batch of keys. Groups are checked
// GroupsPerRoundTrip at a time in one transaction sent in one round trip
// (the role and claims are set again before each group's query), up to the
// pool's size of such transactions at once. visible[g] answers ids[g];
// errs[g] is its error (then visible[g] is all false). A group whose
// policy fails does not fail the others: its round trip is retried one
// group at a time.
func (a *Authorizer) VisibleKeysGroups(ctx context.Context, ids []Identity, table Table, keys [][]string) (visible [][]bool, errs []error) {
	visible, errs = make([][]bool, len(ids)), make([]error, len(ids))
	for g := range ids {
		visible[g] = make([]bool, len(keys))
	}
	if len(ids) == 0 || len(keys) == 0 {
		return visible, errs
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	info, err := a.info(ctx, table)
	if err == nil && info.query == "" {
		err = fmt.Errorf("authz: table %s has no primary key", table)
	}
	if err != nil {
		for g := range errs {
			errs[g] = err
		}
		return visible, errs
	}
	for ks := 0; ks < len(keys); ks += a.cfg.MaxKeys {
		ke := min(ks+a.cfg.MaxKeys, len(keys))
		part := make([][]bool, len(ids))
		for g := range ids {
			part[g] = visible[g][ks:ke]
		}
		a.groupsKeys(ctx, ids, table, info, keys[ks:ke], part, errs)
	}
	for g, err := range errs {
		if err != nil {
			clear(visible[g])
		}
	}
	return visible, errs
}

// groupsKeys checks one chunk of at most MaxKeys keys for every group.
func (a *Authorizer) groupsKeys(ctx context.Context, ids []Identity, table Table, info *tableInfo, keys [][]string, visible [][]bool, errs []error) {
	cols, err := keyColumns(table, info, keys)
	if err != nil {
		for g := range errs {
			errs[g] = err
		}
		return
	}
	per := a.cfg.GroupsPerRoundTrip
	sem := make(chan struct{}, max(1, int(a.cfg.Pool.Config().MaxConns)))
	var wg sync.WaitGroup
	for start := 0; start < len(ids); start += per {
		end := min(start+per, len(ids))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := a.groupsChunk(ctx, ids[start:end], table, info, cols, visible[start:end]); err == nil {
				return
			}
			// Find who failed: one group per round trip.
			for g := start; g < end; g++ {
				clear(visible[g])
				if err := a.groupsChunk(ctx, ids[g:g+1], table, info, cols, visible[g:g+1]); err != nil {
					errs[g] = err
				}
			}
		})
	}
	wg.Wait()
}

func (a *Authorizer) groupsChunk(ctx context.Context, ids []Identity, table Table, info *tableInfo, cols []any, visible [][]bool) error {
	conn, err := a.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	defer conn.Release() // a connection left inside a transaction is closed by the pool
	timeout := a.timeoutSetting()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for g, id := range ids {
		b.Queue(setIdentity, id.Role, id.Claims, id.Sub, timeout)
		b.Queue(info.query, cols...).Query(func(rows pgx.Rows) error {
			ords, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			for _, o := range ords {
				if o >= 1 && int(o) <= len(visible[g]) {
					visible[g][o-1] = true
				}
			}
			return err
		})
	}
	b.Queue("ROLLBACK")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("authz: check rows of %s as role %q: %w", table, ids[0].Role, err)
	}
	return nil
}
