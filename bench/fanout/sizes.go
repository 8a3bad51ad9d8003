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

// sizesOptions are the flags of the sizes command: the fan-out phase at
// one subscriber count and rate, once per payload size.
type sizesOptions struct {
	fanoutOptions
	sizes      []int
	subs, rate int
}

func parseSizesFlags(args []string) (sizesOptions, error) {
	fs := flag.NewFlagSet("sizes", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: the smallest and the largest size only, 100 subscribers × 40 msg/s, 1 s warm-up, 3 s measured, one run")
	// Decimal KB: 64,000 bytes plus Centrifugo's publish command stays
	// under its default websocket.message_size_limit of 65,536 bytes, so
	// that the peer runs on its defaults.
	sizes := fs.String("sizes", "1000,4000,16000,64000", "payload sizes in bytes, comma-separated (1 KB = 1,000 bytes)")
	subs := fs.Int("subs", 300, "subscribers, the same for every size")
	rate := fs.Int("rate", 20, "published messages/s, the same for every size (deliveries/s = rate × subscribers)")
	procs := fs.Int("procs", 0, "subscriber load processes (default: one per 2,500 subscribers)")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured publishing before the measurement")
	measure := fs.Duration("measure", 10*time.Second, "measured publishing per size")
	runs := fs.Int("runs", 3, "runs of each size (a fresh server each; the report gives the median)")
	vsn := fs.String("vsn", "2.0.0", "serializer of the walcast subscribers: 1.0.0 (text) or 2.0.0 (binary kind 4)")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	peerFlags := harness.AddPeerFlags(fs, "each size alternating with walcast", "its clients and publishers")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return sizesOptions{}, err
	}
	opt := sizesOptions{subs: *subs, rate: *rate, fanoutOptions: fanoutOptions{perPublisher: 90, runs: *runs, procs: *procs,
		warmup: *warmup, measure: *measure, vsn: *vsn, out: *out, json: *jsonPath}}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"sizes":   func() { *sizes = "1000,64000" },
		"subs":    func() { opt.subs = 100 },
		"rate":    func() { opt.rate = 40 },
		"warmup":  func() { opt.warmup = time.Second },
		"measure": func() { opt.measure = 3 * time.Second },
		"runs":    func() { opt.runs = 1 },
	})
	var err error
	if opt.systems, err = peerFlags.Systems(); err != nil {
		return opt, err
	}
	if opt.sizes, err = cli.PositiveInts(*sizes); err != nil {
		return opt, cli.Usage(fmt.Errorf("--sizes: %w", err))
	}
	for _, s := range opt.sizes {
		if s < 40 || s > 64000 {
			return opt, cli.Usage(fmt.Errorf("--sizes: %d bytes; each size must be 40 to 64,000 (Centrifugo's default message limit is 65,536 bytes a frame)", s))
		}
	}
	if opt.subs < 1 || opt.rate < 1 || opt.runs < 1 || opt.procs < 0 || opt.measure <= 0 || opt.warmup < 0 {
		return opt, cli.Usage(errors.New("--subs, --rate and --runs must be at least 1, --measure positive, --procs and --warmup not negative"))
	}
	return opt, cli.CheckVsnFlag(opt.vsn)
}

// RunSizes is the sizes command: broadcast fan-out at each payload size,
// walcast and the peer alternating on fresh servers, as fanout does for
// subscriber counts.
func RunSizes(ctx context.Context, args []string) error {
	if os.Getenv(harness.EnvLoadMode) != "" {
		return fanoutLoad(ctx)
	}
	opt, err := parseSizesFlags(args)
	if err != nil {
		return err
	}
	b, systems, _, stop, err := harness.StartRoomSystems(ctx, "walcast-sizes-", opt.systems)
	defer stop()
	if err != nil {
		return err
	}
	var rows []fanoutRow
	for run := 1; run <= opt.runs; run++ {
		for _, size := range opt.sizes {
			for _, sys := range systems {
				phase := opt.fanoutOptions
				phase.payload = size
				row, err := fanoutPhase(ctx, sys, phase, opt.subs, opt.rate)
				if err != nil {
					return fmt.Errorf("%s, %d-byte payloads: %w", sys.Name, size, err)
				}
				row.run, row.payload = run, size
				fmt.Fprintf(os.Stderr, "%d bytes: %s\n", size, row.line())
				rows = append(rows, row)
			}
		}
	}
	env := b.Env(false)
	var md bytes.Buffer
	writeSizesReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, sizesResults(rows, env))
}
