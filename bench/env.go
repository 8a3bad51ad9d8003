package main

import (
	"context"
	"debug/buildinfo"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
)

// clientEnv is the environment of the clients: without the variables that
// would change what they connect to or print.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WALCAST_") && !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return env
}

func describeMachine(ctx context.Context, conn *pgx.Conn, recvlogical, walcastBin string) (string, error) {
	var pg string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&pg); err != nil {
		return "", fmt.Errorf("read server version: %w", err)
	}
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	goVersion := runtime.Version()
	if bi, err := buildinfo.ReadFile(walcastBin); err == nil {
		goVersion = bi.GoVersion
	}
	recvVersion := "pg_recvlogical"
	if out, err := exec.CommandContext(ctx, recvlogical, "--version").Output(); err == nil {
		recvVersion = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("Machine: %d cores (%s), %s/%s; walcast built with %s; PostgreSQL %s; %s.",
		runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, goVersion, pg, recvVersion), nil
}

// loadAverage returns the 1-minute load average: other work on the machine
// skews wall times.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b) + " unknown")[0]
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
