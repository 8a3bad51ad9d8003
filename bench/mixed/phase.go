package mixed

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

// setupSQL creates tables m_0 to m_<n-1>, all alike, readable by anon (the
// publication covers all tables). sent_ns is the load generator's clock
// just before the transaction's INSERT.
func setupSQL(n int) string {
	return fmt.Sprintf(`DO $$ BEGIN
  FOR i IN 0..%d LOOP
    EXECUTE format('CREATE TABLE m_%%s (id bigserial PRIMARY KEY, k int NOT NULL, sub int NOT NULL, region int NOT NULL, score int NOT NULL, status text NOT NULL, sent_ns bigint NOT NULL, payload text NOT NULL)', i);
  END LOOP;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO anon;`, n-1)
}

// insertSQL inserts rows j = $7..$8 of one table: sub $2 + $3 × (j mod $4),
// that is the table's subscriptions in turn.
const insertSQL = `INSERT INTO %s (k, sub, region, score, status, sent_ns, payload)
SELECT $1, $2::int + $3::int * (j %% $4::int), j %% 7, j %% 100, (ARRAY['open','held','done'])[j %% 3 + 1], $5, $6 FROM generate_series($7::int, $8::int) j`

// plan is the load of one case: which transaction goes to which table and
// how many rows each subscription gets.
type plan struct {
	txs  []planTx
	want []int // rows per subscription
}

type planTx struct {
	table    int
	from, to int // rows j of the table, inclusive
}

// makePlan spreads rows over the case's tables, txRows per transaction,
// the tables in turn; row j of table t is for subscription
// t + tables × (j mod subs/tables).
func makePlan(c tableCase, subs, rows, txRows int) plan {
	p := plan{want: make([]int, subs)}
	next := make([]int, c.tables)
	per := subs / c.tables
	for n, done := 0, 0; done < rows; n++ {
		t := n % c.tables
		cnt := min(txRows, rows-done)
		p.txs = append(p.txs, planTx{table: t, from: next[t], to: next[t] + cnt - 1})
		for j := next[t]; j < next[t]+cnt; j++ {
			p.want[t+c.tables*(j%per)]++
		}
		next[t] += cnt
		done += cnt
	}
	return p
}

// measurement is one case measured once.
type measurement struct {
	run                  int
	name                 string
	rows                 int
	delivered, misrouted int64
	offCount             int // subscriptions that got another count than planned
	wall                 time.Duration
	serverCPU            time.Duration // walcast serve, first insert → last delivery
	hist                 stats.Histogram
	lost                 error
}

// deliveredAll: every row reached its one subscription, nothing else
// arrived; only then are the figures a result.
func (m measurement) deliveredAll() bool {
	return m.delivered == int64(m.rows) && m.misrouted == 0 && m.offCount == 0 && m.lost == nil && m.wall > 0
}

// cpuPer1k is walcast's CPU-s per 1,000 deliveries (0 without any).
func (m measurement) cpuPer1k() float64 {
	if m.delivered == 0 {
		return 0
	}
	return m.serverCPU.Seconds() * 1000 / float64(m.delivered)
}

func (m measurement) line() string {
	if m.delivered == 0 {
		return fmt.Sprintf("run %d, %s: no deliveries of %s rows (%v)", m.run, m.name, stats.Group(float64(m.rows)), m.lost)
	}
	return fmt.Sprintf("run %d, %s: %s of %s rows delivered in %.2f s, p50 %s ms, p99 %s ms, walcast %.3f CPU-s per 1,000, misrouted %d, subscriptions off their count %d",
		m.run, m.name, stats.Group(float64(m.delivered)), stats.Group(float64(m.rows)), m.wall.Seconds(), stats.Ms(m.hist.Quantile(0.5)), stats.Ms(m.hist.Quantile(0.99)),
		m.cpuPer1k(), m.misrouted, m.offCount)
}

// warmRows go through each fresh server before the measured rows (more
// when the tables need more to get a transaction each).
const warmRows = 1000

type mixedBench struct{ *harness.PGBench }

// measure starts a fresh walcast serve, joins the case's subscriptions,
// inserts a warm-up and the measured rows at opt.Rate and waits for their
// deliveries.
func (b mixedBench) measure(ctx context.Context, opt mixedOptions, c tableCase) (m measurement, err error) {
	m = measurement{name: c.name, rows: opt.Rows}
	warm, k := b.Marker()
	srv, stopServe, err := b.ServeOnSlot(ctx, fmt.Sprintf("bench_mixed_%d", k), "", harness.CatchUpQueueEnv)
	if err != nil {
		return m, err
	}
	defer func() {
		if serr := stopServe(); err == nil {
			err = serr
		}
	}()
	set, err := pgchanges.Dial(ctx, b.WsURL(srv.Port), opt.subs, spec(c, opt.subs, opt.perConn, k))
	if err != nil {
		return m, fmt.Errorf("join %d subscriptions: %w", opt.subs, err)
	}
	defer set.Close()
	// The warm-up reaches every table, so that none is first seen (its
	// Relation message, its subscriptions' first match) in the measured rows.
	warmPlan := makePlan(c, opt.subs, max(warmRows, c.tables*opt.TxRows), opt.TxRows)
	if _, err := insertPaced(ctx, b.Load[0], warmPlan, warm, c.tables, opt.subs, opt.TxRows, opt.Rate); err != nil {
		return m, err
	}
	if _, err := b.WaitQuiet(ctx); err != nil {
		return m, err
	}
	runtime.GC()
	pid := srv.Cmd.Process.Pid
	before, _ := harness.ProcCPU(pid)
	p := makePlan(c, opt.subs, opt.Rows, opt.TxRows)
	first, err := insertPaced(ctx, b.Load[0], p, k, c.tables, opt.subs, opt.TxRows, opt.Rate)
	if err != nil {
		return m, err
	}
	if err := set.AwaitDelivered(ctx, int64(opt.Rows), srv.ExitedEarly, time.Minute); err != nil {
		return m, err
	}
	after, _ := harness.ProcCPU(pid)
	m.serverCPU = after - before
	if err := srv.ExitedEarly(); err != nil {
		return m, err
	}
	_, m.lost = set.Lost()
	got := set.Tally(func(v int) int { return p.want[v] })
	m.delivered, m.misrouted, m.offCount, m.hist = got.Delivered, got.Misrouted, got.OffCount, got.Hist
	if got.Last > 0 {
		m.wall = time.Duration(got.Last - first.UnixNano())
	}
	return m, nil
}

// insertPaced runs the plan's transactions, the n-th starting at
// n×txRows/rate seconds (later when the database falls behind), and
// returns when the first began.
func insertPaced(ctx context.Context, conn *pgx.Conn, p plan, k int64, tables, subs, txRows, rate int) (first time.Time, err error) {
	return harness.Paced(ctx, len(p.txs), harness.PaceInterval(txRows, rate), func(n int, now time.Time) error {
		tx := p.txs[n]
		q := fmt.Sprintf(insertSQL, tableName(tx.table))
		if _, err := conn.Exec(ctx, q, k, tx.table, tables, subs/tables, now.UnixNano(), harness.RowPayload, tx.from, tx.to); err != nil {
			return fmt.Errorf("insert rows %d–%d into %s: %w", tx.from, tx.to, tableName(tx.table), err)
		}
		return nil
	})
}
