package fanout

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// fanoutOptions are the flags of the fanout command.
type fanoutOptions struct {
	subs, rates        []int
	perPublisher, runs int
	procs, payload     int
	warmup, measure    time.Duration
	vsn, out, json     string
	systems            harness.RoomSystems // Coalesced: walcast's --write-coalesce in the batched system; 0: no such system
}

func parseFanoutFlags(args []string) (fanoutOptions, error) {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: one run of 100 and 1,000 subscribers (500 and 60 msg/s), 2 s warm-up, 5 s measured")
	// 500 × 120 msg/s is the Centrifugo run measured on this machine
	// (anchors.md §11.4); the others keep deliveries near 50–60k/s.
	subs := fs.String("subs", "100,500,1000,5000", "subscriber counts, comma-separated")
	rates := fs.String("rates", "500,120,60,10", "publish rate (msg/s) for each subscriber count; one value applies to all")
	perPub := fs.Int("per-publisher", 90, "messages/s per publisher socket (walcast allows 100/s per connection by default)")
	procs := fs.Int("procs", 0, "subscriber load processes (default: one per 2,500 subscribers)")
	payload := fs.Int("payload", 128, "bytes of each broadcast payload (JSON, with the send time inside)")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured publishing before the measurement")
	measure := fs.Duration("measure", 15*time.Second, "measured publishing per subscriber count")
	// Centrifugo's write_delay (PRO only) is the same idea; at 60 msg/s a
	// 100 ms delay cut its server CPU sixfold (anchors.md §2.1).
	coalesced := fs.Duration("coalesced", 10*time.Millisecond, "also run walcast with --write-coalesce of this much (write batching on; 0: leave that system out)")
	// One run is within ±10-20% on this shared machine; the report gives
	// the median of three, with the range.
	runs := fs.Int("runs", 3, "runs of each subscriber count (a fresh server each; the report gives the median and range)")
	vsn := fs.String("vsn", "2.0.0", "serializer of the subscribers: 1.0.0 (text) or 2.0.0 (binary kind 4)")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	peerFlags := harness.AddPeerFlags(fs, "each subscriber count alternating with walcast", "its clients and publishers")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return fanoutOptions{}, err
	}
	opt := fanoutOptions{perPublisher: *perPub, runs: *runs, procs: *procs, payload: *payload,
		warmup: *warmup, measure: *measure, vsn: *vsn, out: *out, json: *jsonPath}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"warmup":  func() { opt.warmup = 2 * time.Second },
		"measure": func() { opt.measure = 5 * time.Second },
		"runs":    func() { opt.runs = 1 },
		"subs": func() {
			*subs = "100,1000"
			if !cli.FlagSet(fs, "rates") {
				*rates = "500,60"
			}
		},
	})
	var err error
	if opt.systems, err = peerFlags.Systems(); err != nil {
		return opt, err
	}
	opt.systems.Coalesced = *coalesced
	if opt.subs, err = cli.PositiveInts(*subs); err != nil {
		return opt, cli.Usage(fmt.Errorf("--subs: %w", err))
	}
	if opt.rates, err = cli.PositiveInts(*rates); err != nil {
		return opt, cli.Usage(fmt.Errorf("--rates: %w", err))
	}
	switch {
	case len(opt.rates) == 1:
		for len(opt.rates) < len(opt.subs) {
			opt.rates = append(opt.rates, opt.rates[0])
		}
	case len(opt.rates) != len(opt.subs):
		return opt, cli.Usage(errors.New("--rates: give one rate, or one per subscriber count"))
	}
	if opt.perPublisher < 1 || opt.runs < 1 || opt.procs < 0 || opt.payload < 40 || opt.measure <= 0 || opt.warmup < 0 || opt.systems.Coalesced < 0 {
		return opt, cli.Usage(errors.New("--per-publisher and --runs must be at least 1, --payload at least 40, --measure positive, --coalesced not negative"))
	}
	return opt, cli.CheckVsnFlag(opt.vsn)
}

// fanout measures broadcast fan-out: walcast serve, walcast serve with
// write batching (--coalesced) and the peer (Centrifugo), each as its own
// process, alternating per subscriber count; subscribers in load processes
// on 127.0.0.2+, publishers in this process.
func Run(ctx context.Context, args []string) error {
	if os.Getenv(harness.EnvLoadMode) != "" {
		return fanoutLoad(ctx)
	}
	opt, err := parseFanoutFlags(args)
	if err != nil {
		return err
	}
	b, systems, _, stop, err := harness.StartRoomSystems(ctx, "walcast-fanout-", opt.systems)
	defer stop()
	if err != nil {
		return err
	}
	var rows []fanoutRow
	for run := 1; run <= opt.runs; run++ {
		for i, n := range opt.subs {
			for _, sys := range systems {
				row, err := fanoutPhase(ctx, sys, opt, n, opt.rates[i])
				if err != nil {
					return fmt.Errorf("%s, %d subscribers at %d msg/s: %w", sys.Name, n, opt.rates[i], err)
				}
				row.run = run
				fmt.Fprintln(os.Stderr, row.line())
				rows = append(rows, row)
			}
		}
	}
	env := b.Env(true)
	var md bytes.Buffer
	writeFanoutReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, fanoutResults(opt, rows, env))
}
