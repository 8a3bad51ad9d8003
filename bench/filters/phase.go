package filters

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/pgchanges"
	"github.com/walcast/walcast/bench/stats"
)

// burstSQL inserts rows [$4, $5] of a burst in one transaction; row g is
// for subscription g mod $2 (the hot subscriptions).
const burstSQL = `INSERT INTO t (k, sub, payload) SELECT $1, g % $2, $3 FROM generate_series($4::int, $5::int) g`

// filtersWarmRows is the size of the warm-up burst before each measured one.
const filtersWarmRows = 2000

// filtersDrainWait bounds how long a measurement waits for the burst's
// deliveries; what has not arrived by then counts as missing.
const filtersDrainWait = time.Minute

// filtersRow is one measurement: one burst through subs subscriptions.
type filtersRow struct {
	run, subs, conns     int
	rows                 int
	delivered, misrouted int64
	dups                 int64         // rows a channel got more than once
	offCount             int           // subscriptions that got another count than expected
	wall                 time.Duration // first commit of the burst → last delivery
	insert               time.Duration // first commit → last commit
	serverCPU            time.Duration // walcast serve, from before the burst to the last delivery
	other                float64       // cores used by other processes meanwhile
	connect              time.Duration // dialing and joining every channel
	rssMB                float64       // walcast serve after the burst
	lostConns, slow      int
	connErr              error
}

func (r filtersRow) rate() float64 { return stats.RowsPerSecond(int(r.delivered), r.wall) }

// measured reports whether the row has a rate: a burst of which nothing
// arrived has no time to divide by, and its rate is no result.
func (r filtersRow) measured() bool { return r.delivered > 0 && r.wall > 0 }

// rateText is the row's rows/s, or "—" without deliveries.
func (r filtersRow) rateText() string {
	if !r.measured() {
		return "—"
	}
	return stats.Group(r.rate())
}

func (r filtersRow) line() string {
	if !r.measured() {
		return fmt.Sprintf("run %d, %s on %s connections: no deliveries of the %s rows (inserted in %.3f s), %d connections lost (%v)",
			r.run, subscriptions(r.subs), stats.Group(float64(r.conns)), stats.Group(float64(r.rows)), r.insert.Seconds(), r.lostConns, r.connErr)
	}
	return fmt.Sprintf("run %d, %s on %s connections: %s rows/s (%s of %s rows in %.3f s; inserted in %.3f s), server %.2f CPU-s per 1,000 rows, %.0f MB RSS, join %.1f s, misrouted %d, duplicates %d, subscriptions off their count %d",
		r.run, subscriptions(r.subs), stats.Group(float64(r.conns)), stats.Group(r.rate()), stats.Group(float64(r.delivered)), stats.Group(float64(r.rows)), r.wall.Seconds(), r.insert.Seconds(),
		r.serverCPU.Seconds()*1000/float64(max(r.rows, 1)), r.rssMB, r.connect.Seconds(), r.misrouted, r.dups, r.offCount)
}

// filtersBench is the cluster of a filters run.
type filtersBench struct{ *harness.PGBench }

// filtersPhase starts a fresh walcast serve, joins n eq subscriptions,
// inserts the burst and waits for its deliveries.
func (b filtersBench) filtersPhase(ctx context.Context, opt filtersOptions, n int) (row filtersRow, err error) {
	row = filtersRow{subs: n, rows: opt.rows}
	warm, k := b.Marker()
	slot := fmt.Sprintf("bench_filters_%d", k)
	srv, stopServe, err := b.ServeOnSlot(ctx, slot, "", harness.CatchUpQueueEnv)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := stopServe(); err == nil {
			err = serr
		}
	}()
	connecting := time.Now()
	set, err := pgchanges.Dial(ctx, b.WsURL(srv.Port), n, filterSpec(opt.perConn, k))
	if err != nil {
		return row, fmt.Errorf("join %d subscriptions: %w", n, err)
	}
	defer set.Close()
	row.connect, row.conns = time.Since(connecting), set.Len()
	hot := min(n, opt.hot)
	// A warm-up burst (rows of another marker, which the clients ignore)
	// lets the server finish what the joins left (subscriptions still
	// being checked, collections of the heap they built) before the
	// measured one.
	if _, _, err := insertBurst(ctx, b.Load[0], warm, hot, filtersWarmRows, opt.txRows); err != nil {
		return row, err
	}
	if _, err := b.WaitQuiet(ctx); err != nil {
		return row, err
	}

	// The clients of 100,000 channels make a large heap in this process:
	// collect it now, so that a collection of the load generator's own
	// does not slow the receiving client during the burst.
	runtime.GC()
	pid := srv.Cmd.Process.Pid
	before := harness.TakeCPU(b.Postmaster, pid)
	first, last, err := insertBurst(ctx, b.Load[0], k, hot, opt.rows, opt.txRows)
	if err != nil {
		return row, err
	}
	row.insert = last.Sub(first)
	if err := harness.WaitDelivered(ctx, set.Received, int64(opt.rows), srv.ExitedEarly, filtersDrainWait); err != nil {
		return row, err
	}
	after := harness.TakeCPU(b.Postmaster, pid)
	row.serverCPU = after.Server - before.Server
	row.other = before.Until(after).Other()
	row.rssMB = float64(harness.VmRSS(pid)) / (1 << 20)
	if err := srv.ExitedEarly(); err != nil {
		return row, err
	}
	row.lostConns, row.connErr = set.Lost()
	got := set.Tally(func(v int) int { return burstRowsFor(v, hot, opt.rows) })
	row.delivered, row.misrouted, row.dups, row.offCount = got.Delivered, got.Misrouted, got.Duplicates, got.OffCount
	row.wall = burstWall(first, got.Last)
	row.slow = srv.LogCount("slow consumer")
	return row, nil
}

// burstWall is the time from the burst's first commit to its last
// delivery (Unix ns), or 0 when nothing was delivered: a last delivery of
// 0 is no time.
func burstWall(first time.Time, lastDelivery int64) time.Duration {
	if lastDelivery == 0 {
		return 0
	}
	return time.Duration(lastDelivery - first.UnixNano())
}

// insertBurst inserts rows rows with k and sub = row number mod hot, in
// transactions of txRows, and returns when the first and the last
// transaction committed.
func insertBurst(ctx context.Context, conn *pgx.Conn, k int64, hot, rows, txRows int) (first, last time.Time, err error) {
	for from := 0; from < rows; from += txRows {
		to := min(from+txRows, rows) - 1
		if _, err := conn.Exec(ctx, burstSQL, k, hot, harness.RowPayload, from, to); err != nil {
			return first, last, fmt.Errorf("insert burst rows %d–%d: %w", from, to, err)
		}
		if from == 0 {
			first = time.Now()
		}
	}
	return first, time.Now(), nil
}

// burstRowsFor is how many of the burst's rows carry sub value v when they
// are spread over the first hot values.
func burstRowsFor(v, hot, rows int) int {
	if v >= hot {
		return 0
	}
	return rows/hot + stats.Btoi(v < rows%hot)
}
