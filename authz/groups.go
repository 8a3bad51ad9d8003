package authz

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// VisibleKeysGroups answers VisibleKeys for several identities (the claims
// groups subscribed to table) and one batch of keys, once the transactions
// after (32-bit xids, as WaitCommitted takes them) have ended. Groups are
// checked GroupsPerRoundTrip at a time in one transaction sent in one
// round trip (the role and claims are set again before each group's
// query), up to the pool's size of such transactions at once. visible[g]
// answers ids[g]; errs[g] is its error (then visible[g] is all false). A
// group whose policy fails does not fail the others: its round trip is
// retried one group at a time.
//
// The wait costs no round trip of its own: each transaction first asks
// whether the transactions of after have ended, and its checks, later
// statements with later snapshots, then see their rows. Only when one has
// not does it wait as WaitCommitted does and check again. A wait that
// fails is logged and the checks run anyway: they still decide, and may
// only miss rows not yet visible (fail closed).
func (a *Authorizer) VisibleKeysGroups(ctx context.Context, ids []Identity, table Table, keys [][]string, after []uint32) (visible [][]bool, errs []error) {
	visible, errs = make([][]bool, len(ids)), make([]error, len(ids))
	for g := range ids {
		visible[g] = make([]bool, len(keys))
	}
	if len(ids) == 0 || len(keys) == 0 {
		return visible, errs
	}
	info, err := a.tableInfo(ctx, table)
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
		a.groupsKeys(ctx, ids, table, info, keys[ks:ke], part, errs, after)
		after = nil // every round trip of the first chunk saw them end, or waited
	}
	for g, err := range errs {
		if err != nil {
			clear(visible[g])
		}
	}
	return visible, errs
}

// tableInfo is info bounded by QueryTimeout.
func (a *Authorizer) tableInfo(ctx context.Context, table Table) (*tableInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	return a.info(ctx, table)
}

// groupsKeys checks one chunk of at most MaxKeys keys for every group.
func (a *Authorizer) groupsKeys(ctx context.Context, ids []Identity, table Table, info *tableInfo, keys [][]string, visible [][]bool, errs []error, after []uint32) {
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
			ended, err := a.groupsChunk(ctx, after, ids[start:end], table, info, cols, visible[start:end])
			if !ended {
				// Not ended yet, or unknown (the round trip failed).
				a.waitEnded(ctx, after)
				if err == nil {
					clearAll(visible[start:end])
					_, err = a.groupsChunk(ctx, nil, ids[start:end], table, info, cols, visible[start:end])
				}
			}
			if err == nil {
				return
			}
			// Find who failed: one group per round trip.
			for g := start; g < end; g++ {
				clear(visible[g])
				if _, err := a.groupsChunk(ctx, nil, ids[g:g+1], table, info, cols, visible[g:g+1]); err != nil {
					errs[g] = err
				}
			}
		})
	}
	wg.Wait()
}

// waitEnded waits for the transactions xids to end, logging a failure.
func (a *Authorizer) waitEnded(ctx context.Context, xids []uint32) {
	if err := a.WaitCommitted(ctx, xids); err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("row checks may miss rows of transactions still ending", "error", err)
	}
}

func clearAll(visible [][]bool) {
	for _, v := range visible {
		clear(v)
	}
}

// groupsChunk checks ids in one transaction and round trip. With after,
// the transaction first asks whether those transactions have ended; ended
// reports the answer (true without after), and when it is false the
// results are not to be used.
func (a *Authorizer) groupsChunk(ctx context.Context, after []uint32, ids []Identity, table Table, info *tableInfo, cols []any, visible [][]bool) (ended bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
	defer cancel()
	conn, err := a.cfg.Pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("authz: %w", err)
	}
	defer conn.Release() // a connection left inside a transaction is closed by the pool
	timeout := a.timeoutSetting()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if len(after) > 0 {
		b.Queue(committedQuery, xidArg(after)).QueryRow(func(row pgx.Row) error { return row.Scan(&ended) })
	} else {
		ended = true
	}
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
		return ended, fmt.Errorf("authz: check rows of %s as role %q: %w", table, ids[0].Role, err)
	}
	return ended, nil
}
