// Command bench measures walcast against reference consumers and peers on
// a throwaway Postgres cluster, and writes the results to docs/benchmarks:
//
//	go run ./bench            # the full suite (under 30 minutes)
//	go run ./bench --quick    # the quick suite (under 5 minutes)
//	go run ./bench COMMAND -h # one workload: drain, latency, filters, fanout, idle
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
	"syscall"
)

const usage = `Usage: go run ./bench [COMMAND] [flags]

Commands:
  suite   run every workload below and write docs/benchmarks; the default:
          "go run ./bench" is the full suite (< 30 min), "--quick" the quick one (< 5 min)
  chart   draw the PNG charts from the JSON results in a directory
  drain   pg_recvlogical, walcast tail and one WebSocket subscriber draining identical WAL
  latency commit-to-client latency of walcast vs a bare pgoutput receiver
  filters rows/s through walcast's filter index with 1 to 100,000 eq subscriptions
  fanout  broadcast fan-out vs Centrifugo: deliveries/s, latency, server CPU per delivery
  idle    server memory per idle WebSocket connection, vs Centrifugo

Run "go run ./bench COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit code: 0 success, 1 failure,
// 2 bad usage.
func run(ctx context.Context, args []string) int {
	args = withDefaultCommand(args)
	var err error
	switch args[0] {
	case "drain":
		err = drain(ctx, args[1:])
	case "latency":
		err = latency(ctx, args[1:])
	case "filters":
		err = filters(ctx, args[1:])
	case "fanout":
		err = fanout(ctx, args[1:])
	case "idle":
		err = idle(ctx, args[1:])
	case "suite":
		err = suite(ctx, args[1:], run)
	case "chart":
		err = chart(ctx, args[1:])
	case "help", "-h", "-help", "--help":
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
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "bench %s: %v\n", args[0], err)
	return 1
}

// parseFlagsOnly parses args into fs, whose command takes flags but no
// arguments: a bad flag and any argument are usage errors.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// usageError marks bad flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
