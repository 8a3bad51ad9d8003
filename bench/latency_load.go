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
// commits. k marks the run a row belongs to and whether it is measured.
const (
	latencySetupSQL = `
CREATE TABLE t (
  id bigserial PRIMARY KEY,
  k int NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  payload text NOT NULL
);
CREATE PUBLICATION walcast FOR ALL TABLES;`
	insertSQL = `INSERT INTO t (k, payload) VALUES ($1, $2)`
)

var rowPayload = strings.Repeat("x", 64)

// loadStats describes one paced load.
type loadStats struct {
	measured     int64         // rows committed with the measured marker
	measureStart time.Time     // when the first measured row was due
	late         time.Duration // how long after its schedule the last insert finished
}

// runLoad inserts rate rows a second, one per transaction, spread over
// conns: for warm with k = warmK, then for measure with k = measK, calling
// onMeasure as the first measured row is due.
func runLoad(ctx context.Context, conns []*pgx.Conn, rate int, warm, measure time.Duration, warmK, measK int64, onMeasure func()) (loadStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int64, 1<<16)
	var measured atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for k := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if _, err := c.Exec(ctx, insertSQL, k, rowPayload); err != nil {
					cancel(fmt.Errorf("load connection %d: insert: %w", i+1, err))
					continue
				}
				if k == measK {
					measured.Add(1)
				}
			}
		})
	}
	total := warm + measure
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	issued := 0
pace:
	for {
		select {
		case <-ctx.Done():
			break pace
		case <-tick.C:
		}
		el := min(time.Since(start), total)
		for due := int(el.Seconds() * float64(rate)); issued < due; issued++ {
			k := warmK
			if time.Duration(float64(issued)/float64(rate)*float64(time.Second)) >= warm {
				k = measK
				if onMeasure != nil {
					onMeasure()
					onMeasure = nil
				}
			}
			select {
			case jobs <- k:
			case <-ctx.Done():
				break pace
			}
		}
		if el >= total {
			break
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return loadStats{}, err
	}
	return loadStats{measured: measured.Load(), measureStart: start.Add(warm), late: time.Since(start) - total}, nil
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
				if _, err := c.Exec(ctx, insertSQL, k, rowPayload); err != nil {
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
