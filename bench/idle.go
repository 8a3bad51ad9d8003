package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"
)

type idleOptions struct {
	conns             []int
	procs             int
	settle, hold      time.Duration
	vsn, out, walcast string
}

func parseIdleFlags(args []string) (idleOptions, error) {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: hold 10 s instead of 130 s")
	conns := fs.String("conns", "1000,10000", "idle connection counts, comma-separated")
	procs := fs.Int("procs", 0, "load processes (default: one per 5,000 connections)")
	settle := fs.Duration("settle", 3*time.Second, "wait after the server starts before the baseline reading")
	// Past the runtime's forced collection every 2 minutes, so that the
	// gctrace shows the live heap with every connection up.
	hold := fs.Duration("hold", 130*time.Second, "how long the connections stay idle before the reading")
	vsn := fs.String("vsn", "2.0.0", "serializer of the connections")
	out := fs.String("out", "", "also write the report to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := fs.Parse(args); err != nil {
		return idleOptions{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return idleOptions{}, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	opt := idleOptions{procs: *procs, settle: *settle, hold: *hold, vsn: *vsn, out: *out, walcast: *walcast}
	if *quick && !flagSet(fs, "hold") {
		opt.hold = 10 * time.Second
	}
	var err error
	if opt.conns, err = positiveInts(*conns); err != nil {
		return opt, usageError{fmt.Errorf("--conns: %w", err)}
	}
	if opt.procs < 0 || opt.hold < 0 || opt.settle < 0 {
		return opt, usageError{errors.New("--procs, --hold and --settle must not be negative")}
	}
	if opt.vsn != "1.0.0" && opt.vsn != "2.0.0" {
		return opt, usageError{fmt.Errorf("--vsn %q: want 1.0.0 or 2.0.0", opt.vsn)}
	}
	return opt, nil
}

// idle measures the server's memory per idle connection: a fresh walcast
// serve per count, its RSS before and after the connections (opened from
// load processes on 127.0.0.2+) have been idle for --hold.
func idle(ctx context.Context, args []string) error {
	if os.Getenv(envLoadMode) != "" {
		return idleLoad(ctx)
	}
	opt, err := parseIdleFlags(args)
	if err != nil {
		return err
	}
	b, stop, err := startRoomBenchTemp(ctx, "walcast-idle-", opt.walcast)
	defer stop()
	if err != nil {
		return err
	}
	began := time.Now()
	var rows []idleRow
	for _, n := range opt.conns {
		row, err := idlePhase(ctx, b, opt, n)
		if err != nil {
			return fmt.Errorf("%d connections: %w", n, err)
		}
		fmt.Fprintln(os.Stderr, row.line())
		rows = append(rows, row)
	}
	var report bytes.Buffer
	writeIdleReport(&report, opt, rows, fmt.Sprintf("took %s; RLIMIT_NOFILE %s", time.Since(began).Round(time.Second), fileLimit()))
	os.Stdout.Write(report.Bytes())
	return writeReportFile(opt.out, report.Bytes())
}

// idleRow is one measured connection count.
type idleRow struct {
	n, lost              int
	connect              time.Duration
	rss0, rss            uint64 // server VmRSS before and after, bytes
	slab0, slab          uint64 // kernel slab memory, bytes
	threads0, threads    int
	cpu, hold            time.Duration // server CPU during the hold
	gcBase, gcAfter      gcLine        // last GC before connecting, last GC of the run
	gcAfterConnect       bool          // gcAfter ran after every connection was up
	serverStart, upSince time.Time
}

func idlePhase(ctx context.Context, b *roomBench, opt idleOptions, n int) (row idleRow, err error) {
	row.n = n
	// gctrace prints the live heap after every collection: the server has
	// no endpoint to force one, so RSS is read as the runtime leaves it,
	// and the trace says what of it was live at the last collection.
	srv, err := b.serve(ctx, "GODEBUG=gctrace=1")
	if err != nil {
		return row, err
	}
	row.serverStart = time.Now()
	defer func() {
		if _, serr := srv.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	pid := srv.cmd.Process.Pid
	time.Sleep(opt.settle)
	row.rss0, row.slab0, row.threads0 = vmRSS(pid), slab(), threads(pid)
	row.gcBase, _ = lastGC(srv.logPath)

	procs := loadProcCount(opt.procs, n, 5000)
	start := time.Now()
	loads, err := startLoads(ctx, "idle", n, procs, func(src string, share, offset int) any {
		return idleLoadConfig{URL: b.wsURL(srv.port, opt.vsn), Vsn: opt.vsn, Src: src, N: share, Offset: offset}
	})
	defer func() {
		for _, p := range loads {
			p.stop()
		}
	}()
	if err != nil {
		return row, err
	}
	if err := awaitReady(ctx, loads, 5*time.Minute); err != nil {
		return row, fmt.Errorf("connect: %w", err)
	}
	row.connect = time.Since(start)
	row.upSince = time.Now()
	cpu0, _ := procCPU(pid)
	select {
	case <-time.After(opt.hold):
	case <-ctx.Done():
		return row, ctx.Err()
	}
	cpu1, _ := procCPU(pid)
	row.cpu, row.hold = cpu1-cpu0, opt.hold
	row.rss, row.slab, row.threads = vmRSS(pid), slab(), threads(pid)
	var ok bool
	if row.gcAfter, ok = lastGC(srv.logPath); ok {
		row.gcAfterConnect = row.serverStart.Add(row.gcAfter.at).After(row.upSince)
	}
	for _, p := range loads {
		if err := p.send("count"); err != nil {
			return row, err
		}
		var c struct{ Lost int }
		if err := p.expect(ctx, &c, time.Minute); err != nil {
			return row, err
		}
		row.lost += c.Lost
	}
	return row, srv.exitedEarly()
}

// gcLine is one line of the Go runtime's gctrace.
type gcLine struct {
	at                         time.Duration // since the process started
	heapLiveMB, goalMB, stacks int
	forced                     bool
}

var gcTrace = regexp.MustCompile(`(?m)^gc \d+ @([\d.]+)s .*? \d+->\d+->(\d+) MB, (\d+) MB goal, (\d+) MB stacks.*$`)

// lastGC returns the last gctrace line in the server's log.
func lastGC(logPath string) (gcLine, bool) {
	b, _ := os.ReadFile(logPath)
	all := gcTrace.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return gcLine{}, false
	}
	m := all[len(all)-1]
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	live, _ := strconv.Atoi(string(m[2]))
	goal, _ := strconv.Atoi(string(m[3]))
	stacks, _ := strconv.Atoi(string(m[4]))
	return gcLine{at: time.Duration(secs * float64(time.Second)), heapLiveMB: live, goalMB: goal, stacks: stacks,
		forced: bytes.HasSuffix(bytes.TrimSpace(m[0]), []byte("(forced)"))}, true
}

// slab is the kernel's slab memory in bytes (Slab in /proc/meminfo), where
// socket structures live; machine-wide, so it counts both ends of every
// loopback connection and whatever else the machine does meanwhile.
func slab() uint64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("Slab:")); ok {
			kb, _ := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func threads(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}
