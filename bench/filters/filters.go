package filters

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// filtersOptions are the flags of the filters command.
type filtersOptions struct {
	subs               []int
	runs, rows, txRows int
	perConn, hot       int
	quietWait          time.Duration
	out, json, walcast string
}

func parseFiltersFlags(args []string) (filtersOptions, error) {
	fs := flag.NewFlagSet("filters", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1 run of a 20,000-row burst, 2 s quiet wait")
	subs := fs.String("subs", "1,1000,100000", "eq subscription counts on public.t, comma-separated")
	runs := fs.Int("runs", 3, "rounds, each measuring every subscription count once, in turn")
	rows := fs.Int("rows", 100_000, "rows of each burst")
	txRows := fs.Int("tx-rows", 1000, "rows per transaction of the burst")
	// walcast serve has no flag for it: 100 is transport.DefaultMaxChannels,
	// Supabase's max_channels_per_client.
	hot := fs.Int("hot", 1, "subscriptions the burst's rows are spread over (the rest never match), the same for every subscription count")
	perConn := fs.Int("channels-per-conn", 100, "channels per WebSocket connection (walcast serve allows at most 100)")
	quietWait := fs.Duration("quiet-wait", 5*time.Second, "before each burst, wait up to this long for other processes to use under 0.15 cores (0: don't wait)")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "write the target and chart series (Results) as JSON to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return filtersOptions{}, err
	}
	opt := filtersOptions{runs: *runs, rows: *rows, txRows: *txRows, perConn: *perConn, hot: *hot, quietWait: *quietWait,
		out: *out, json: *jsonPath, walcast: *walcast}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"runs":       func() { opt.runs = 1 },
		"rows":       func() { opt.rows = 20_000 },
		"quiet-wait": func() { opt.quietWait = 2 * time.Second },
	})
	var err error
	if opt.subs, err = cli.PositiveInts(*subs); err != nil {
		return opt, cli.Usage(fmt.Errorf("--subs: %w", err))
	}
	if opt.runs < 1 || opt.rows < 1 || opt.txRows < 1 || opt.quietWait < 0 {
		return opt, cli.Usage(errors.New("--runs, --rows and --tx-rows must be at least 1, --quiet-wait not negative"))
	}
	if opt.hot < 1 || opt.hot > slices.Min(opt.subs) {
		return opt, cli.Usage(errors.New("--hot must be at least 1 and at most the smallest --subs"))
	}
	if opt.perConn < 1 || opt.perConn > 100 {
		return opt, cli.Usage(errors.New("--channels-per-conn must be 1 to 100: walcast serve refuses a connection's 101st channel"))
	}
	return opt, nil
}

// filters measures how fast one table's changes go through walcast's
// filter index to eq subscriptions, with few and with many of them on
// the table: a burst of inserts whose rows each match exactly one
// subscription, timed from its first commit to its last delivery.
func Run(ctx context.Context, args []string) error {
	opt, err := parseFiltersFlags(args)
	if err != nil {
		return err
	}
	// The latency bench's cluster, table t and token serve here too; one
	// load connection inserts the burst.
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-filters-", 1, opt.quietWait, opt.walcast)
	b := filtersBench{pb}
	defer stop()
	if err != nil {
		return err
	}

	loadBefore := harness.LoadAverage()
	began := time.Now()
	var rows []filtersRow
	for run := 1; run <= opt.runs; run++ {
		for _, n := range opt.subs {
			row, err := b.filtersPhase(ctx, opt, n)
			if err != nil {
				return fmt.Errorf("run %d, %d subscriptions: %w", run, n, err)
			}
			row.run = run
			fmt.Fprintln(os.Stderr, row.line())
			rows = append(rows, row)
		}
	}
	machine, env, err := b.Describe(ctx, loadBefore, began)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	writeFiltersReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, filtersResults(opt, rows, machine))
}
