package latency

import (
	"fmt"
	"slices"
	"strings"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// The latency targets: what walcast adds to Postgres's own p99 at a modest
// load, and the p99 of a large channel count at a higher rate.
const (
	addedGoalUS = 5_000  // < 5 ms added to the bare receiver's p99
	p99GoalUS   = 50_000 // < 50 ms p99
)

// latencyTargets checks the targets against the aggregates. A target whose
// phase did not run says why instead of being left out.
func latencyTargets(opt latencyOptions, aggs []*aggregate) []report.Target {
	find := func(s phaseSpec) *aggregate {
		i := slices.IndexFunc(aggs, func(a *aggregate) bool { return a.spec() == s })
		if i < 0 {
			return nil
		}
		return aggs[i]
	}
	added := phaseSpec{rate: 1000, subs: 100, mode: filterNone}
	targets := []report.Target{addedTarget(opt, added, find(added), bareByRate(aggs)[added.rate])}
	for _, m := range []filterMode{filterEq, filterNone} {
		s := phaseSpec{rate: 5000, subs: 1000, mode: m}
		targets = append(targets, p99Target(opt, s, find(s)))
	}
	return targets
}

// addedTarget: walcast's p99 minus the bare receiver's at the same rate,
// over all rounds.
func addedTarget(opt latencyOptions, s phaseSpec, a, base *aggregate) report.Target {
	t := report.Target{
		Name: fmt.Sprintf("Latency walcast adds to Postgres's own p99, %s rows/s, %s subscribers, %s (p99 walcast − p99 bare pgoutput receiver, ms)",
			stats.Group(float64(s.rate)), stats.Group(float64(s.subs)), s.mode.label()),
		Goal: fmt.Sprintf("< %s ms", stats.Ms(addedGoalUS)),
	}
	if a == nil || base == nil {
		t.Measured = notRunReason(opt, s)
		return t
	}
	if a.deliveredNone() || base.deliveredNone() {
		t.Measured, t.Note = noDeliveries(a, base), a.status()
		return t
	}
	d99 := a.hist.Quantile(0.99) - base.hist.Quantile(0.99)
	met, clean, cleanMet := 0, 0, 0
	bp := base.p99s()
	for i, v := range a.p99s() {
		if i >= len(bp) || a.rounds[i].hist.N == 0 || base.rounds[i].hist.N == 0 {
			continue
		}
		r := a.rounds[i]
		ok := v-bp[i] < addedGoalUS && r.want == r.delivered && r.unsent == 0 && r.late <= behindSchedule
		met += stats.Btoi(ok)
		if a.rounds[i].cpu.Other() <= harness.NoisyCores && base.rounds[i].cpu.Other() <= harness.NoisyCores {
			clean++
			cleanMet += stats.Btoi(ok)
		}
	}
	t.Ratio = float64(d99) / 1000
	t.Met = d99 < addedGoalUS && a.keptUp()
	t.Measured = fmt.Sprintf("%s ms (p99 %s vs %s ms; under the goal in %d of %d rounds, %d of the %d rounds undisturbed by other processes)",
		stats.Ms(d99), stats.Ms(a.hist.Quantile(0.99)), stats.Ms(base.hist.Quantile(0.99)), met, min(len(a.rounds), len(bp)), cleanMet, clean)
	if !a.keptUp() {
		t.Note = a.status()
	}
	return t
}

// p99Target: walcast's p99 over all rounds.
func p99Target(opt latencyOptions, s phaseSpec, a *aggregate) report.Target {
	t := report.Target{
		Name: fmt.Sprintf("p99 latency, %s rows/s, %s subscribers, %s (%s deliveries/s)",
			stats.Group(float64(s.rate)), stats.Group(float64(s.subs)), s.mode.label(), stats.Group(float64(s.deliveriesPerSecond()))),
		Goal: fmt.Sprintf("< %s ms", stats.Ms(p99GoalUS)),
	}
	if a == nil {
		t.Measured = notRunReason(opt, s)
		return t
	}
	if a.deliveredNone() {
		t.Measured, t.Note = noDeliveries(a, nil), a.status()
		return t
	}
	p99 := a.hist.Quantile(0.99)
	var byRound []string
	for _, r := range a.rounds {
		byRound = append(byRound, quantileMs(&r.hist, 0.99))
	}
	t.Ratio = float64(p99) / 1000
	t.Met = p99 < p99GoalUS && a.keptUp()
	t.Measured = fmt.Sprintf("%s ms (p50 %s ms; p99 by round %s ms)", stats.Ms(p99), stats.Ms(a.hist.Quantile(0.5)), strings.Join(byRound, ", "))
	if !a.keptUp() {
		t.Note = a.status()
	}
	return t
}

// noDeliveries is the measured text of a target whose receiver, or bare
// baseline, delivered nothing: no latency figure, and why.
func noDeliveries(a, base *aggregate) string {
	if base != nil && base.deliveredNone() {
		return "no figure: the bare receiver received none of its rows"
	}
	return fmt.Sprintf("no figure: walcast delivered none of the %s deliveries expected", stats.Group(float64(a.want)))
}

// notRunReason says why the phase of a target is missing from this run.
func notRunReason(opt latencyOptions, s phaseSpec) string {
	if slices.Contains(opt.cappedSpecs(), s) {
		return opt.notRunText(s) + "; this 2-core machine saturates around 850k deliveries/s"
	}
	return "not run: --rates, --subs or --filter of this run leave it out"
}
