package idle

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

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

type idleOptions struct {
	conns                   []int
	procs                   int
	settle, hold            time.Duration
	gcWait, scavenge        time.Duration
	gogc                    string
	tunedPeer               bool
	vsn, out, json, walcast string
	peer, centrifugo        string
}

func parseIdleFlags(args []string) (idleOptions, error) {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1,000 connections, hold 10 s")
	conns := fs.String("conns", "1000,10000", "idle connection counts, comma-separated")
	procs := fs.Int("procs", 0, "load processes (default: one per 5,000 connections)")
	settle := fs.Duration("settle", 3*time.Second, "wait after the server starts before the baseline reading")
	// Four phases (two systems, two counts) must fit in about 8 minutes, so
	// the hold cannot reach the runtime's forced collection at 2 minutes:
	// RSS is read at half the hold and at its end, and the end counts. 90 s
	// also spans three of the 25 s ping and heartbeat intervals.
	hold := fs.Duration("hold", 90*time.Second, "how long the connections stay idle; RSS is read at half of it")
	gcWait := fs.Duration("gc-wait", 150*time.Second, "after the hold, wait up to this long for the server's first garbage collection with every connection up (the Go runtime forces one 2 minutes after the last); RSS is read after it")
	scavenge := fs.Duration("scavenge", 5*time.Second, "after that collection, wait this long for the runtime to return freed memory before reading RSS")
	gogc := fs.String("gogc", "100", "GOGC of both servers (walcast serve's own default is 50, Go's and Centrifugo's 100)")
	tunedPeer := fs.Bool("tuned-peer", true, "also run the peer with "+harness.CentrifugoTuning)
	vsn := fs.String("vsn", "2.0.0", "serializer of the walcast connections")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	peer := fs.String("peer", harness.PeerCentrifugo, "server to compare with, each count alternating with walcast: centrifugo or none")
	centrifugo := fs.String("centrifugo", "", "Centrifugo binary (default: "+harness.CentrifugoVersion+" built once with go install into the user cache directory)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return idleOptions{}, err
	}
	opt := idleOptions{procs: *procs, settle: *settle, hold: *hold, gcWait: *gcWait, scavenge: *scavenge, gogc: *gogc, tunedPeer: *tunedPeer,
		vsn: *vsn, out: *out, json: *jsonPath, walcast: *walcast, peer: *peer, centrifugo: *centrifugo}
	if *quick && !cli.FlagSet(fs, "hold") {
		opt.hold = 10 * time.Second
	}
	if *quick && !cli.FlagSet(fs, "gc-wait") {
		opt.gcWait = 10 * time.Second
	}
	if *quick && !cli.FlagSet(fs, "conns") {
		*conns = "1000"
	}
	if err := harness.ParsePeer(opt.peer); err != nil {
		return opt, cli.Usage(err)
	}
	var err error
	if opt.conns, err = cli.PositiveInts(*conns); err != nil {
		return opt, cli.Usage(fmt.Errorf("--conns: %w", err))
	}
	if opt.procs < 0 || opt.hold < 0 || opt.settle < 0 || opt.gcWait < 0 || opt.scavenge < 0 {
		return opt, cli.Usage(errors.New("--procs, --hold, --settle, --gc-wait and --scavenge must not be negative"))
	}
	if n, err := strconv.Atoi(opt.gogc); (err != nil || n < 1) && opt.gogc != "off" {
		return opt, cli.Usage(fmt.Errorf("--gogc %q: want a positive percentage, as GOGC", opt.gogc))
	}
	return opt, cli.CheckVsnFlag(opt.vsn)
}

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
	b, systems, peer, stop, err := harness.StartRoomSystems(ctx, "walcast-idle-", opt.walcast, opt.peer, opt.centrifugo, 0)
	defer stop()
	if err != nil {
		return err
	}
	if peer != nil && opt.tunedPeer {
		systems = append(systems, peer.TunedSystem())
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
	cpu, hold            time.Duration // server CPU during the hold
	gcBase, gcAfter      gcLine        // last GC before connecting, last GC before reading RSS
	gcAfterConnect       bool          // gcAfter ran after every connection was up
	gcWaited             time.Duration // after the hold, until gcAfter
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
	row.gcBase, _ = lastGC(srv.LogPath())

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

// awaitGC waits up to limit for a collection that started after every
// connection was up, polling the server's gctrace, and notes the last
// collection and whether it was such a one.
func (r *idleRow) awaitGC(ctx context.Context, logPath string, limit time.Duration) error {
	began := time.Now()
	for {
		var ok bool
		if r.gcAfter, ok = lastGC(logPath); ok {
			r.gcAfterConnect = r.serverStart.Add(r.gcAfter.at).After(r.upSince)
		}
		r.gcWaited = time.Since(began)
		if r.gcAfterConnect || r.gcWaited >= limit {
			return nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
