package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The latency table: ~100-byte rows (tuple header included) whose sent_at
// is clock_timestamp() at insert, just before the one-row transaction
// commits. k marks the run a row belongs to and whether it is measured;
// sub picks the one subscriber an eq-filtered row is for.
const (
	latencySetupSQL = `
CREATE TABLE t (
  id bigserial PRIMARY KEY,
  k int NOT NULL,
  sub int NOT NULL DEFAULT 0,
  sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  payload text NOT NULL
);
` + grantAnon + `
GRANT SELECT ON t TO anon;
CREATE PUBLICATION walcast FOR ALL TABLES;`
	insertSQL = `INSERT INTO t (k, sub, payload) VALUES ($1, $2, $3)`
)

// grantAnon creates the role anon when the cluster lacks it (walcast
// serve's migrations, which create it otherwise, run after the schema):
// serve delivers a table's changes to a token of role anon only when anon
// may SELECT it.
const grantAnon = `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
END $$;`

var rowPayload = strings.Repeat("x", 64)

// loadStats describes one paced load.
type loadStats struct {
	measured     int64         // rows committed with the measured marker
	perSub       []int64       // of those, how many carry each sub value (0 … mod−1)
	unsent       int64         // rows of the schedule given up on past loadLateLimit
	measureStart time.Time     // when the first measured row was due
	late         time.Duration // how long after its schedule the last insert finished
}

// loadLateLimit is how far behind its schedule a paced load may fall (the
// system under test not taking rows as fast as asked) before the rest of
// its rows are given up, so that an overloaded phase ends in bounded time.
const loadLateLimit = 15 * time.Second

// loadRow is one row the load generator inserts.
type loadRow struct{ k, sub int64 }

// runLoad inserts rate rows a second, one per transaction, spread over
// conns: for warm with k = warmK, then for measure with k = measK, calling
// onMeasure as the first measured row is due. With mod > 0 the n-th row
// carries sub = n mod mod, otherwise sub = 0. Rows not inserted by
// loadLateLimit after the end of the schedule are counted as unsent.
func runLoad(ctx context.Context, conns []*pgx.Conn, rate, mod int, warm, measure time.Duration, warmK, measK int64, onMeasure func()) (loadStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	total := warm + measure
	start := time.Now()
	giveUp := start.Add(total + loadLateLimit)
	jobs := make(chan loadRow, 1<<16)
	var measured, unsent atomic.Int64
	perSub := make([]atomic.Int64, max(mod, 1))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for row := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if time.Now().After(giveUp) {
					unsent.Add(1)
					continue
				}
				if _, err := c.Exec(ctx, insertSQL, row.k, row.sub, rowPayload); err != nil {
					cancel(fmt.Errorf("load connection %d: insert: %w", i+1, err))
					continue
				}
				if row.k == measK {
					measured.Add(1)
					perSub[row.sub].Add(1)
				}
			}
		})
	}
	tick := time.NewTicker(time.Millisecond)
	due := int(total.Seconds() * float64(rate))
	issued := 0
pace:
	for issued < due {
		select {
		case <-ctx.Done():
			break pace
		case <-tick.C:
		}
		now := min(int(time.Since(start).Seconds()*float64(rate)), due)
		for ; issued < now; issued++ {
			row := loadRow{k: warmK}
			if mod > 0 {
				row.sub = int64(issued % mod)
			}
			if time.Duration(float64(issued)/float64(rate)*float64(time.Second)) >= warm {
				row.k = measK
				if onMeasure != nil {
					onMeasure()
					onMeasure = nil
				}
			}
			select {
			case jobs <- row:
			case <-ctx.Done():
				break pace
			}
			if time.Now().After(giveUp) {
				issued++
				break pace
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return loadStats{}, err
	}
	ls := loadStats{measured: measured.Load(), unsent: unsent.Load() + int64(due-issued),
		measureStart: start.Add(warm), late: time.Since(start) - total}
	for i := range perSub {
		ls.perSub = append(ls.perSub, perSub[i].Load())
	}
	return ls, nil
}

// runBurst inserts one-row transactions as fast as conns allow for d and
// returns how many it committed.
func runBurst(ctx context.Context, conns []*pgx.Conn, d time.Duration, k int64) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(d)
	var rows atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, err := c.Exec(ctx, insertSQL, k, 0, rowPayload); err != nil {
					cancel(fmt.Errorf("burst connection %d: insert: %w", i+1, err))
					return
				}
				rows.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return rows.Load(), nil
}
