package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// phaseResult is one receiver's measurement in one round.
type phaseResult struct {
	rate, subs, round int // subs 0: the bare receiver
	hist              histogram
	sent, delivered   int64 // measured rows committed; deliveries of them
	gapClients        int   // receivers that got a different count
	lostConns         int   // connections closed by the server or failed
	connErr           error
	slowClosed        int           // "slow consumer" closes in the server log
	span              time.Duration // first measured row due → last delivery
	late              time.Duration // load generator behind schedule at the end
	connect           time.Duration // dialing and joining every subscriber
	cpu               cpuUse        // from the first measured row to the end of the drain
	quiet             quietness     // before the phase
	repeats           int           // earlier attempts dropped as disturbed
}

func (r *phaseResult) receiver() string {
	if r.subs == 0 {
		return "bare pgoutput receiver"
	}
	if r.subs == 1 {
		return "walcast, 1 subscriber"
	}
	return fmt.Sprintf("walcast, %s subscribers", group(float64(r.subs)))
}

func (r *phaseResult) log(measure time.Duration) {
	fmt.Fprintf(os.Stderr, "round %d, %d rows/s, %s: p50 %s p99 %s max %s ms, %d rows, %d deliveries, %.0f/s, missing %d\n",
		r.round, r.rate, r.receiver(), ms(r.hist.quantile(0.5)), ms(r.hist.quantile(0.99)), ms(r.hist.max),
		r.sent, r.delivered, float64(r.delivered)/max(r.span, measure).Seconds(), r.sent*int64(max(r.subs, 1))-r.delivered)
}

// aggregate is one receiver at one rate over every round.
type aggregate struct {
	rate, subs      int
	rounds          []*phaseResult
	hist            histogram
	sent, delivered int64
	lost, extra     int64
	gapClients      int
	lostConns, slow int
	connErr         error
	span            time.Duration
	cpu             cpuUse // summed over rounds; mean() averages
	late, connect   []time.Duration
	quietWaited     time.Duration
	notQuiet        int // phases started while other processes stayed busy
	repeats, noisy  int // phases repeated; results kept although disturbed
}

