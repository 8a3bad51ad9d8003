package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/localpg"
)

// latencyBench is the state shared by the phases of one latency run.
type latencyBench struct {
	opt                latencyOptions
	tmp, bin, binDir   string
	url, secret, token string
	conn               *pgx.Conn   // setup and slots
	load               []*pgx.Conn // the load generator's
	markers            int64
	postmaster         int // PID, for CPU accounting
}

func latency(ctx context.Context, args []string) error {
	opt, err := parseLatencyFlags(args)
	if err != nil {
		return err
	}
	b, stop, err := startLatencyBenchTemp(ctx, "walcast-bench-", opt)
	defer stop()
	if err != nil {
		return err
	}

	loadBefore := loadAverage()
	began := time.Now()
	phases, err := b.runPhases(ctx)
	if err != nil {
		return err
	}
	var bursts []result
	var burstNote string
	var burstErr error // reported after the matrix's report and JSON are written
	if opt.burstRuns > 0 && opt.burst > 0 {
		if bursts, burstNote, err = b.burstRuns(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			bursts, burstErr = nil, fmt.Errorf("burst: %w", err)
		}
	}

	machine, err := describeMachine(ctx, b.conn, filepath.Join(b.binDir, "postgres"), b.bin)
	if err != nil {
		return err
	}
	settings, err := pgSettings(ctx, b.conn)
	if err != nil {
		return err
	}
	var report bytes.Buffer
	writeLatencyReport(&report, opt, phases, bursts, reportContext{
		machine: machine, settings: settings, loadBefore: loadBefore, loadAfter: loadAverage(),
		took: time.Since(began), burstNote: burstNote, burstErr: burstErr,
	})
	if err := publishReport(report.Bytes(), opt.out, opt.json, latencyResults(opt, phases, machine)); err != nil {
		return err
	}
	return burstErr
}

// startLatencyBenchTemp starts a latencyBench with opt (see start) in a
// fresh temporary directory named after pattern, which stop also removes.
func startLatencyBenchTemp(ctx context.Context, pattern string, opt latencyOptions) (b *latencyBench, stop func(), err error) {
	tmp, err := clusterTempDir(pattern)
	if err != nil {
		return nil, func() {}, err
	}
	b = &latencyBench{opt: opt, tmp: tmp, bin: opt.walcast}
	stopBench, err := b.start(ctx)
	return b, func() {
		stopBench()
		os.RemoveAll(tmp)
	}, err
}

// start builds walcast unless given, starts the cluster, creates the table
// and publication and opens the connections. stop undoes what was done,
// also after an error.
func (b *latencyBench) start(ctx context.Context) (stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if b.binDir, err = localpg.FindBinDir(); err != nil {
		return stop, err
	}
	if b.bin == "" {
		b.bin = filepath.Join(b.tmp, "walcast")
		if err := buildWalcast(ctx, b.bin); err != nil {
			return stop, err
		}
	}
	fmt.Fprintln(os.Stderr, "starting postgres ...")
	dataDir := filepath.Join(b.tmp, "pgdata")
	cluster, err := localpg.Start(ctx, localpg.Config{
		DataDir: dataDir, BinDir: b.binDir, Fast: true,
		// Commits wait for their WAL write: with synchronous_commit=off WAL
		// reaches the walsender only every wal_writer_delay.
		Settings: map[string]string{"synchronous_commit": "on"},
	})
	if err != nil {
		return stop, err
	}
	undo = append(undo, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench latency:", err)
		}
	})
	b.url = cluster.URL("postgres")
	b.postmaster = postmasterPID(dataDir)
	connect := func(what string) (*pgx.Conn, error) {
		c, err := pgx.Connect(ctx, b.url)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", what, err)
		}
		undo = append(undo, func() { c.Close(context.WithoutCancel(ctx)) })
		return c, nil
	}
	if b.conn, err = connect("for setup"); err != nil {
		return stop, err
	}
	if _, err := b.conn.Exec(ctx, latencySetupSQL); err != nil {
		return stop, fmt.Errorf("create table t and publication: %w", err)
	}
	for range b.opt.conns {
		c, err := connect("load generator")
		if err != nil {
			return stop, err
		}
		b.load = append(b.load, c)
	}
	b.secret, b.token, err = anonToken()
	return stop, err
}

// runPhases runs the rounds: per rate, the bare receiver once, then walcast
// with each subscriber count and filter mode under the delivery cap.
func (b *latencyBench) runPhases(ctx context.Context) ([]phaseResult, error) {
	var phases []phaseResult
	for round := 1; round <= b.opt.rounds; round++ {
		for _, rate := range b.opt.rates {
			run, _ := b.opt.walcastSpecs(rate)
			for _, spec := range append([]phaseSpec{{rate: rate}}, run...) {
				res, err := b.phase(ctx, spec, round)
				if err != nil {
					return nil, fmt.Errorf("round %d, %d rows/s, %s: %w", round, rate, spec.describe(), err)
				}
				phases = append(phases, res)
			}
		}
	}
	return phases, nil
}

// noisyCores is how much CPU other processes may take during a phase
// before it is repeated (--retries).
const noisyCores = 0.25

// phase runs one phase (subs 0: the bare receiver) once the machine is
// quiet, and repeats it while other processes took more than noisyCores.
func (b *latencyBench) phase(ctx context.Context, spec phaseSpec, round int) (phaseResult, error) {
	for attempt := 0; ; attempt++ {
		q, err := b.waitQuiet(ctx)
		if err != nil {
			return phaseResult{}, err
		}
		var res phaseResult
		if spec.subs == 0 {
			res, err = b.barePhase(ctx, spec.rate, round)
		} else {
			res, err = b.walcastPhase(ctx, spec, round)
		}
		if err != nil {
			return res, err
		}
		res.quiet, res.repeats = q, attempt
		other := res.cpu.other()
		if other <= noisyCores || attempt >= b.opt.retries {
			return res, nil
		}
		fmt.Fprintf(os.Stderr, "other processes took %.2f cores during that phase; repeating it\n", other)
	}
}

func (b *latencyBench) wsURL(port int) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=2.0.0", port, b.token)
}

// marker returns fresh k values for a run's warm-up rows and measured rows.
func (b *latencyBench) marker() (warm, measured int64) {
	b.markers++
	return 2 * b.markers, 2*b.markers + 1
}

func pgSettings(ctx context.Context, conn *pgx.Conn) (string, error) {
	rows, err := conn.Query(ctx, `SELECT name || '=' || setting || coalesce(unit, '') FROM pg_settings
		WHERE name IN ('synchronous_commit', 'fsync', 'full_page_writes', 'wal_writer_delay', 'shared_buffers', 'wal_level') ORDER BY name`)
	if err != nil {
		return "", fmt.Errorf("read settings: %w", err)
	}
	s, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("read settings: %w", err)
	}
	return strings.Join(s, ", "), nil
}
