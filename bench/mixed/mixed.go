package mixed

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// mixedOptions are the flags of the mixed command.
type mixedOptions struct {
	harness.PacedOptions
	subs, tables, perConn int
}

func parseMixedFlags(args []string) (mixedOptions, error) {
	fs := flag.NewFlagSet("mixed", flag.ContinueOnError)
	paced := harness.AddPacedFlags(fs, harness.PacedHelp{Case: "case", Runs: "rounds, each measuring every case once, in rotating order",
		TxRows: "rows per transaction (all of one table)", TxRowsOf: 20, RateOf: 2000})
	subs := fs.Int("subs", 1000, "subscriptions (channels), every case the same; row g is for one of them")
	tables := fs.Int("tables", 100, "tables of the many-table cases; --subs must be a multiple of it")
	perConn := fs.Int("channels-per-conn", 100, "channels per WebSocket connection (walcast serve allows at most 100)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return mixedOptions{}, err
	}
	opt := mixedOptions{subs: *subs, tables: *tables, perConn: *perConn}
	var err error
	if opt.PacedOptions, err = paced.Options(); err != nil {
		return opt, err
	}
	switch {
	case opt.tables < 2 || opt.tables > 1000:
		return opt, cli.Usage(errors.New("--tables must be 2 to 1,000"))
	case opt.subs < opt.tables || opt.subs%opt.tables != 0 || opt.subs > 100_000:
		return opt, cli.Usage(errors.New("--subs must be a multiple of --tables, at most 100,000"))
	case opt.perConn < 1 || opt.perConn > 100:
		return opt, cli.Usage(errors.New("--channels-per-conn must be 1 to 100: walcast serve refuses a connection's 101st channel"))
	}
	return opt, nil
}

// Run measures every case, rotating their order from run to run.
func Run(ctx context.Context, args []string) error {
	opt, err := parseMixedFlags(args)
	if err != nil {
		return err
	}
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-mixed-", 1, opt.QuietWait, opt.Walcast)
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
	for run := 1; run <= opt.Runs; run++ {
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
	machine, env, err := b.Describe(ctx, loadBefore, began)
	if err != nil {
		return err
	}
	rep := mixedReport{opt: opt, ms: ms, env: env}
	var md bytes.Buffer
	rep.write(&md)
	return report.PublishReport(md.Bytes(), opt.Out, opt.JSON, report.Results{Workload: "mixed", Machine: machine, Targets: rep.targets()})
}
