package idle

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
)

type idleOptions struct {
	conns            []int
	procs            int
	settle, hold     time.Duration
	gcWait, scavenge time.Duration
	gogc             string
	vsn, out, json   string
	systems          harness.RoomSystems
}

func parseIdleFlags(args []string) (idleOptions, error) {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1,000 connections, hold 10 s")
	// 15,000 keeps each process below the 20,000 open files this machine
	// allows (the server holds one descriptor per connection, the load
	// processes 5,000 each).
	conns := fs.String("conns", "1000,15000", "idle connection counts, comma-separated")
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
	peerFlags := harness.AddPeerFlags(fs, "each count alternating with walcast", "its clients")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return idleOptions{}, err
	}
	opt := idleOptions{procs: *procs, settle: *settle, hold: *hold, gcWait: *gcWait, scavenge: *scavenge, gogc: *gogc,
		vsn: *vsn, out: *out, json: *jsonPath}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"hold":    func() { opt.hold = 10 * time.Second },
		"gc-wait": func() { opt.gcWait = 10 * time.Second },
		"conns":   func() { *conns = "1000" },
	})
	var err error
	if opt.systems, err = peerFlags.Systems(); err != nil {
		return opt, err
	}
	opt.systems.TunedPeer = *tunedPeer
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
