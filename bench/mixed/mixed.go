package mixed

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// mixedOptions are the flags of the mixed command.
type mixedOptions struct {
	subs, tables, perConn    int
	runs, rows, txRows, rate int
	quick                    bool
	quietWait                time.Duration
	out, json, walcast       string
}

func parseMixedFlags(args []string) (mixedOptions, error) {
	fs := flag.NewFlagSet("mixed", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1 run of 4,000 rows per case, 2 s quiet wait")
	subs := fs.Int("subs", 1000, "subscriptions (channels), every case the same; row g is for one of them")
	tables := fs.Int("tables", 100, "tables of the many-table cases; --subs must be a multiple of it")
	perConn := fs.Int("channels-per-conn", 100, "channels per WebSocket connection (walcast serve allows at most 100)")
	runs := fs.Int("runs", 3, "rounds, each measuring every case once, in rotating order")
	rows := fs.Int("rows", 20_000, "rows inserted per measurement")
	txRows := fs.Int("tx-rows", 20, "rows per transaction (all of one table)")
	rate := fs.Int("rate", 2000, "rows/s the load inserts (paced)")
	quietWait := fs.Duration("quiet-wait", 5*time.Second, "before each measurement, wait up to this long for other processes to use under 0.15 cores (0: don't wait)")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "write the targets (Results) as JSON to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return mixedOptions{}, err
	}
	opt := mixedOptions{subs: *subs, tables: *tables, perConn: *perConn, runs: *runs, rows: *rows, txRows: *txRows, rate: *rate,
		quick: *quick, quietWait: *quietWait, out: *out, json: *jsonPath, walcast: *walcast}
	if *quick {
		for name, set := range map[string]func(){
			"runs":       func() { opt.runs = 1 },
			"rows":       func() { opt.rows = 4_000 },
			"quiet-wait": func() { opt.quietWait = 2 * time.Second },
		} {
			if !cli.FlagSet(fs, name) {
				set()
			}
		}
	}
	switch {
	case opt.tables < 2 || opt.tables > 1000:
		return opt, cli.Usage(errors.New("--tables must be 2 to 1,000"))
	case opt.subs < opt.tables || opt.subs%opt.tables != 0 || opt.subs > 100_000:
		return opt, cli.Usage(errors.New("--subs must be a multiple of --tables, at most 100,000"))
	case opt.perConn < 1 || opt.perConn > 100:
		return opt, cli.Usage(errors.New("--channels-per-conn must be 1 to 100: walcast serve refuses a connection's 101st channel"))
	case opt.runs < 1 || opt.rows < 1 || opt.txRows < 1 || opt.rate < 1:
		return opt, cli.Usage(errors.New("--runs, --rows, --tx-rows and --rate must be at least 1"))
	case opt.quietWait < 0:
		return opt, cli.Usage(errors.New("--quiet-wait must not be negative"))
	}
	return opt, nil
}

// Run measures every case, rotating their order from run to run.
func Run(ctx context.Context, args []string) error {
	opt, err := parseMixedFlags(args)
	if err != nil {
		return err
	}
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-mixed-", 1, opt.quietWait, opt.walcast)
	defer stop()
	if err != nil {
		return err
	}
	b := mixedBench{pb}
	if _, err := b.Conn.Exec(ctx, setupSQL(opt.tables)); err != nil {
		return fmt.Errorf("create the %d tables: %w", opt.tables, err)
	}
	loadBefore := harness.LoadAverage()
	began := time.Now()
	cs := cases(opt.tables)
	var ms []measurement
	for run := 1; run <= opt.runs; run++ {
		for j := range cs {
			c := cs[(j+run-1)%len(cs)]
			m, err := b.measure(ctx, opt, c)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", run, c.name, err)
			}
			m.run = run
			fmt.Fprintln(os.Stderr, m.line())
			ms = append(ms, m)
		}
	}
	machine, err := harness.DescribeMachine(ctx, b.Conn, filepath.Join(b.BinDir, "postgres"), b.Bin)
	if err != nil {
		return err
	}
	rep := mixedReport{opt: opt, ms: ms, env: fmt.Sprintf("%s Load average (1 min) before / after: %s / %s. Run took %s.",
		machine, loadBefore, harness.LoadAverage(), time.Since(began).Round(time.Second))}
	var md bytes.Buffer
	rep.write(&md)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, report.Results{Workload: "mixed", Machine: machine, Targets: rep.targets()})
}
