package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/internal/localpg"
)

// latencyOptions are the flags of the latency command.
type latencyOptions struct {
	rates, subs              []int
	rounds, burstRuns, conns int
	warmup, measure, burst   time.Duration
	out, walcast, cpuprofile string
	quietWait                time.Duration
	retries                  int
}

func parseLatencyFlags(args []string) (latencyOptions, error) {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: subscribers 1,100, 2 rounds of 2+8 s phases, one 3 s burst run, 4 s quiet wait, no retries")
	rates := fs.String("rates", "1000", "insert rates to measure, rows/s, comma-separated")
	subs := fs.String("subs", "1,100,1000", "WebSocket subscriber counts, comma-separated")
	rounds := fs.Int("rounds", 3, "rounds of alternating bare and walcast phases")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured load at the start of each phase")
	measure := fs.Duration("measure", 20*time.Second, "measured load of each phase")
	conns := fs.Int("conns", 4, "load generator connections")
	burst := fs.Duration("burst", 5*time.Second, "length of the max-rate burst load")
	burstRuns := fs.Int("burst-runs", 3, "timed runs per consumer of the burst")
	out := fs.String("out", "", "also write the report to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	quietWait := fs.Duration("quiet-wait", 2*time.Minute, "before each phase, wait up to this long for other processes to use under 0.15 cores (0: don't wait)")
	retries := fs.Int("retries", 1, "repeat a phase up to this often while other processes took over 0.25 cores during it")
	cpuprofile := fs.String("cpuprofile", "", "write CPU profiles of walcast serve: PREFIX-<rate>-<subs>-<round>.prof per phase, PREFIX-burst-<slot>.prof per burst run")
	if err := fs.Parse(args); err != nil {
		return latencyOptions{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return latencyOptions{}, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	opt := latencyOptions{rounds: *rounds, burstRuns: *burstRuns, conns: *conns, warmup: *warmup, measure: *measure,
		burst: *burst, out: *out, walcast: *walcast, cpuprofile: *cpuprofile, quietWait: *quietWait, retries: *retries}
	if *quick {
		for name, set := range map[string]func(){
			"subs":       func() { *subs = "1,100" },
			"rounds":     func() { opt.rounds = 2 },
			"warmup":     func() { opt.warmup = 2 * time.Second },
			"measure":    func() { opt.measure = 8 * time.Second },
			"burst":      func() { opt.burst = 3 * time.Second },
			"burst-runs": func() { opt.burstRuns = 1 },
			"quiet-wait": func() { opt.quietWait = 4 * time.Second },
			"retries":    func() { opt.retries = 0 },
		} {
			if !flagSet(fs, name) {
				set()
			}
		}
	}
	var err error
	if opt.rates, err = positiveInts(*rates); err != nil {
		return latencyOptions{}, usageError{fmt.Errorf("--rates: %w", err)}
	}
	if opt.subs, err = positiveInts(*subs); err != nil {
		return latencyOptions{}, usageError{fmt.Errorf("--subs: %w", err)}
	}
	if opt.rounds < 1 || opt.burstRuns < 0 || opt.conns < 1 || opt.measure <= 0 || opt.warmup < 0 || opt.burst < 0 || opt.quietWait < 0 || opt.retries < 0 {
		return latencyOptions{}, usageError{errors.New("--rounds and --conns must be at least 1, --measure positive, the rest not negative")}
	}
	return opt, nil
}

func positiveInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers", f)
		}
		out = append(out, n)
	}
	return out, nil
}

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
	tmp, err := clusterTempDir("walcast-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &latencyBench{opt: opt, tmp: tmp, bin: opt.walcast}
	stop, err := b.start(ctx)
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
	if opt.burstRuns > 0 && opt.burst > 0 {
		if bursts, burstNote, err = b.burstRuns(ctx); err != nil {
			return fmt.Errorf("burst: %w", err)
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
		took: time.Since(began), burstNote: burstNote,
	})
	if _, err := os.Stdout.Write(report.Bytes()); err != nil {
		return err
	}
	return writeReportFile(opt.out, report.Bytes())
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
	return stop, b.makeToken()
}

// runPhases runs the rounds: per rate, the bare receiver, then walcast with
// each subscriber count.
func (b *latencyBench) runPhases(ctx context.Context) ([]phaseResult, error) {
	var phases []phaseResult
	for round := 1; round <= b.opt.rounds; round++ {
		for _, rate := range b.opt.rates {
			for _, n := range append([]int{0}, b.opt.subs...) {
				res, err := b.phase(ctx, rate, n, round)
				if err != nil {
					return nil, fmt.Errorf("round %d, %d rows/s, %s: %w", round, rate, (&phaseResult{subs: n}).receiver(), err)
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
func (b *latencyBench) phase(ctx context.Context, rate, subs, round int) (phaseResult, error) {
	for attempt := 0; ; attempt++ {
		q, err := b.waitQuiet(ctx)
		if err != nil {
			return phaseResult{}, err
		}
		var res phaseResult
		if subs == 0 {
			res, err = b.barePhase(ctx, rate, round)
		} else {
			res, err = b.walcastPhase(ctx, rate, subs, round)
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

func (b *latencyBench) makeToken() error {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	b.secret = hex.EncodeToString(secret)
	token, err := auth.Sign([]byte(b.secret), map[string]any{"role": "anon", "exp": time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		return fmt.Errorf("sign token: %w", err)
	}
	b.token = token
	return nil
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
