package latency

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// phaseResult is one receiver's measurement in one round.
type phaseResult struct {
	rate, subs, round int        // subs 0: the bare receiver
	mode              filterMode // empty for the bare receiver
	hist              stats.Histogram
	sent, delivered   int64 // measured rows committed; deliveries of them
	want              int64 // deliveries expected: sent × subs without a filter, sent with eq
	misrouted         int64 // rows that reached a subscriber whose eq filter they fail
	dups              int64 // rows a subscriber got more than once (eq filter only)
	gapClients        int   // receivers that got another count than expected
	lostConns         int   // connections closed by the server or failed
	connErr           error
	slowClosed        int               // "slow consumer" closes in the server log
	span              time.Duration     // first measured row due → last delivery
	late              time.Duration     // load generator behind schedule at the end
	unsent            int64             // rows of the schedule given up on (loadLateLimit)
	connect           time.Duration     // dialing and joining every subscriber
	cpu               harness.CPUUse    // from the first measured row to the end of the drain
	quiet             harness.Quietness // before the phase
	repeats           int               // earlier attempts dropped as disturbed
}

func (r *phaseResult) receiver() string {
	if r.subs == 0 {
		return "bare pgoutput receiver"
	}
	if r.subs == 1 {
		return "walcast, 1 subscriber"
	}
	return fmt.Sprintf("walcast, %s subscribers", stats.Group(float64(r.subs)))
}

func (r *phaseResult) log(measure time.Duration) {
	spec := phaseSpec{rate: r.rate, subs: r.subs, mode: r.mode}
	fmt.Fprintf(os.Stderr, "round %d, %d rows/s, %s: p50 %s p99 %s max %s ms, %d rows, %d of %d deliveries, %.0f/s, missing %d, misrouted %d, duplicates %d, clients off their count %d\n",
		r.round, r.rate, spec.describe(), quantileMs(&r.hist, 0.5), quantileMs(&r.hist, 0.99), maxMs(&r.hist),
		r.sent, r.delivered, r.want, float64(r.delivered)/max(r.span, measure).Seconds(), r.want-r.delivered, r.misrouted, r.dups, r.gapClients)
}

// aggregate is one receiver at one rate over every round.
type aggregate struct {
	rate, subs      int
	mode            filterMode
	rounds          []*phaseResult
	hist            stats.Histogram
	sent, delivered int64
	want, misrouted int64
	dups            int64
	lost, extra     int64
	unsent          int64
	gapClients      int
	lostConns, slow int
	connErr         error
	span            time.Duration
	cpu             harness.CPUUse // summed over rounds; mean() averages
	late, connect   []time.Duration
	quietWaited     time.Duration
	notQuiet        int // phases started while other processes stayed busy
	repeats, noisy  int // phases repeated; results kept although disturbed
}

func aggregatePhases(opt latencyOptions, phases []phaseResult) []*aggregate {
	var out []*aggregate
	for _, rate := range opt.rates {
		run, _ := opt.walcastSpecs(rate)
		for _, spec := range append([]phaseSpec{{rate: rate}}, run...) {
			a := &aggregate{rate: rate, subs: spec.subs, mode: spec.mode}
			for i := range phases {
				p := &phases[i]
				if p.rate != rate || p.subs != spec.subs || p.mode != spec.mode {
					continue
				}
				a.rounds = append(a.rounds, p)
				a.hist.Merge(&p.hist)
				a.sent += p.sent
				a.delivered += p.delivered
				a.want += p.want
				a.misrouted += p.misrouted
				a.unsent += p.unsent
				a.dups += p.dups
				if d := p.want - p.delivered; d > 0 {
					a.lost += d
				} else {
					a.extra -= d
				}
				a.gapClients += p.gapClients
				a.lostConns += p.lostConns
				a.slow += p.slowClosed
				if a.connErr == nil {
					a.connErr = p.connErr
				}
				a.span += p.span
				a.cpu.Add(p.cpu)
				a.quietWaited += p.quiet.Waited
				if p.quiet.Other >= harness.QuietCores {
					a.notQuiet++
				}
				a.repeats += p.repeats
				if p.cpu.Other() > harness.NoisyCores {
					a.noisy++
				}
				a.late = append(a.late, p.late)
				a.connect = append(a.connect, p.connect)
			}
			if len(a.rounds) > 0 {
				out = append(out, a)
			}
		}
	}
	return out
}

func (a *aggregate) receiver() string { return (&phaseResult{subs: a.subs}).receiver() }

func (a *aggregate) spec() phaseSpec { return phaseSpec{rate: a.rate, subs: a.subs, mode: a.mode} }

// behindSchedule is how late a paced load may end before the phase counts
// as fallen behind: the rows were then offered slower than the rate asked.
const behindSchedule = time.Second

