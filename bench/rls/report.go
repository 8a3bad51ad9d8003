package rls

import (
	"fmt"
	"io"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// The goals, RLS mode against the eq-filter mode of the same run: a
// delivery checked against the row policy costs less than twice the CPU
// (walcast and Postgres together) of one routed by an eq filter, and its
// p99 latency is at most three times as long (a check is a round trip to
// Postgres after the commit is visible).
const (
	cpuGoal = 2.0
	p99Goal = 3.0
)

// rlsMethod says how the figures are made, so that a reader can check it
// against the code (rls.go, phase.go, client.go and bench/pgchanges).
const rlsMethod = `### Method

Two modes, the same users, rows and load, alternating within the run (rls.go, phase.go):

- eq filter, no RLS: table notes_open; each user's channel has one INSERT binding on it with filter owner=eq.<user>.
- RLS policy, no filter: table notes_rls, the same columns with row-level security enabled and the policy FOR SELECT TO authenticated USING (owner = request.jwt.claim.sub); each user's channel binds INSERT on it without a filter, and walcast checks each change for each user's role and claims against Postgres before delivering it (batched per table and round, one query per claims group).

Each user is one WebSocket connection (client.go, bench/pgchanges) joining with its own token (role authenticated, sub = the user's number, signed with the server's secret) as access_token; row g belongs to user g mod users, so in both modes each row reaches exactly one user. ` +
	`Each measurement has a fresh walcast serve (256 MiB queue per connection, so no user is closed as slow) on a fresh slot, a warm-up of 1,000 rows of another marker, then the measured rows, inserted by one connection in transactions of --tx-rows at --rate rows/s (paced, not a burst). ` +
	`Check: every user received exactly its rows and none of another user's; a mode that misses this has no figures.

Latency: a row's arrival at its user minus sent_ns, the load generator's clock just before its transaction's INSERT was sent (so it includes the insert and commit, the same in both modes). ` +
	`CPU: walcast serve's process and every process of the cluster (the load's backend, the walsender, the row checks' backends) from before the first measured insert to the last delivery; the load's and walsender's share is the same in both modes. ` +
	`Deliveries per CPU-s = deliveries ÷ that CPU. Figures per mode are medians over the runs.`

// modeSummary is the runs of one mode.
type modeSummary struct {
	report.Case
	perCPU, p50, p99     float64 // medians over the runs that delivered every row; p in ms
	walcastCPU, pgCPU    float64 // median CPU-s per 1,000 deliveries
	slow, misrouted, off int64
	delivered, wanted    int64
}

func summarize(ms []measurement, name string) modeSummary {
	s := modeSummary{Case: report.Case{Name: name}}
	var perCPU, p50, p99, wc, pc []float64
	for _, m := range ms {
		if m.mode != name {
			continue
		}
		s.delivered += m.delivered
		s.wanted += int64(m.rows)
		s.misrouted += m.misrouted
		s.off += int64(m.offCount)
		s.slow += int64(m.slow)
		if !s.Add(m.deliveredAll(), func() string {
			return report.DeliveryFailure(m.run, m.delivered, m.rows, m.misrouted, m.offCount, "users", m.lost)
		}) {
			continue
		}
		perCPU = append(perCPU, m.perCPUSecond())
		p50 = append(p50, float64(m.hist.Quantile(0.5))/1000)
		p99 = append(p99, float64(m.hist.Quantile(0.99))/1000)
		wc = append(wc, m.serverCPU.Seconds()*1000/float64(m.delivered))
		pc = append(pc, m.pgCPU.Seconds()*1000/float64(m.delivered))
	}
	if s.Good > 0 {
		s.perCPU, s.p50, s.p99 = stats.Median(perCPU), stats.Median(p50), stats.Median(p99)
		s.walcastCPU, s.pgCPU = stats.Median(wc), stats.Median(pc)
	}
	return s
}

// rlsReport is everything the report and its JSON results say.
type rlsReport struct {
	opt rlsOptions
	ms  []measurement
	env string
}

func (r rlsReport) summaries() []modeSummary {
	var ss []modeSummary
	for _, md := range modes {
		ss = append(ss, summarize(r.ms, md.name))
	}
	return ss
}

func (r rlsReport) write(w io.Writer) {
	if r.opt.Quick {
		fmt.Fprint(w, "Quick run (smoke test): fewer rows and runs than the full run, figures not comparable to it.\n\n")
	}
	fmt.Fprintf(w, "%s\n\n%s\n\n", rlsMethod, r.env)
	fmt.Fprintf(w, "Load: %s users, %s rows per measurement in transactions of %d at %s rows/s, %d runs per mode.\n\n",
		stats.Group(float64(r.opt.users)), stats.Group(float64(r.opt.Rows)), r.opt.TxRows, stats.Group(float64(r.opt.Rate)), r.opt.Runs)
	fmt.Fprintln(w, "| mode | runs with every row | deliveries per CPU-s (median) | walcast CPU-s per 1,000 | postgres CPU-s per 1,000 | p50 ms | p99 ms | misrouted | users off their count | slow-consumer closes |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range r.summaries() {
		if s.Good == 0 {
			fmt.Fprintf(w, "| %s | 0 of %d | — | — | — | — | — | %d | %d | %d |\n", s.Name, s.Runs, s.misrouted, s.off, s.slow)
			continue
		}
		fmt.Fprintf(w, "| %s | %d of %d | %s | %.3f | %.3f | %.2f | %.2f | %d | %d | %d |\n", s.Name, s.Good, s.Runs, stats.Group(s.perCPU),
			s.walcastCPU, s.pgCPU, s.p50, s.p99, s.misrouted, s.off, s.slow)
	}
	fmt.Fprintln(w, "\nTargets (RLS mode against the eq-filter mode of the same run):")
	fmt.Fprintln(w)
	report.WriteTargetTable(w, r.targets())
}

// targets: CPU per delivery and p99, RLS over eq filter. A mode with a
// run that missed rows meets no target and gives no figure.
func (r rlsReport) targets() []report.Target {
	ss := r.summaries()
	ref, rls := ss[0], ss[1]
	cpu := report.Target{Name: fmt.Sprintf("RLS-checked delivery, %d users: CPU per delivery, RLS policy / eq filter", r.opt.users), Goal: fmt.Sprintf("< %.1f", cpuGoal)}
	p99 := report.Target{Name: fmt.Sprintf("RLS-checked delivery, %d users: p99 latency, RLS policy / eq filter", r.opt.users), Goal: fmt.Sprintf("≤ %.1f", p99Goal)}
	if why := report.Incomplete(ref.Case, rls.Case); why != "" {
		cpu.Measured, p99.Measured = "no figure: "+why, "no figure: "+why
		return []report.Target{cpu, p99}
	}
	// More CPU per delivery is fewer deliveries per CPU-s.
	cpu.Ratio = report.Round2(ref.perCPU / rls.perCPU)
	cpu.Measured = fmt.Sprintf("%.2f (%s vs %s deliveries per CPU-s)", cpu.Ratio, stats.Group(rls.perCPU), stats.Group(ref.perCPU))
	cpu.Met = cpu.Ratio < cpuGoal
	if ref.p99 > 0 {
		p99.Ratio = report.Round2(rls.p99 / ref.p99)
		p99.Measured = fmt.Sprintf("%.2f (%.2f vs %.2f ms)", p99.Ratio, rls.p99, ref.p99)
		p99.Met = p99.Ratio <= p99Goal
	} else {
		p99.Measured = "no figure: the eq-filter p99 is 0"
	}
	return []report.Target{cpu, p99}
}
