package harness

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/walcast/walcast/bench/cli"
)

// Paced calls do for n = 0 to count-1, the n-th at n × interval after the
// start (later when do falls behind), with the time it began, and returns
// when the first began. It stops at do's first error or when ctx ends.
func Paced(ctx context.Context, count int, interval time.Duration, do func(n int, now time.Time) error) (first time.Time, err error) {
	start := time.Now()
	for n := range count {
		if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return first, ctx.Err()
			case <-time.After(wait):
			}
		}
		now := time.Now()
		if n == 0 {
			first = now
		}
		if err := do(n, now); err != nil {
			return first, err
		}
	}
	return first, nil
}

// PaceInterval is the time between the starts of transactions of txRows
// rows each when rows go in at rate rows/s.
func PaceInterval(txRows, rate int) time.Duration {
	return time.Duration(float64(txRows) / float64(rate) * float64(time.Second))
}

// PacedOptions are the flags of a workload that measures its cases in
// turn on a PGBench, each with rows inserted at a paced rate (mixed, rls).
type PacedOptions struct {
	Runs, Rows, TxRows, Rate int
	Quick                    bool
	QuietWait                time.Duration
	Out, JSON, Walcast       string
}

// PacedHelp is what differs between the workloads' PacedOptions flags.
type PacedHelp struct {
	Case     string // what a run measures once each: "case", "mode"
	Runs     string // help of --runs: in what order
	TxRows   string // help of --tx-rows
	TxRowsOf int    // default of --tx-rows
	RateOf   int    // default of --rate, rows/s
}

// PacedFlags are the PacedOptions' flags, defined on a FlagSet.
type PacedFlags struct {
	fs                       *flag.FlagSet
	quick                    *bool
	runs, rows, txRows, rate *int
	quietWait                *time.Duration
	out, json, walcast       *string
}

// AddPacedFlags defines the PacedOptions' flags on fs.
func AddPacedFlags(fs *flag.FlagSet, h PacedHelp) PacedFlags {
	return PacedFlags{fs: fs,
		quick:     fs.Bool("quick", false, "smoke run: 1 run of 4,000 rows per "+h.Case+", 2 s quiet wait"),
		runs:      fs.Int("runs", 3, h.Runs),
		rows:      fs.Int("rows", 20_000, "rows inserted per measurement"),
		txRows:    fs.Int("tx-rows", h.TxRowsOf, h.TxRows),
		rate:      fs.Int("rate", h.RateOf, "rows/s the load inserts (paced)"),
		quietWait: fs.Duration("quiet-wait", 5*time.Second, "before each measurement, wait up to this long for other processes to use under 0.15 cores (0: don't wait)"),
		out:       fs.String("out", "", "also write the report to this file"),
		json:      fs.String("json", "", "write the targets (Results) as JSON to this file"),
		walcast:   fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)"),
	}
}

// Options are the parsed flags, with --quick's defaults for those not
// given, or a usage error. Call it after fs is parsed.
func (f PacedFlags) Options() (PacedOptions, error) {
	o := PacedOptions{Runs: *f.runs, Rows: *f.rows, TxRows: *f.txRows, Rate: *f.rate, Quick: *f.quick, QuietWait: *f.quietWait,
		Out: *f.out, JSON: *f.json, Walcast: *f.walcast}
	cli.QuickDefaults(f.fs, o.Quick, map[string]func(){
		"runs":       func() { o.Runs = 1 },
		"rows":       func() { o.Rows = 4_000 },
		"quiet-wait": func() { o.QuietWait = 2 * time.Second },
	})
	switch {
	case o.Runs < 1 || o.Rows < 1 || o.TxRows < 1 || o.Rate < 1:
		return o, cli.Usage(errors.New("--runs, --rows, --tx-rows and --rate must be at least 1"))
	case o.QuietWait < 0:
		return o, cli.Usage(errors.New("--quiet-wait must not be negative"))
	}
	return o, nil
}
