package rls

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/pgchanges"
	"github.com/walcast/walcast/bench/stats"
)

// mode is one way of delivering each user its own rows.
type mode struct {
	name     string
	table    string
	filtered bool // an owner=eq.<user> filter; otherwise the row policy decides
}

// modes: the reference (no row security, an eq filter per user) first.
var modes = []mode{
	{name: "eq filter, no RLS", table: "notes_open", filtered: true},
	{name: "RLS policy, no filter", table: "notes_rls"},
}

// rlsBench is the cluster, walcast binary and user tokens of a run.
type rlsBench struct {
	*harness.PGBench
	tokens []string
}

// measurement is one mode measured once.
type measurement struct {
	run                  int
	mode                 string
	rows                 int
	delivered, misrouted int64
	offCount             int           // users that got another count than their rows
	wall                 time.Duration // first INSERT → last delivery
	serverCPU, pgCPU     time.Duration // walcast serve; the cluster's processes (load, walsender, row checks)
	hist                 stats.Histogram
	slow                 int
	lost                 error
}

// deliveredAll reports whether every row reached its owner exactly once
// and nothing else was delivered: only then are the figures a result.
func (m measurement) deliveredAll() bool {
	return m.delivered == int64(m.rows) && m.misrouted == 0 && m.offCount == 0 && m.lost == nil && m.wall > 0
}

// perCPUSecond is deliveries per CPU-second of walcast and Postgres
// together (0 without deliveries).
func (m measurement) perCPUSecond() float64 {
	cpu := (m.serverCPU + m.pgCPU).Seconds()
	if m.delivered == 0 || cpu <= 0 {
		return 0
	}
	return float64(m.delivered) / cpu
}

func (m measurement) line() string {
	if m.delivered == 0 {
		return fmt.Sprintf("run %d, %s: no deliveries of %s rows (%v)", m.run, m.mode, stats.Group(float64(m.rows)), m.lost)
	}
	return fmt.Sprintf("run %d, %s: %s of %s rows delivered in %.2f s, p50 %s ms, p99 %s ms, walcast %.2f + postgres %.2f CPU-s, %s deliveries per CPU-s, misrouted %d, users off their count %d",
		m.run, m.mode, stats.Group(float64(m.delivered)), stats.Group(float64(m.rows)), m.wall.Seconds(), stats.Ms(m.hist.Quantile(0.5)), stats.Ms(m.hist.Quantile(0.99)),
		m.serverCPU.Seconds(), m.pgCPU.Seconds(), stats.Group(m.perCPUSecond()), m.misrouted, m.offCount)
}

// warmRows go through each fresh server before the measured rows.
const warmRows = 1000

// measure starts a fresh walcast serve, connects every user to md's table,
// inserts a warm-up and then the measured rows at opt.Rate, and waits for
// their deliveries.
func (b *rlsBench) measure(ctx context.Context, opt rlsOptions, md mode) (m measurement, err error) {
	m = measurement{mode: md.name, rows: opt.Rows}
	warm, k := b.Marker()
	srv, stopServe, err := b.ServeOnSlot(ctx, fmt.Sprintf("bench_rls_%d", k), "", harness.CatchUpQueueEnv)
	if err != nil {
		return m, err
	}
	defer func() {
		if serr := stopServe(); err == nil {
			err = serr
		}
	}()
	set, err := pgchanges.Dial(ctx, b.WsURL(srv.Port), len(b.tokens), b.userSpec(md, k))
	if err != nil {
		return m, err
	}
	defer set.Close()
	if _, err := b.insertPaced(ctx, md.table, warm, opt.users, warmRows, opt.TxRows, opt.Rate); err != nil {
		return m, err
	}
	if _, err := b.WaitQuiet(ctx); err != nil {
		return m, err
	}
	runtime.GC()
	pid := srv.Cmd.Process.Pid
	began, before := time.Now(), harness.TakeCPU(b.Postmaster, pid)
	first, err := b.insertPaced(ctx, md.table, k, opt.users, opt.Rows, opt.TxRows, opt.Rate)
	if err != nil {
		return m, err
	}
	if err := set.AwaitDelivered(ctx, int64(opt.Rows), srv.ExitedEarly, time.Minute); err != nil {
		return m, err
	}
	after := harness.TakeCPU(b.Postmaster, pid)
	// Pg is in cores over the span; times the span, CPU-seconds.
	m.pgCPU = time.Duration(before.Until(after).Pg * float64(time.Since(began)))
	m.serverCPU = after.Server - before.Server
	if err := srv.ExitedEarly(); err != nil {
		return m, err
	}
	_, m.lost = set.Lost()
	got := set.Tally(func(u int) int { return rowsOf(u, opt.users, opt.Rows) })
	m.delivered, m.misrouted, m.offCount, m.hist = got.Delivered, got.Misrouted, got.OffCount, got.Hist
	if got.Last > 0 {
		m.wall = time.Duration(got.Last - first.UnixNano())
	}
	m.slow = srv.LogCount("slow consumer")
	return m, nil
}

// rowsOf is how many of rows rows belong to user u of users (row g to
// user g mod users).
func rowsOf(u, users, rows int) int {
	n := rows / users
	if u < rows%users {
		n++
	}
	return n
}

// insertSQL inserts rows [$4, $5] with marker $1, owner g mod $2 and
// sent_ns $3.
const insertSQL = `INSERT INTO %s (k, owner, sent_ns, payload) SELECT $1, g %% $2, $3, $6 FROM generate_series($4::int, $5::int) g`

// insertPaced inserts rows rows into table in transactions of txRows, the
// n-th starting at n×txRows/rate seconds (later when the database falls
// behind), and returns when the first began.
func (b *rlsBench) insertPaced(ctx context.Context, table string, k int64, users, rows, txRows, rate int) (first time.Time, err error) {
	q := fmt.Sprintf(insertSQL, table)
	return harness.Paced(ctx, (rows+txRows-1)/txRows, harness.PaceInterval(txRows, rate), func(n int, now time.Time) error {
		from := n * txRows
		to := min(from+txRows, rows) - 1
		if _, err := b.Load[0].Exec(ctx, q, k, users, now.UnixNano(), from, to, harness.RowPayload); err != nil {
			return fmt.Errorf("insert rows %d–%d into %s: %w", from, to, table, err)
		}
		return nil
	})
}
