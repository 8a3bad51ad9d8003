package drain

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// drainOptions are the flags of the drain command.
type drainOptions struct {
	runs, bigRows, smallRows int
	wideRows, toastSize      int // rows of a toast load and the size of their body
	identityRows             int // rows of a REPLICA IDENTITY FULL load
	rowSizes                 []int
	families                 []string // the load families to run (--loads)
	quick                    bool
	out, json, walcast       string
}

// has reports whether the loads of family are to run.
func (o drainOptions) has(family string) bool { return slices.Contains(o.families, family) }

// The bounds of --toast-size: above the 2 KB TOAST threshold, and below
// walcast's 1 MiB record limit (past which a change is sent without its
// large values).
const (
	minToastSize = 4_000
	maxToastSize = 500_000
)

// maxRowSize keeps a row, whose padding is stored uncompressed in the heap
// (STORAGE PLAIN), well inside one 8 KB page.
const maxRowSize = 7000

func parseDrainFlags(args []string) (drainOptions, error) {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "timed runs per consumer and load")
	quick := fs.Bool("quick", false, "smoke run: 2,000-byte rows only (unless --row-sizes), a 20,000-row transaction, 5,000 one-row transactions, 500 TOASTed and 2,000 REPLICA IDENTITY FULL rows and 1 run (unless --runs)")
	loads := fs.String("loads", strings.Join(allFamilies, ","), "load families, comma-separated: rows (items inserts of each --row-sizes, big and small), toast (docs rows with a TOASTed body: insert, update leaving it, update changing it), identity (REPLICA IDENTITY FULL update and delete)")
	toastSize := fs.Int("toast-size", 50_000, "bytes of the TOASTed body of the toast loads")
	rowSizes := fs.String("row-sizes", "100,2000", "row sizes in bytes, comma-separated; each is run with both load shapes")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "write targets and chart series to this file (JSON)")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return drainOptions{}, err
	}
	opt := drainOptions{runs: *runs, bigRows: 200_000, smallRows: 50_000, wideRows: 4_000, identityRows: 20_000, toastSize: *toastSize, quick: *quick, out: *out, json: *jsonPath, walcast: *walcast}
	// Each walcast serve run costs seconds of start and slot hand-over
	// whatever its load, so the smoke run has fewer loads (one row size,
	// the largest, which the identity loads use too) as well as smaller
	// ones.
	if *quick {
		opt.bigRows, opt.smallRows, opt.wideRows, opt.identityRows = 20_000, 5_000, 500, 2_000
	}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"runs":      func() { opt.runs = 1 },
		"row-sizes": func() { *rowSizes = "2000" },
	})
	if opt.runs < 1 {
		return drainOptions{}, cli.Usage(errors.New("--runs must be at least 1"))
	}
	sizes, err := cli.PositiveInts(*rowSizes)
	if err != nil {
		return drainOptions{}, cli.Usage(fmt.Errorf("--row-sizes %w", err))
	}
	for _, s := range sizes {
		if s > maxRowSize {
			return drainOptions{}, cli.Usage(fmt.Errorf("--row-sizes: %d bytes is over the limit of %d (a row must fit in one page)", s, maxRowSize))
		}
	}
	opt.rowSizes = sizes
	if opt.toastSize < minToastSize || opt.toastSize > maxToastSize {
		return drainOptions{}, cli.Usage(fmt.Errorf("--toast-size must be from %d to %d bytes", minToastSize, maxToastSize))
	}
	for _, f := range strings.Split(*loads, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allFamilies, f) {
			return drainOptions{}, cli.Usage(fmt.Errorf("--loads: unknown family %q (want %s)", f, strings.Join(allFamilies, ", ")))
		}
		if !slices.Contains(opt.families, f) {
			opt.families = append(opt.families, f)
		}
	}
	return opt, nil
}

// drainBench is what the runs of every load share.
type drainBench struct {
	conn                 *pgx.Conn // setup, loads and slots
	url, tmp             string
	walcast, recvlogical string
	secret, token        string
	copies               int // slot copies made, for unique names
	baseRowBytes         int // size of a row without padding
}

