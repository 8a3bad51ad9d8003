package latency

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/stats"
)

// filterMode is how the WebSocket subscribers of a latency phase bind to
// public.t.
type filterMode string

const (
	// filterNone: every subscriber has the unfiltered INSERT binding and
	// gets every row (deliveries = rows × subscribers).
	filterNone filterMode = "none"
	// filterEq: subscriber i binds with the filter sub=eq.i and each row
	// carries sub = its sequence number mod N, so it reaches exactly one
	// subscriber (deliveries = rows).
	filterEq filterMode = "eq"
)

// label is the mode as the report names it.
func (m filterMode) label() string {
	switch m {
	case filterNone:
		return "no filter"
	case filterEq:
		return "eq filter"
	}
	return "—"
}

// latencyOptions are the flags of the latency command.
type latencyOptions struct {
	rates, subs              []int
	modes                    []filterMode
	maxDeliveries            int
	rounds, burstRuns, conns int
	warmup, measure, burst   time.Duration
	out, json, walcast       string
	cpuprofile               string
	quietWait                time.Duration
	retries                  int
}

// The defaults fit a full run of the matrix (3 rates × 3 subscriber counts ×
// 2 filter modes, minus what is over the delivery cap: 15 walcast phases
// and 3 bare ones per round) into about 9 minutes on a quiet machine: 2
// rounds of 2 s + 7 s phases, each with about 2 s of quiet check, start,
// connect and drain around it (36 phases, ~7 minutes), plus 2 runs of a 4 s
// burst (~1 minute) and the build and cluster start.
func parseLatencyFlags(args []string) (latencyOptions, error) {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: rates 1000, subscribers 1,100, 1 round of 2+5 s phases, one 3 s burst run, 4 s quiet wait, no retries")
	rates := fs.String("rates", "1000,5000,20000", "insert rates to measure, rows/s, comma-separated")
	subs := fs.String("subs", "1,100,1000", "WebSocket subscriber counts, comma-separated")
	filter := fs.String("filter", "both", "subscriber bindings: none (every subscriber gets every row), eq (subscriber i filters sub=eq.i, each row reaches one), or both")
	maxDeliveries := fs.Int("max-deliveries", 1_000_000, "skip (and list as not run) combinations whose deliveries/s would exceed this; this 2-core machine saturates around 850k/s")
	rounds := fs.Int("rounds", 2, "rounds of alternating bare and walcast phases")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load at the start of each phase")
	measure := fs.Duration("measure", 7*time.Second, "measured load of each phase")
	conns := fs.Int("conns", 4, "load generator connections")
	burst := fs.Duration("burst", 4*time.Second, "length of the max-rate burst load")
	burstRuns := fs.Int("burst-runs", 2, "timed runs per consumer of the burst")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "write the targets and chart series (Results) as JSON to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	quietWait := fs.Duration("quiet-wait", 10*time.Second, "before each phase, wait up to this long for other processes to use under 0.15 cores (0: don't wait)")
	retries := fs.Int("retries", 1, "repeat a phase up to this often while other processes took over 0.25 cores during it")
	cpuprofile := fs.String("cpuprofile", "", "write CPU profiles of walcast serve: PREFIX-<rate>-<subs>-<filter>-<round>.prof per phase, PREFIX-burst-<slot>.prof per burst run")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return latencyOptions{}, err
	}
	opt := latencyOptions{rounds: *rounds, burstRuns: *burstRuns, conns: *conns, warmup: *warmup, measure: *measure,
		burst: *burst, out: *out, json: *jsonPath, walcast: *walcast, cpuprofile: *cpuprofile, quietWait: *quietWait,
		retries: *retries, maxDeliveries: *maxDeliveries}
	if *quick {
		for name, set := range map[string]func(){
			"rates":      func() { *rates = "1000" },
			"subs":       func() { *subs = "1,100" },
			"rounds":     func() { opt.rounds = 1 },
			"warmup":     func() { opt.warmup = 2 * time.Second },
			"measure":    func() { opt.measure = 5 * time.Second },
			"burst":      func() { opt.burst = 3 * time.Second },
			"burst-runs": func() { opt.burstRuns = 1 },
			"quiet-wait": func() { opt.quietWait = 4 * time.Second },
			"retries":    func() { opt.retries = 0 },
		} {
			if !cli.FlagSet(fs, name) {
				set()
			}
		}
	}
	var err error
	if opt.rates, err = cli.PositiveInts(*rates); err != nil {
		return latencyOptions{}, cli.Usage(fmt.Errorf("--rates: %w", err))
	}
	if opt.subs, err = cli.PositiveInts(*subs); err != nil {
		return latencyOptions{}, cli.Usage(fmt.Errorf("--subs: %w", err))
	}
	switch *filter {
	case "none":
		opt.modes = []filterMode{filterNone}
	case "eq":
		opt.modes = []filterMode{filterEq}
	case "both":
		opt.modes = []filterMode{filterNone, filterEq}
	default:
		return latencyOptions{}, cli.Usage(fmt.Errorf("--filter %q: want none, eq or both", *filter))
	}
	if opt.rounds < 1 || opt.burstRuns < 0 || opt.conns < 1 || opt.measure <= 0 || opt.warmup < 0 || opt.burst < 0 || opt.quietWait < 0 || opt.retries < 0 || opt.maxDeliveries < 1 {
		return latencyOptions{}, cli.Usage(errors.New("--rounds, --conns and --max-deliveries must be at least 1, --measure positive, the rest not negative"))
	}
	return opt, nil
}

// phaseSpec is one cell of the matrix: subs 0 is the bare receiver.
type phaseSpec struct {
	rate, subs int
	mode       filterMode // empty for the bare receiver
}

// deliveriesPerSecond is what the phase asks of the server: every row to
// every subscriber without a filter, every row to one subscriber with eq.
func (s phaseSpec) deliveriesPerSecond() int {
	if s.mode == filterEq {
		return s.rate
	}
	return s.rate * max(s.subs, 1)
}

// walcastSpecs returns the walcast phases of one rate that fit under the
// delivery cap, and those that do not.
func (o latencyOptions) walcastSpecs(rate int) (run, capped []phaseSpec) {
	for _, n := range o.subs {
		for _, m := range o.modes {
			s := phaseSpec{rate: rate, subs: n, mode: m}
			if s.deliveriesPerSecond() > o.maxDeliveries {
				capped = append(capped, s)
			} else {
				run = append(run, s)
			}
		}
	}
	return run, capped
}

// cappedSpecs is every combination the run leaves out for the cap.
func (o latencyOptions) cappedSpecs() []phaseSpec {
	var out []phaseSpec
	for _, rate := range o.rates {
		_, capped := o.walcastSpecs(rate)
		out = append(out, capped...)
	}
	return out
}

// notRunText says why s was not run.
func (o latencyOptions) notRunText(s phaseSpec) string {
	return fmt.Sprintf("not run: %s deliveries/s is above the cap (--max-deliveries %s/s)",
		stats.Group(float64(s.deliveriesPerSecond())), stats.Group(float64(o.maxDeliveries)))
}

// describe names the receiver of the phase for logs and errors.
func (s phaseSpec) describe() string {
	r := (&phaseResult{subs: s.subs}).receiver()
	if s.subs == 0 {
		return r
	}
	return r + ", " + s.mode.label()
}
