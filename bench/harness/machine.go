package harness

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClientEnv is the environment of the clients: without the variables that
// would change what they connect to or print.
func ClientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WALCAST_") && !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return env
}

func DescribeMachine(ctx context.Context, conn *pgx.Conn, recvlogical, walcastBin string) (string, error) {
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

// LoadAverage returns the 1-minute load average: other work on the machine
// skews wall times.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b) + " unknown")[0]
}

func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// CPUSample is the CPU time of the server (and the kernel's part of it)
// and of the load (this process and the load processes), and the
// machine's busy ticks.
type CPUSample struct {
	at                      time.Time
	Server, ServerSys, Load time.Duration
	busy                    uint64
}

func SampleCPU(server int, load []int) CPUSample {
	s := CPUSample{at: time.Now()}
	user, sys, _, _ := procTimes(server)
	s.Server, s.ServerSys = user+sys, sys
	for _, pid := range load {
		c, _ := ProcCPU(pid)
		s.Load += c
	}
	s.busy, _, _ = machineBusy()
	return s
}

func (a CPUSample) MachineCores(b CPUSample) float64 {
	secs := a.at.Sub(b.at).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(a.busy-b.busy) / clockTicks / secs
}

// VmRSS returns the resident set size of pid in bytes (0 if unknown).
func VmRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10
		}
	}
	return 0
}
