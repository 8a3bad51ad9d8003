package sse

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/cli"
)

// The parts of the workload, in the order they run.
var parts = []string{"fanout", "idle", "replay"}

type options struct {
	only []string

	subs, rate, procs int
	warmup, measure   time.Duration

	conns              int
	settle, hold       time.Duration
	gcWait, scavenge   time.Duration
	gogc               string
	replay             int
	out, json, walcast string
	profileDir         string
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("sse", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 200 subscribers for 5 s, 1,000 idle connections without waiting for a collection, a 10,000-change replay")
	only := fs.String("only", strings.Join(parts, ","), "parts to run, comma-separated, from: "+strings.Join(parts, ","))
	subs := fs.Int("subs", 1000, "fan-out: subscribers of the one table")
	rate := fs.Int("rate", 60, "fan-out: rows inserted per second, one per transaction")
	procs := fs.Int("procs", 0, "load processes (default: one per 500 fan-out subscribers, one per 5,000 idle connections)")
	warmup := fs.Duration("warmup", 2*time.Second, "fan-out: unmeasured inserts before the measured ones")
	measure := fs.Duration("measure", 20*time.Second, "fan-out: measured inserts")
	conns := fs.Int("conns", 10_000, "idle: connections")
	settle := fs.Duration("settle", 3*time.Second, "idle: wait after the server starts before the baseline RSS")
	hold := fs.Duration("hold", 10*time.Second, "idle: how long the connections stay idle before the wait for a collection")
	gcWait := fs.Duration("gc-wait", 150*time.Second, "idle: after the hold, wait up to this long for a collection that began with every connection up (the Go runtime forces one 2 minutes after the last)")
	scavenge := fs.Duration("scavenge", 5*time.Second, "idle: after that collection, wait this long for the runtime to return freed memory")
	gogc := fs.String("gogc", "100", "idle: GOGC of the server")
	replay := fs.Int("replay", 100_000, "replay: changes in the retention window the client resumes from the start of")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	profileDir := fs.String("cpuprofile-dir", "", "write the server's CPU profile of each fan-out row to DIR/fanout-<transport>.pprof")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return options{}, err
	}
	opt := options{subs: *subs, rate: *rate, procs: *procs, warmup: *warmup, measure: *measure, conns: *conns,
		settle: *settle, hold: *hold, gcWait: *gcWait, scavenge: *scavenge, gogc: *gogc, replay: *replay,
		out: *out, json: *jsonPath, walcast: *walcast, profileDir: *profileDir}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"subs":    func() { opt.subs = 200 },
		"measure": func() { opt.measure = 5 * time.Second },
		"conns":   func() { opt.conns = 1000 },
		"hold":    func() { opt.hold = 3 * time.Second },
		"gc-wait": func() { opt.gcWait = 5 * time.Second },
		"replay":  func() { opt.replay = 10_000 },
	})
	for p := range strings.SplitSeq(*only, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(parts, p) {
			return opt, cli.Usage(fmt.Errorf("--only: unknown part %q; the parts are %s", p, strings.Join(parts, ",")))
		}
		opt.only = append(opt.only, p)
	}
	if opt.subs < 1 || opt.rate < 1 || opt.conns < 1 || opt.replay < 1 {
		return opt, cli.Usage(errors.New("--subs, --rate, --conns and --replay must be positive"))
	}
	if opt.procs < 0 || opt.warmup < 0 || opt.measure <= 0 || opt.settle < 0 || opt.hold < 0 || opt.gcWait < 0 || opt.scavenge < 0 {
		return opt, cli.Usage(errors.New("--procs, --warmup, --settle, --hold, --gc-wait and --scavenge must not be negative, --measure must be positive"))
	}
	if n, err := strconv.Atoi(opt.gogc); (err != nil || n < 1) && opt.gogc != "off" {
		return opt, cli.Usage(fmt.Errorf("--gogc %q: want a positive percentage, as GOGC", opt.gogc))
	}
	return opt, nil
}

func (o options) runs(part string) bool { return slices.Contains(o.only, part) }