func aggregatePhases(opt latencyOptions, phases []phaseResult) []*aggregate {
	var out []*aggregate
	for _, rate := range opt.rates {
		for _, subs := range append([]int{0}, opt.subs...) {
			a := &aggregate{rate: rate, subs: subs}
			for i := range phases {
				p := &phases[i]
				if p.rate != rate || p.subs != subs {
					continue
				}
				a.rounds = append(a.rounds, p)
				a.hist.merge(&p.hist)
				a.sent += p.sent
				a.delivered += p.delivered
				if d := p.sent*int64(max(subs, 1)) - p.delivered; d > 0 {
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
				a.cpu.add(p.cpu)
				a.quietWaited += p.quiet.waited
				if p.quiet.other >= quietCores {
					a.notQuiet++
				}
				a.repeats += p.repeats
				if p.cpu.other() > noisyCores {
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

func (a *aggregate) p99s() []int64 {
	var out []int64
	for _, p := range a.rounds {
		out = append(out, p.hist.quantile(0.99))
	}
	return out
}

// reportContext is what the report says about the run besides the numbers.
type reportContext struct {
	machine, settings     string
	loadBefore, loadAfter string
	took                  time.Duration
	burstNote             string
}

// writeLatencyReport writes the Markdown report. Write errors surface when
// the caller writes the buffer out.
func writeLatencyReport(w io.Writer, opt latencyOptions, phases []phaseResult, bursts []result, rc reportContext) {
	aggs := aggregatePhases(opt, phases)
	fmt.Fprintf(w, "## Commit-to-client latency\n\n")
	fmt.Fprintf(w, "%s Load average (1 min) before / after: %s / %s. Open-file limit: %s. Run took %s.\n\n",
		rc.machine, rc.loadBefore, rc.loadAfter, nofile(), rc.took.Round(time.Second))
	fmt.Fprintf(w, "Postgres: %s (fsync off: commits wait for the WAL write, not a disk flush).\n\n", rc.settings)
	fmt.Fprintf(w, "Method: table `t (id bigserial pk, k int, sent_at timestamptz default clock_timestamp(), payload text)`, ~100-byte rows, "+
		"publication `walcast` FOR ALL TABLES. %d load connections insert one-row transactions at a fixed rate; "+
		"latency = arrival time in the bench process (Go wall clock) − the row's `sent_at` (`clock_timestamp()` at insert, same host clock), "+
		"recorded per delivery. Each phase: %s warm-up (excluded), %s measured, then up to 15 s (stopping after 5 s without progress) for the rest; what has not arrived by then is counted as missing. "+
		"Phases alternate in every round: the bare pgoutput receiver alone (pglogrepl, temporary slot, proto 2, parses the Insert), "+
		"then `walcast serve` (its own process, fresh slot, stopped after the phase) with N WebSocket clients in the bench process, "+
		"each joined to one channel with the unfiltered INSERT binding on `public.t` (every client gets every row). Rounds: %d. "+
		"Before each phase and burst run the bench waits up to %s for processes outside the run to use under %.2f cores, "+
		"and repeats a phase (up to %d times) when they took over %.2f cores during it. "+
		"CPU cores are averages from the first measured row to the end of the drain: the whole machine (%d cores; user, system, irq, "+
		"including anything else running on it), this run's Postgres cluster, the walcast serve process, and the bench process (load generator and receivers).\n\n",
		opt.conns, opt.warmup, opt.measure, opt.rounds, opt.quietWait, quietCores, opt.retries, noisyCores, runtime.NumCPU())

	fmt.Fprintln(w, "| rows/s | receiver | rounds | rows sent | deliveries | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | p99 by round ms | missing | CPU cores: machine / postgres / walcast / bench | walcast CPU µs/delivery |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|")
	for _, a := range aggs {
		rate := float64(a.delivered) / max(a.span, time.Duration(len(a.rounds))*opt.measure).Seconds()
		use := a.cpu.mean()
		cores := fmt.Sprintf("%.2f / %.2f / — / %.2f", use.machine, use.pg, use.bench)
		perDelivery := "—"
		if a.subs > 0 {
			cores = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", use.machine, use.pg, use.server, use.bench)
			if a.delivered > 0 {
				perDelivery = fmt.Sprintf("%.2f", a.cpu.server*1e6/float64(a.delivered))
			}
		}
		var byRound []string
		for _, v := range a.p99s() {
			byRound = append(byRound, ms(v))
		}
		lost := group(float64(a.lost))
		if a.gapClients > 0 && a.subs > 0 {
			lost += fmt.Sprintf(" (%d clients)", a.gapClients)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			group(float64(a.rate)), a.receiver(), len(a.rounds), group(float64(a.sent)), group(float64(a.delivered)), group(rate),
			ms(a.hist.quantile(0.5)), ms(a.hist.quantile(0.9)), ms(a.hist.quantile(0.99)), ms(a.hist.max),
			strings.Join(byRound, ", "), lost, cores, perDelivery)
	}

	fmt.Fprintf(w, "\n### What walcast adds (walcast − bare receiver at the same rate)\n\n")
	fmt.Fprintln(w, "| rows/s | subscribers | Δp50 ms | Δp99 ms | Δp99 by round ms | other processes by round, cores | target: < 5 ms added to p99 at 1,000 rows/s, 100 subscribers |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---|---|---|")
	bare := map[int]*aggregate{}
	for _, a := range aggs {
		if a.subs == 0 {
			bare[a.rate] = a
		}
	}
	for _, a := range aggs {
		base := bare[a.rate]
		if a.subs == 0 || base == nil {
			continue
		}
		d99 := a.hist.quantile(0.99) - base.hist.quantile(0.99)
		var byRound, others []string
		met, clean, cleanMet := 0, 0, 0
		bp := base.p99s()
		for i, v := range a.p99s() {
			others = append(others, fmt.Sprintf("%.2f", a.rounds[i].cpu.other()))
			if i >= len(bp) {
				continue
			}
			byRound = append(byRound, ms(v-bp[i]))
			ok := v-bp[i] < 5000 && a.rounds[i].sent*int64(a.subs) == a.rounds[i].delivered
			if ok {
				met++
			}
			if a.rounds[i].cpu.other() <= noisyCores && base.rounds[i].cpu.other() <= noisyCores {
				clean++
				if ok {
					cleanMet++
				}
			}
		}
		target := "—"
		if a.rate == 1000 && a.subs == 100 {
			verdict := "met"
			if d99 >= 5000 || a.lost > 0 {
				verdict = "**missed**"
			}
			target = fmt.Sprintf("%s over all rounds; met in %d of %d rounds, %d of the %d rounds undisturbed by other processes", verdict, met, len(byRound), cleanMet, clean)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", group(float64(a.rate)), group(float64(a.subs)),
			ms(a.hist.quantile(0.5)-base.hist.quantile(0.5)), ms(d99), strings.Join(byRound, ", "), strings.Join(others, ", "), target)
	}

	if len(bursts) > 0 {
		fmt.Fprintf(w, "\n### Max rate: one WebSocket subscriber vs walcast tail\n\n")
		fmt.Fprintf(w, "Burst: %s. %s\n\n", rc.burstNote, burstMethod(group(float64(bursts[0].rows))))
		_ = writeTable(w, bursts, "walcast tail")
	}

	notes := latencyNotes(aggs)
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func latencyNotes(aggs []*aggregate) []string {
	var notes []string
	for _, a := range aggs {
		name := fmt.Sprintf("%s rows/s, %s", group(float64(a.rate)), a.receiver())
		if late := slices.Max(a.late); late > 100*time.Millisecond {
			notes = append(notes, fmt.Sprintf("%s: the load generator ended up to %s behind schedule: it offered fewer rows per second than asked (latency counts from each row's own sent_at).", name, late.Round(time.Millisecond)))
		}
		if a.subs > 0 {
			notes = append(notes, fmt.Sprintf("%s: connecting and joining all subscribers took %s (median).", name, median(a.connect).Round(time.Millisecond)))
		}
		if a.lostConns > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d connections lost (first: %v); %d slow-consumer closes in the server log.", name, a.lostConns, a.connErr, a.slow))
		} else if a.slow > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d slow-consumer closes in the server log.", name, a.slow))
		}
		if a.extra > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d deliveries more than rows sent (duplicates).", name, a.extra))
		}
		use := a.cpu.mean()
		if other := use.other(); other > 0.1 {
			notes = append(notes, fmt.Sprintf("%s: other processes on the machine used %.2f cores during the measurement.", name, other))
		}
		if a.notQuiet > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d of %d phases started while other processes still used ≥ %.2f cores (after waiting %s in all).",
				name, a.notQuiet, len(a.rounds), quietCores, a.quietWaited.Round(time.Second)))
		}
		if a.repeats > 0 || a.noisy > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d phase runs repeated because other processes took over %.2f cores; %d kept results still were.",
				name, a.repeats, noisyCores, a.noisy))
		}
		if steal := use.steal; steal > 0.05 {
			notes = append(notes, fmt.Sprintf("%s: the hypervisor took %.2f cores (steal time) during the measurement.", name, steal))
		}
		if a.hist.neg > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d deliveries arrived before their sent_at (clock stepped), counted as 0.", name, a.hist.neg))
		}
	}
	return notes
}

// ms formats microseconds as milliseconds.
func ms(us int64) string { return fmt.Sprintf("%.2f", float64(us)/1000) }

func nofile() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return "unknown"
	}
	return fmt.Sprint(rl.Cur)
}
