// Command walcast streams Postgres row changes to clients. See the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

const usage = `walcast streams Postgres row changes to browsers and services.

Usage:
  walcast [serve] [flags]   run the server (the default command)
  walcast tail [flags]      print matching changes as JSON lines
  walcast migrate [flags]   apply the embedded SQL migrations and exit
  walcast token [flags]     print a JWT (an apikey) signed with the server's secret
  walcast health [flags]    check a running server's /healthz (for container healthchecks)
  walcast version

Run "walcast COMMAND -h" for the flags of a command. Every flag can also be
set through the environment variable named in its help.
`

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	os.Exit(profiled(func() int { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) }))
}

// profiled runs f under the CPU profiler when $WALCAST_CPUPROFILE names a
// file, so the hot path of any command can be profiled as it really runs.
func profiled(f func() int) int {
	path := os.Getenv("WALCAST_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "walcast: cpu profile:", err)
		return 1
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "walcast: cpu profile:", err)
		return 1
	}
	defer pprof.StopCPUProfile()
	return f()
}

// run executes one command and returns the process exit code: 0 success,
// 1 runtime failure, 2 bad usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stderr)
	case "tail":
		err = tailCmd(ctx, args, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, args, getenv, stdout, stderr)
	case "token":
		err = tokenCmd(args, getenv, stdout, stderr)
	case "health":
		err = healthCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "walcast", version)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "walcast: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "walcast:", err)
	if isUsageError(err) {
		return 2
	}
	return 1
}
