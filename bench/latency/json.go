package latency

import (
	"fmt"
	"slices"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// distributionRate is the rate whose latency distributions are charted.
const distributionRate = 1000

// latencyResults is what --json writes: the targets, the latency
// distributions at 1,000 rows/s (bare receiver and walcast with each
// subscriber count) and p99 against the subscriber count per rate and
// filter mode.
func latencyResults(opt latencyOptions, phases []phaseResult, machine string) report.Results {
	aggs := aggregatePhases(opt, phases)
	r := report.Results{Workload: "latency", Machine: machine, Targets: latencyTargets(opt, aggs)}

	// Distributions without a filter when that mode ran (every subscriber
	// gets every row), else with eq.
	mode := opt.modes[0]
	distTitle := fmt.Sprintf("Commit-to-client latency at %s rows/s (%s)", stats.Group(distributionRate), mode.label())
	for _, a := range aggs {
		if a.rate != distributionRate || (a.subs > 0 && a.mode != mode) {
			continue
		}
		r.Series = append(r.Series, report.LatencySeries(&a.hist, "latency-distribution", distTitle, a.receiver()))
	}

	for _, rate := range opt.rates {
		for _, m := range opt.modes {
			s := report.Series{Chart: "latency-p99", Title: "walcast p99 commit-to-client latency by subscriber count",
				XLabel: "subscribers", YLabel: "p99 latency (ms)", LogX: true,
				Name: fmt.Sprintf("%s rows/s, %s", stats.Group(float64(rate)), m.label())}
			for _, n := range slices.Sorted(slices.Values(opt.subs)) {
				i := slices.IndexFunc(aggs, func(a *aggregate) bool { return a.spec() == phaseSpec{rate: rate, subs: n, mode: m} })
				if i < 0 || aggs[i].deliveredNone() {
					continue // over the delivery cap, or no figure
				}
				s.X = append(s.X, float64(n))
				s.Y = append(s.Y, float64(aggs[i].hist.Quantile(0.99))/1000)
			}
			if len(s.X) > 0 {
				r.Series = append(r.Series, s)
			}
		}
	}
	return r
}
