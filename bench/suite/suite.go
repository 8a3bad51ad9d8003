package suite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/chart"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

const suiteUsage = `Usage: go run -C bench . [suite] [--quick] [--out DIR] [--only drain,latency,...]

Runs drain, latency, filters, mixed, rls, fanout, idle, sse, sizes, storm and
soak one after the other, each with --out DIR/<name>.md --json DIR/<name>.json and one
walcast binary built at the start, then draws DIR/<chart>.png from the JSON
results and writes the summary DIR/README.md. The workloads size
themselves: on 2 cores the full suite takes about 85 minutes (the soak alone
runs 10 minutes), the quick suite (--quick) under 10 minutes. A workload that
fails is reported as failed and the suite goes on with the next one; the exit
code is then 1.

Flags:
`

// suiteOptions are the flags of the suite command.
type suiteOptions struct {
	quick bool
	out   string
	// outInRepo: out is the default, relative to the repository root
	// rather than the current directory.
	outInRepo bool
	only      []string // workloads to run, in suite order
}

// runStatus is what became of one workload in a suite run.
type runStatus int

const (
	runSkipped     runStatus = iota // not selected with --only
	runOK                           // exited 0 and wrote its JSON results
	runFailed                       // non-zero exit, or no JSON results
	runInterrupted                  // not started: the suite was interrupted
)

// workloadRun is one workload of a suite run.
type workloadRun struct {
	Name     string
	Status   runStatus
	Reason   string // why it failed
	Duration time.Duration
}

func parseSuiteFlags(args []string) (suiteOptions, error) {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), suiteUsage)
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "run every workload with --quick (smoke-run sizes, under 10 minutes in all)")
	out := fs.String("out", "", "directory for the reports, JSON results, charts and README.md (default "+report.DefaultSuiteDir+" of the repository, with --quick "+report.DefaultQuickDir+")")
	only := fs.String("only", "", "run only these workloads, comma-separated, from: "+strings.Join(report.SuiteWorkloads, ","))
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return suiteOptions{}, err
	}
	opt := suiteOptions{quick: *quick, out: *out, only: report.SuiteWorkloads}
	if opt.out == "" {
		opt.out, opt.outInRepo = report.DefaultSuiteDir, true
		if opt.quick {
			opt.out = report.DefaultQuickDir
		}
	}
	if *only != "" {
		picked := strings.Split(*only, ",")
		for _, name := range picked {
			if !slices.Contains(report.SuiteWorkloads, strings.TrimSpace(name)) {
				return suiteOptions{}, cli.Usage(fmt.Errorf("--only: unknown workload %q; the workloads are %s", name, strings.Join(report.SuiteWorkloads, ",")))
			}
		}
		opt.only = slices.DeleteFunc(slices.Clone(report.SuiteWorkloads), func(w string) bool {
			return !slices.ContainsFunc(picked, func(p string) bool { return strings.TrimSpace(p) == w })
		})
	}
	return opt, nil
}

// dispatch runs one command line of the bench tool and returns its exit
// code; the suite runs each workload through it.
type dispatch func(ctx context.Context, args []string) int

// suite runs the workloads through run, then draws the charts and writes
// the summary.
func Run(ctx context.Context, args []string, run dispatch) error {
	opt, err := parseSuiteFlags(args)
	if err != nil {
		return err
	}
	if opt.outInRepo {
		opt.out = cli.RepoPath(opt.out)
	}
	if err := os.MkdirAll(opt.out, 0o755); err != nil {
		return fmt.Errorf("create the output directory: %w", err)
	}
	tmp, err := harness.ClusterTempDir("walcast-suite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep := suiteReport{Quick: opt.quick, Started: time.Now()}
	bin := filepath.Join(tmp, "walcast")
	if err := harness.BuildWalcast(ctx, bin); err != nil {
		return err
	}
	for _, name := range report.SuiteWorkloads {
		rep.Runs = append(rep.Runs, runWorkload(ctx, run, name, opt, bin))
	}
	return finishSuite(ctx, rep, opt.out)
}

// runWorkload runs one workload through the same dispatch as
// "go run -C bench . NAME", so the suite needs no change when a command's
// flags do. Its stderr still reaches the terminal; the suite keeps the
// tail of it to quote the error when the workload fails.
func runWorkload(ctx context.Context, run dispatch, name string, opt suiteOptions, bin string) workloadRun {
	w := workloadRun{Name: name}
	switch {
	case !slices.Contains(opt.only, name):
		return w
	case ctx.Err() != nil:
		w.Status = runInterrupted
		return w
	}
	mdPath := filepath.Join(opt.out, name+".md")
	results := filepath.Join(opt.out, name+".json")
	// Files of an earlier run must not pass for this run's when this one fails.
	for _, path := range []string{mdPath, results} {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.Status, w.Reason = runFailed, fmt.Sprintf("remove the earlier %s: %v", path, err)
			return w
		}
	}
	argv := []string{name, "--out", mdPath, "--json", results, "--walcast", bin}
	if opt.quick {
		argv = append(argv, "--quick")
	}
	fmt.Fprintf(os.Stderr, "\n=== %s: go run -C bench . %s\n", name, strings.Join(argv, " "))
	start := time.Now()
	var code int
	tail := withStderrTail(func() { code = run(ctx, argv) })
	w.Duration = time.Since(start)
	switch _, err := os.Stat(results); {
	case code != 0:
		w.Status, w.Reason = runFailed, failureReason(tail, name, code)
	case err != nil:
		w.Status, w.Reason = runFailed, fmt.Sprintf("exited 0 but wrote no %s", results)
	default:
		w.Status = runOK
	}
	fmt.Fprintf(os.Stderr, "=== %s: %s in %s\n", name, w.statusText(), formatDuration(w.Duration))
	return w
}

// finishSuite draws the charts, writes README.md and prints the summary.
// It returns an error when a workload failed or the results could not be
// summed up, so the exit code tells a complete run from an incomplete one.
func finishSuite(ctx context.Context, rep suiteReport, dir string) error {
	files, err := chart.CollectResults(dir)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	rep.Results = files
	charts, err := chart.DrawCharts(dir, files)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	rep.Charts = charts
	for _, name := range report.SuiteWorkloads {
		if _, err := os.Stat(filepath.Join(dir, name+".md")); err == nil {
			rep.Reports = append(rep.Reports, name)
		}
	}
	rep.Total = time.Since(rep.Started)
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte(renderSummary(rep)), 0o644); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("write the summary: %v", err))
	}
	fmt.Print("\n" + renderConsoleSummary(rep))
	fmt.Printf("\nSummary, reports and charts: %s\n", readme)

	var failed []string
	for _, w := range rep.Runs {
		if w.Status == runFailed {
			failed = append(failed, w.Name)
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %w", ctx.Err())
	case len(failed) > 0:
		return fmt.Errorf("%d workload(s) failed: %s; see their errors above", len(failed), strings.Join(failed, ", "))
	case len(rep.Problems) > 0:
		return errors.New(strings.Join(rep.Problems, "; "))
	}
	return nil
}
