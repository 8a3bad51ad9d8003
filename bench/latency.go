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
	"os/exec"
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
}

func parseLatencyFlags(args []string) (latencyOptions, error) {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: subscribers 1,100, 2 rounds of 2+8 s phases, one 3 s burst run")
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
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of each walcast serve phase to PREFIX-<rate>-<subs>-<round>.prof")
	if err := fs.Parse(args); err != nil {
		return latencyOptions{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return latencyOptions{}, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	opt := latencyOptions{rounds: *rounds, burstRuns: *burstRuns, conns: *conns, warmup: *warmup, measure: *measure,
		burst: *burst, out: *out, walcast: *walcast, cpuprofile: *cpuprofile}
	if *quick {
		for name, set := range map[string]func(){
			"subs":       func() { *subs = "1,100" },
			"rounds":     func() { opt.rounds = 2 },
			"warmup":     func() { opt.warmup = 2 * time.Second },
			"measure":    func() { opt.measure = 8 * time.Second },
			"burst":      func() { opt.burst = 3 * time.Second },
			"burst-runs": func() { opt.burstRuns = 1 },
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
	if opt.rounds < 1 || opt.burstRuns < 0 || opt.conns < 1 || opt.measure <= 0 || opt.warmup < 0 || opt.burst < 0 {
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
	opt                   latencyOptions
	tmp, bin, url, secret string
	token                 string
	conn                  *pgx.Conn   // setup and slots
	load                  []*pgx.Conn // the load generator's
	markers               int64
}

func latency(ctx context.Context, args []string) error {
	opt, err := parseLatencyFlags(args)
	if err != nil {
		return err
	}
	binDir, err := localpg.FindBinDir()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "walcast-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o711); err != nil { // the cluster may run as the postgres user
		return err
	}
	b := &latencyBench{opt: opt, tmp: tmp, bin: opt.walcast}
	if b.bin == "" {
		b.bin = filepath.Join(tmp, "walcast")
		fmt.Fprintln(os.Stderr, "building walcast ...")
		build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "github.com/walcast/walcast/cmd/walcast")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/walcast: %w\n%s", err, out)
		}
	}
	fmt.Fprintln(os.Stderr, "starting postgres ...")
	cluster, err := localpg.Start(ctx, localpg.Config{
		DataDir: filepath.Join(tmp, "pgdata"), BinDir: binDir, Fast: true,
		// Commits wait for their WAL write: with synchronous_commit=off WAL
		// reaches the walsender only every wal_writer_delay.
		Settings: map[string]string{"synchronous_commit": "on"},
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench latency:", err)
		}
	}()
	b.url = cluster.URL("postgres")
	if b.conn, err = pgx.Connect(ctx, b.url); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer b.conn.Close(context.WithoutCancel(ctx))
	if _, err := b.conn.Exec(ctx, latencySetupSQL); err != nil {
		return fmt.Errorf("create table t and publication: %w", err)
	}
	for range opt.conns {
		c, err := pgx.Connect(ctx, b.url)
		if err != nil {
			return fmt.Errorf("connect load generator: %w", err)
		}
		defer c.Close(context.WithoutCancel(ctx))
		b.load = append(b.load, c)
	}
	if err := b.makeToken(); err != nil {
		return err
	}

	loadBefore := loadAverage()
	began := time.Now()
	var phases []phaseResult
	for round := 1; round <= opt.rounds; round++ {
		for _, rate := range opt.rates {
			res, err := b.barePhase(ctx, rate, round)
			if err != nil {
				return fmt.Errorf("round %d, %d rows/s, bare receiver: %w", round, rate, err)
			}
			phases = append(phases, res)
			for _, n := range opt.subs {
				res, err := b.walcastPhase(ctx, rate, n, round)
				if err != nil {
					return fmt.Errorf("round %d, %d rows/s, walcast with %d subscribers: %w", round, rate, n, err)
				}
				phases = append(phases, res)
			}
		}
	}
	var bursts []result
	var burstNote string
	if opt.burstRuns > 0 && opt.burst > 0 {
		if bursts, burstNote, err = b.burstRuns(ctx); err != nil {
			return fmt.Errorf("burst: %w", err)
		}
	}

	machine, err := describeMachine(ctx, b.conn, filepath.Join(binDir, "postgres"), b.bin)
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
	if opt.out != "" {
		if err := os.WriteFile(opt.out, report.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
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

// barePhase measures the bare pgoutput receiver under one paced load.
func (b *latencyBench) barePhase(ctx context.Context, rate, round int) (phaseResult, error) {
	warmK, measK := b.marker()
	r, err := startBare(ctx, b.url, "", measK)
	if err != nil {
		return phaseResult{}, err
	}
	defer r.stop()
	var before cpuSnap
	ls, err := runLoad(ctx, b.load, rate, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = takeCPU(0) })
	if err != nil {
		return phaseResult{}, err
	}
	if err := waitDelivered(ctx, r.recv.Load, ls.measured, r.failed, drainWait); err != nil {
		return phaseResult{}, err
	}
	use := before.until(takeCPU(0))
	r.stop()
	if err := r.failed(); err != nil {
		return phaseResult{}, err
	}
	res := phaseResult{rate: rate, round: round, hist: r.hist, sent: ls.measured, delivered: r.recv.Load(),
		span: time.Duration(r.last - ls.measureStart.UnixNano()), late: ls.late, cpu: use}
	if res.delivered != res.sent {
		res.gapClients = 1
	}
	res.log(b.opt.measure)
	return res, nil
}

// walcastPhase measures walcast serve with n WebSocket subscribers under one
// paced load. Each phase runs its own server process on a fresh slot.
func (b *latencyBench) walcastPhase(ctx context.Context, rate, n, round int) (res phaseResult, err error) {
	warmK, measK := b.marker()
	slot := fmt.Sprintf("bench_walcast_%d", measK)
	profile := ""
	if b.opt.cpuprofile != "" {
		profile = fmt.Sprintf("%s-%d-%d-%d.prof", b.opt.cpuprofile, rate, n, round)
	}
	srv, err := startServe(ctx, b.bin, b.url, b.secret, slot, filepath.Join(b.tmp, slot+".log"), profile)
	if err != nil {
		return res, err
	}
	defer func() {
		_, serr := srv.stop()
		if derr := dropSlot(context.WithoutCancel(ctx), b.conn, slot); derr != nil && serr == nil {
			serr = derr
		}
		if err == nil {
			err = serr
		}
	}()
	connecting := time.Now()
	set, err := dialClients(ctx, b.wsURL(srv.port), n, measK, true)
	if err != nil {
		return res, fmt.Errorf("connect subscribers: %w", err)
	}
	defer set.close()
	res.connect = time.Since(connecting)
	pid := srv.cmd.Process.Pid
	var before cpuSnap
	ls, err := runLoad(ctx, b.load, rate, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = takeCPU(pid) })
	if err != nil {
		return res, err
	}
	if err := waitDelivered(ctx, set.received, ls.measured*int64(n), srv.exitedEarly, drainWait); err != nil {
		return res, err
	}
	res.cpu = before.until(takeCPU(pid))
	if err := srv.exitedEarly(); err != nil {
		return res, err
	}
	res.lostConns, res.connErr = set.lostConns()
	set.close()
	res.rate, res.subs, res.round, res.sent, res.late = rate, n, round, ls.measured, ls.late
	var last int64
	for _, c := range set.clients {
		res.hist.merge(&c.hist)
		got := c.recv.Load()
		res.delivered += got
		if got != ls.measured {
			res.gapClients++
		}
		last = max(last, c.last)
	}
	res.span = time.Duration(last - ls.measureStart.UnixNano())
	res.slowClosed = srv.logCount("slow consumer")
	res.log(b.opt.measure)
	return res, nil
}

// drainWait bounds how long a phase waits for deliveries after its load
// ended; what has not arrived by then counts as missing.
const drainWait = 15 * time.Second

// waitDelivered waits until got reaches want, or stalls for 5 s, or limit
// passes (the gap is then reported as missing), or failed reports an error.
func waitDelivered(ctx context.Context, got func() int64, want int64, failed func() error, limit time.Duration) error {
	last, lastChange := got(), time.Now()
	deadline := lastChange.Add(limit)
	for {
		n := got()
		switch {
		case n >= want || failed() != nil || time.Now().After(deadline):
			return nil
		case n != last:
			last, lastChange = n, time.Now()
		case time.Since(lastChange) > 5*time.Second:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
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
