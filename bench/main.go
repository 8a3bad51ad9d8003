// Command bench measures walcast against reference consumers and peers on
// a throwaway Postgres cluster, and writes the results to docs/benchmarks:
//
//	go run -C bench .              # the full suite (about 85 minutes)
//	go run -C bench . --quick      # the quick suite (under 10 minutes)
//	go run -C bench . COMMAND -h   # one workload: drain, latency, filters, mixed, rls, fanout, idle, sse, sizes, storm, soak
//
// from the repository root (or "go run ." in bench/). bench is a module of
// its own, so that the server's go.mod carries none of its dependencies
// (gonum/plot and its font and PDF modules).
//
// Each workload alternates the systems it compares within one run and
// reports ratios, so that a noisy machine does not decide the result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/walcast/walcast/bench/chart"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/drain"
	"github.com/walcast/walcast/bench/fanout"
	"github.com/walcast/walcast/bench/filters"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/idle"
	"github.com/walcast/walcast/bench/latency"
	"github.com/walcast/walcast/bench/mixed"
	"github.com/walcast/walcast/bench/rls"
	"github.com/walcast/walcast/bench/soak"
	"github.com/walcast/walcast/bench/sse"
	"github.com/walcast/walcast/bench/storm"
	"github.com/walcast/walcast/bench/suite"
)

const usage = `Usage: go run -C bench . [COMMAND] [flags]

Commands:
  suite   run every workload below and write docs/benchmarks; the default:
          "go run -C bench ." is the full suite (~1 h), "--quick" the quick one (< 10 min)
  chart   draw the PNG charts from the JSON results in a directory
  drain   pg_recvlogical, walcast tail and one WebSocket subscriber draining identical WAL
  latency commit-to-client latency of walcast vs a bare pgoutput receiver
  filters rows/s through walcast's filter index with 1 to 100,000 eq subscriptions
  mixed   combined filters (in, neq, lt, gt, ...) and 100 tables vs single eq filters on one table
  rls     postgres_changes checked against a row-level security policy per user, vs eq filters
  fanout  broadcast fan-out vs Centrifugo: deliveries/s, latency, server CPU per delivery
  idle    server memory per idle WebSocket connection, vs Centrifugo
  sse     the SSE feed beside WebSocket: fan-out per CPU-second, idle memory, replay
  sizes   broadcast fan-out at 1, 4, 16 and 64 KB payloads vs Centrifugo
  storm   join and reconnect storms: time until all joined, failures, CPU, vs Centrifugo
  soak    walcast's RSS, heap and goroutines under a steady mixed load (10 min; 1 min --quick)

Run "go run -C bench . COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// workloads are the measuring commands, which run on Linux only.
var workloads = map[string]func(context.Context, []string) error{
	"drain":   drain.Run,
	"latency": latency.Run,
	"filters": filters.Run,
	"mixed":   mixed.Run,
	"rls":     rls.Run,
	"fanout":  fanout.Run,
	"idle":    idle.Run,
	"sse":     sse.Run,
	"sizes":   fanout.RunSizes,
	"storm":   storm.Run,
	"soak":    soak.Run,
}

// isHelp reports whether args only ask for a command's flags, which every
// platform can print.
func isHelp(args []string) bool {
	return len(args) == 1 && slices.Contains([]string{"-h", "-help", "--help"}, args[0])
}

// run executes one command and returns the exit code: 0 success, 1 failure,
// 2 bad usage.
func run(ctx context.Context, args []string) int {
	args = withDefaultCommand(args)
	var err error
	workload, isWorkload := workloads[args[0]]
	switch {
	case isWorkload && !isHelp(args[1:]):
		if err = harness.Supported(); err == nil {
			err = workload(ctx, args[1:])
		}
	case isWorkload:
		err = workload(ctx, args[1:])
	case args[0] == "suite":
		err = suite.Run(ctx, args[1:], run)
	case args[0] == "chart":
		err = chart.Run(ctx, args[1:])
	case args[0] == "help" || isHelp(args[:1]):
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(cli.UsageError)):
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "bench %s: %v\n", args[0], err)
	return 1
}

// withDefaultCommand makes the suite the command when none is given, so
// that "go run -C bench ." and "go run -C bench . --quick" run the whole suite.
func withDefaultCommand(args []string) []string {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		return append([]string{"suite"}, args...)
	}
	return args
}
