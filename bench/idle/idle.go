package idle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// idle measures the server's memory per idle connection: a fresh server
// per count and system (walcast, then the peer), its RSS before and after
// the connections (opened from load processes on 127.0.0.2+) have been
// idle for --hold.
func Run(ctx context.Context, args []string) error {
	if os.Getenv(harness.EnvLoadMode) != "" {
		return idleLoad(ctx)
	}
	opt, err := parseIdleFlags(args)
	if err != nil {
		return err
	}
	b, systems, peer, stop, err := harness.StartRoomSystems(ctx, "walcast-idle-", opt.systems)
	defer stop()
	if err != nil {
		return err
	}
	began := time.Now()
	var rows []idleRow
	for _, n := range opt.conns {
		for _, sys := range systems {
			row, err := idlePhase(ctx, sys, opt, n)
			if err != nil {
				return fmt.Errorf("%s, %d connections: %w", sys.Name, n, err)
			}
			fmt.Fprintln(os.Stderr, row.line())
			rows = append(rows, row)
		}
	}
	env := harness.RoomBenchEnv{
		Machine: harness.RoomMachineLine(b.Bin, peer),
		Context: fmt.Sprintf("took %s; RLIMIT_NOFILE %s", time.Since(began).Round(time.Second), harness.FileLimit()),
		Peer:    peer,
	}
	var md bytes.Buffer
	writeIdleReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, idleResults(rows, env))
}

// idleRow is one measured connection count of one system.
type idleRow struct {
	system               string
	n, lost              int
	connect              time.Duration
	rss0, rssMid, rss    uint64 // server VmRSS before, at half the hold and after, bytes
	slab0, slab          uint64 // kernel slab memory, bytes
	threads0, threads    int
	cpu, hold            time.Duration  // server CPU during the hold
	gcBase, gcAfter      harness.GCLine // last GC before connecting, last GC before reading RSS
	gcAfterConnect       bool           // gcAfter ran after every connection was up
	gcWaited             time.Duration  // after the hold, until gcAfter
	serverStart, upSince time.Time
}

func idlePhase(ctx context.Context, sys harness.System, opt idleOptions, n int) (row idleRow, err error) {
	row.system, row.n = sys.Name, n
	// gctrace prints every collection: neither server has an endpoint to
	// force one, so RSS is read after the first collection that ran with
	// every connection up (the runtime forces one 2 minutes after the
	// last), the same condition for both, and the trace says what of the
	// heap was live then. Both are Go programs and get the same GOGC.
	// Taken before the start: gctrace times count from the process start,
	// so a collection may seem earlier than it was, never later.
	row.serverStart = time.Now()
	srv, err := sys.Start(ctx, "GODEBUG=gctrace=1", "GOGC="+opt.gogc)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.Stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	pid := srv.Pid()
	time.Sleep(opt.settle)
	row.rss0, row.slab0, row.threads0 = harness.VmRSS(pid), slab(), threads(pid)
	row.gcBase, _ = harness.LastGC(srv.LogPath())

	procs := harness.LoadProcCount(opt.procs, n, 5000)
	start := time.Now()
	loads, err := harness.StartLoads(ctx, "idle", n, procs, func(src string, share, offset int) any {
		return idleLoadConfig{URL: srv.WsURL(opt.vsn), Vsn: opt.vsn, Proto: sys.Proto, Src: src, N: share, Offset: offset}
	})
	defer func() {
		for _, p := range loads {
			p.Stop()
		}
	}()
	if err != nil {
		return row, err
	}
	if err := harness.AwaitReady(ctx, loads, 5*time.Minute); err != nil {
		return row, fmt.Errorf("connect: %w", err)
	}
	row.connect = time.Since(start)
	row.upSince = time.Now()
	cpu0, _ := harness.ProcCPU(pid)
	for i := range 2 {
		select {
		case <-time.After(opt.hold / 2):
		case <-ctx.Done():
			return row, ctx.Err()
		}
		if i == 0 {
			row.rssMid = harness.VmRSS(pid)
		}
	}
	cpu1, _ := harness.ProcCPU(pid)
	row.cpu, row.hold = cpu1-cpu0, opt.hold
	if err := row.awaitGC(ctx, srv.LogPath(), opt.gcWait); err != nil {
		return row, err
	}
	if row.gcAfterConnect {
		select {
		case <-time.After(opt.scavenge):
		case <-ctx.Done():
			return row, ctx.Err()
		}
	}
	row.rss, row.slab, row.threads = harness.VmRSS(pid), slab(), threads(pid)
	for _, p := range loads {
		if err := p.Send("count"); err != nil {
			return row, err
		}
		var c struct{ Lost int }
		if err := p.Expect(ctx, &c, time.Minute); err != nil {
			return row, err
		}
		row.lost += c.Lost
	}
	return row, srv.ExitedEarly()
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