// keptUp reports whether the load ran on schedule and every expected
// delivery arrived within the drain limit, on connections the server kept
// open, each to the right subscriber.
func (a *aggregate) keptUp() bool {
	return a.lost == 0 && a.lostConns == 0 && a.misrouted == 0 && a.extra == 0 && a.dups == 0 &&
		a.unsent == 0 && slices.Max(a.late) <= behindSchedule
}

// status is keptUp in words, with what arrived when it did not.
func (a *aggregate) status() string {
	var s []string
	if a.lost > 0 || a.lostConns > 0 {
		s = append(s, fmt.Sprintf("**fell behind**: %s of %s deliveries (%.1f %%)", stats.Group(float64(a.delivered)), stats.Group(float64(a.want)),
			100*float64(a.delivered)/max(float64(a.want), 1)))
	}
	if late := slices.Max(a.late); late > behindSchedule || a.unsent > 0 {
		t := fmt.Sprintf("**load fell behind**: %.1f s behind schedule", late.Seconds())
		if a.unsent > 0 {
			t += fmt.Sprintf(", %s rows not inserted", stats.Group(float64(a.unsent)))
		}
		s = append(s, t)
	}
	if a.misrouted > 0 {
		s = append(s, fmt.Sprintf("**%s misrouted**", stats.Group(float64(a.misrouted))))
	}
	if a.extra > 0 {
		s = append(s, fmt.Sprintf("**%s extra**", stats.Group(float64(a.extra))))
	}
	if a.dups > 0 {
		s = append(s, fmt.Sprintf("**%s duplicates**", stats.Group(float64(a.dups))))
	}
	if len(s) == 0 {
		return "kept up"
	}
	return strings.Join(s, ", ")
}

func (a *aggregate) p99s() []int64 {
	var out []int64
	for _, p := range a.rounds {
		out = append(out, p.hist.Quantile(0.99))
	}
	return out
}

// deliveredNone reports whether a has no latency samples: its figures
// would be those of an empty histogram.
func (a *aggregate) deliveredNone() bool { return a.hist.N == 0 }

// reportContext is what the report says about the run besides the numbers.
type reportContext struct {
	machine, settings     string
	loadBefore, loadAfter string
	took                  time.Duration
	burstNote             string
	burstErr              error // the burst failed: its table is left out
}