func Run(ctx context.Context, args []string) error {
	opt, err := parseDrainFlags(args)
	if err != nil {
		return err
	}
	started := time.Now()
	binDir, err := harness.FindPGBinDir()
	if err != nil {
		return err
	}
	b := &drainBench{recvlogical: filepath.Join(binDir, "pg_recvlogical")}
	if _, err := os.Stat(b.recvlogical); err != nil {
		if b.recvlogical, err = exec.LookPath("pg_recvlogical"); err != nil {
			return fmt.Errorf("find pg_recvlogical (install the PostgreSQL client tools): %w", err)
		}
	}
	if b.tmp, err = harness.ClusterTempDir("walcast-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	b.walcast = opt.walcast
	if b.walcast == "" {
		b.walcast = filepath.Join(b.tmp, "walcast")
		if err := harness.BuildWalcast(ctx, b.walcast); err != nil {
			return err
		}
	}
	if b.secret, b.token, err = harness.AnonToken(); err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "starting postgres ...")
	cluster, err := harness.StartCluster(ctx, harness.ClusterConfig{
		DataDir: filepath.Join(b.tmp, "pgdata"),
		BinDir:  binDir,
		// The largest transaction (200,000 rows of 2 KB) is decoded in
		// memory, as the smaller ones are, rather than spilled to disk.
		Settings: map[string]string{"logical_decoding_work_mem": "1GB"},
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench drain:", err)
		}
	}()
	b.url = cluster.URL("postgres")
	if b.conn, err = pgx.Connect(ctx, b.url); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer b.conn.Close(context.WithoutCancel(ctx))
	if err := b.setup(ctx); err != nil {
		return err
	}

	consumers := []consumer{b.recvlogicalConsumer(), b.tailConsumer(), b.serveConsumer(false), b.serveConsumer(true)}
	loads := drainLoads(opt)
	loadBefore := harness.LoadAverage()
	var results []stats.Result
	var runs []*drainRun
	for i, l := range loads {
		d := &drainRun{b: b, load: l, tmpl: fmt.Sprintf("bench_tmpl_%d", i)}
		rs, err := d.measure(ctx, consumers, opt.runs)
		if err != nil {
			return fmt.Errorf("load %s: %w", l.name(), err)
		}
		results = append(results, rs...)
		runs = append(runs, d)
	}

	machine, err := harness.DescribeMachine(ctx, b.conn, b.recvlogical, b.walcast)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	rep := drainReport{opt: opt, machine: machine, loadBefore: loadBefore, loadAfter: harness.LoadAverage(), runs: runs, measured: results, consumers: consumers}
	if err := rep.write(&md); err != nil {
		return err
	}
	if err := report.PublishReport(md.Bytes(), opt.out, opt.json, rep.results()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "drain took %s\n", time.Since(started).Round(time.Second))
	return nil
}

// measure runs the load, checks once (untimed) each consumer that does not
// check every run, and then times them runs times each, rotating their
// order so that none always follows the same one. A run in which a
// consumer misses rows is counted as failed; the others go on.
func (d *drainRun) measure(ctx context.Context, consumers []consumer, runs int) (_ []stats.Result, err error) {
	if err := d.prepare(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if derr := harness.DropSlot(context.WithoutCancel(ctx), d.b.conn, d.tmpl); derr != nil && err == nil {
			err = derr
		}
	}()
	rs := make([]stats.Result, len(consumers))
	for i, c := range consumers {
		rs[i] = stats.Result{Load: d.name(), Consumer: c.name, Rows: d.rows}
	}
	for i, c := range consumers {
		if c.checksEveryRun {
			continue
		}
		t, err := d.timed(ctx, c, true)
		if ferr := failRun(&rs[i], err); ferr != nil {
			return nil, fmt.Errorf("%s check run: %w", c.name, ferr)
		}
		if err == nil {
			fmt.Fprintf(os.Stderr, "%s %s check run: %.3f s, received all %s rows\n", d.name(), c.name, t.wall.Seconds(), stats.Group(float64(d.rows)))
		}
	}
	for k := range runs {
		for j := range consumers {
			i := (j + k) % len(consumers)
			c := consumers[i]
			t, err := d.timed(ctx, c, false)
			if ferr := failRun(&rs[i], err); ferr != nil {
				return nil, fmt.Errorf("%s run %d: %w", c.name, k+1, ferr)
			}
			if err != nil {
				continue
			}
			rs[i].Wall = append(rs[i].Wall, t.wall)
			rs[i].CPU = append(rs[i].CPU, t.cpu)
			rs[i].Walsender = append(rs[i].Walsender, t.walsender)
			fmt.Fprintf(os.Stderr, "%s %s run %d: %.3f s, %s rows/s (%.2f CPU-s, walsender %.2f CPU-s)\n",
				d.name(), c.name, k+1, t.wall.Seconds(), stats.Group(stats.RowsPerSecond(d.rows, t.wall)), t.cpu.Seconds(), t.walsender.Seconds())
		}
	}
	return rs, nil
}

// timed copies the template slot, lets c drain the copy (checking what it
// received when check is set) and drops the copy.
func (d *drainRun) timed(ctx context.Context, c consumer, check bool) (_ runTimes, err error) {
	d.b.copies++
	slot := fmt.Sprintf("bench_copy_%d", d.b.copies)
	if _, err := d.b.conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2)", d.tmpl, slot); err != nil {
		return runTimes{}, fmt.Errorf("copy slot %s: %w", d.tmpl, err)
	}
	defer func() {
		if derr := harness.DropSlot(context.WithoutCancel(ctx), d.b.conn, slot); derr != nil && err == nil {
			err = derr
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	return c.drain(rctx, d, slot, check)
}

// failRun records err on r when it is a delivery failure and returns any
// other error, which ends the benchmark.
func failRun(r *stats.Result, err error) error {
	var de deliveryError
	if !errors.As(err, &de) {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s %s: run failed: %v\n", r.Load, r.Consumer, err)
	if r.Failed == 0 {
		r.Failure = err.Error()
	}
	r.Failed++
	return nil
}
