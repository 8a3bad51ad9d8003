// Command bench measures walcast against reference consumers on a throwaway
// Postgres cluster. Each workload is a subcommand:
//
//	go run ./bench drain [--quick] [--runs N] [--out PATH] [--walcast PATH]
//
// drain times pg_recvlogical and "walcast tail" draining identical WAL (a
// copy of one template slot per run) after a big and a small-transaction
// load, and prints a Markdown table.
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

const usage = `Usage: go run ./bench COMMAND [flags]

Commands:
  drain   time pg_recvlogical and walcast tail draining identical WAL
  latency commit-to-client latency of walcast vs a bare pgoutput receiver
  fanout  broadcast fan-out: deliveries/s, latency, server CPU per delivery
  idle    server memory per idle WebSocket connection joined to a channel

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
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "drain":
		err = drain(ctx, args[1:])
	case "latency":
		err = latency(ctx, args[1:])
	case "fanout":
		err = fanout(ctx, args[1:])
	case "idle":
		err = idle(ctx, args[1:])
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

// usageError marks bad flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