// writeLatencyReport writes the Markdown report. Write errors surface when
// the caller writes the buffer out.
func writeLatencyReport(w io.Writer, opt latencyOptions, phases []phaseResult, bursts []stats.Result, rc reportContext) {
	aggs := aggregatePhases(opt, phases)
	fmt.Fprintf(w, "## Commit-to-client latency\n\n")
	fmt.Fprintf(w, "%s Load average (1 min) before / after: %s / %s. Open-file limit: %s. Run took %s.\n\n",
		rc.machine, rc.loadBefore, rc.loadAfter, harness.FileLimit(), rc.took.Round(time.Second))
	fmt.Fprintf(w, "Postgres: %s (fsync off: commits wait for the WAL write, not a disk flush).\n\n", rc.settings)
	fmt.Fprintf(w, "### Method\n\nTable `t (id bigserial pk, k int, sub int, sent_at timestamptz default clock_timestamp(), payload text)`, ~100-byte rows, "+
		"publication `walcast` FOR ALL TABLES. %d load connections insert one-row transactions at a fixed rate; "+
		"latency = arrival time in the bench process (Go wall clock) − the row's `sent_at` (`clock_timestamp()` at insert, same host clock), "+
		"recorded per delivery. Each phase: %s warm-up (excluded), %s measured, then up to %s (stopping after 5 s without progress) for the rest; what has not arrived by then is counted as missing and the phase as fallen behind, as it is when the load ends over 1 s behind its schedule (it gives up rows still not inserted 15 s after). "+
		"Phases alternate in every round: per rate, the bare pgoutput receiver alone (pglogrepl, temporary slot, proto 2, parses the Insert), "+
		"then `walcast serve` (its own process, fresh slot, stopped after the phase) with N WebSocket clients in the bench process, "+
		"each joined to one channel with an INSERT binding on `public.t`: with no filter every client gets every row (deliveries = rows × N); "+
		"with the eq filter client i binds `sub=eq.i` and the n-th row carries sub = n mod N, so each row reaches exactly one client (deliveries = rows), "+
		"and a client counts a row whose sub is not its own as misrouted and a row id it got before as a duplicate. Combinations above %s deliveries/s (--max-deliveries) are not run. Rounds: %d. "+
		"Before each phase and burst run the bench waits up to %s for processes outside the run to use under %.2f cores, "+
		"and repeats a phase (up to %d times) when they took over %.2f cores during it. "+
		"CPU cores are averages from the first measured row to the end of the drain: the whole machine (%d cores; user, system, irq, "+
		"including anything else running on it), this run's Postgres cluster, the walcast serve process, and the bench process (load generator and receivers). "+
		"A phase, or a round, without deliveries has no latency figures (—) and meets no target; the targets compare walcast with the bare receiver of the same run and rate. "+
		"Code: bench/latency (phase.go runs a phase, client.go the receivers, bare.go the bare receiver, targets.go the targets).\n\n",
		opt.conns, opt.warmup, opt.measure, drainWait, stats.Group(float64(opt.maxDeliveries)), opt.rounds, opt.quietWait, harness.QuietCores, opt.retries, harness.NoisyCores, runtime.NumCPU())

	fmt.Fprintln(w, "| rows/s | receiver | filter | rounds | rows sent | deliveries | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | p99 by round ms | missing | CPU cores: machine / postgres / walcast / bench | walcast CPU µs/delivery | status |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---|")
	for _, a := range aggs {
		rate := float64(a.delivered) / max(a.span, time.Duration(len(a.rounds))*opt.measure).Seconds()
		use := a.cpu.Mean()
		cores := fmt.Sprintf("%.2f / %.2f / — / %.2f", use.Machine, use.Pg, use.Bench)
		perDelivery := "—"
		if a.subs > 0 {
			cores = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", use.Machine, use.Pg, use.Server, use.Bench)
			if a.delivered > 0 {
				perDelivery = fmt.Sprintf("%.2f", a.cpu.Server*1e6/float64(a.delivered))
			}
		}
		var byRound []string
		for _, r := range a.rounds {
			byRound = append(byRound, quantileMs(&r.hist, 0.99))
		}
		lost := stats.Group(float64(a.lost))
		if a.gapClients > 0 && a.subs > 0 {
			lost += fmt.Sprintf(" (%d clients)", a.gapClients)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			stats.Group(float64(a.rate)), a.receiver(), a.mode.label(), len(a.rounds), stats.Group(float64(a.sent)), stats.Group(float64(a.delivered)), stats.Group(rate),
			quantileMs(&a.hist, 0.5), quantileMs(&a.hist, 0.9), quantileMs(&a.hist, 0.99), maxMs(&a.hist),
			strings.Join(byRound, ", "), lost, cores, perDelivery, a.status())
	}
	if capped := opt.cappedSpecs(); len(capped) > 0 {
		fmt.Fprintf(w, "\nNot run (this 2-core machine saturates around 850k deliveries/s):\n\n")
		for _, s := range capped {
			fmt.Fprintf(w, "- %s rows/s, %s: %s\n", stats.Group(float64(s.rate)), s.describe(), opt.notRunText(s))
		}
	}

	fmt.Fprintf(w, "\n### What walcast adds (walcast − bare receiver at the same rate)\n\n")
	fmt.Fprintln(w, "| rows/s | filter | subscribers | Δp50 ms | Δp99 ms | Δp99 by round ms | other processes by round, cores |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---|---|")
	bare := bareByRate(aggs)
	for _, a := range aggs {
		base := bare[a.rate]
		if a.subs == 0 || base == nil {
			continue
		}
		var byRound, others []string
		for i, r := range a.rounds {
			others = append(others, fmt.Sprintf("%.2f", r.cpu.Other()))
			if i < len(base.rounds) {
				byRound = append(byRound, deltaMs(&r.hist, &base.rounds[i].hist, 0.99))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", stats.Group(float64(a.rate)), a.mode.label(), stats.Group(float64(a.subs)),
			deltaMs(&a.hist, &base.hist, 0.5), deltaMs(&a.hist, &base.hist, 0.99),
			strings.Join(byRound, ", "), strings.Join(others, ", "))
	}

	fmt.Fprintf(w, "\n### Targets\n\n")
	report.WriteTargetTable(w, latencyTargets(opt, aggs))

	if rc.burstErr != nil {
		fmt.Fprintf(w, "\n### Max rate: one WebSocket subscriber vs walcast tail\n\nNot reported: %v\n", rc.burstErr)
	}
	if len(bursts) > 0 {
		fmt.Fprintf(w, "\n### Max rate: one WebSocket subscriber vs walcast tail\n\n")
		fmt.Fprintf(w, "Burst: %s. %s\n\n", rc.burstNote, burstMethod(stats.Group(float64(bursts[0].Rows))))
		_ = stats.WriteTable(w, bursts, "walcast tail")
	}

	notes := latencyNotes(aggs)
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// bareByRate finds the bare receiver's aggregate of each rate.
func bareByRate(aggs []*aggregate) map[int]*aggregate {
	bare := map[int]*aggregate{}
	for _, a := range aggs {
		if a.subs == 0 {
			bare[a.rate] = a
		}
	}
	return bare
}
