package mixed

import (
	"fmt"
	"io"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// The goals of every case against single eq filters on one table, in the
// same run and with the same deliveries: walcast's CPU per delivery at
// most 1.5 times, p99 at most twice.
const (
	cpuGoal = 1.5
	p99Goal = 2.0
)

// mixedMethod says how the figures are made, so that a reader can check it
// against the code (mixed.go, cases.go, phase.go, client.go and bench/pgchanges).
const mixedMethod = `### Method

Four cases with the same subscriptions, rows and load (cases.go), measured in turn, their order rotating from run to run (mixed.go):

- eq filter, 1 table (the reference): subscription v binds INSERT on m_0 with filter sub=eq.v.
- mixed filters, 1 table: subscription v binds INSERT on m_0 with one of four combined filters by v mod 4: ` +
	"`sub=in.(v,v+subs),score=gte.0,status=neq.closed`; `sub=eq.v,region=neq.-1,score=lt.100`; `sub=gt.v-1,sub=lt.v+1,region=in.(0,...,6)`; `region=gt.-1,sub=in.(v),status=in.(open,held,done)`. " +
	`Each holds for exactly the rows with sub = v (region is 0–6, score 0–99, status open, held or done), so the deliveries are those of the eq case and only the finding and checking of subscriptions differs; walcast's filter index finds the in and eq shapes by their key on sub and the range shape (gt and lt) by its interval on sub.
- eq filter, N tables and mixed filters, N tables: the same filters, subscription v on table m_(v mod N), the tables alike (id, k, sub, region, score, status, sent_ns, payload); the rows go to the tables in turn, a transaction to one table.

Each measurement has a fresh walcast serve (256 MiB queue per connection) on a fresh slot and the subscriptions on WebSocket connections of --channels-per-conn channels (client.go, bench/pgchanges), a warm-up of 1,000 rows of another marker (at least one transaction per table), then the measured rows, inserted by one connection in transactions of --tx-rows at --rate rows/s (paced) (phase.go). ` +
	`Check: every subscription received exactly the rows planned for it and nothing else; a case that misses this has no figures.

Latency: a row's arrival at its subscriber minus sent_ns, the load generator's clock just before its transaction's INSERT was sent. CPU: walcast serve's process from before the first measured insert to the last delivery, per 1,000 deliveries. Figures per case are medians over the runs.`

// caseSummary is the runs of one case.
type caseSummary struct {
	report.Case
	cpu, p50, p99 float64 // medians over the runs that delivered every row; CPU-s per 1,000, ms
	misrouted     int64
	off           int
}

func summarize(ms []measurement, name string) caseSummary {
	s := caseSummary{Case: report.Case{Name: name}}
	var cpu, p50, p99 []float64
	for _, m := range ms {
		if m.name != name {
			continue
		}
		s.misrouted += m.misrouted
		s.off += m.offCount
		if !s.Add(m.deliveredAll(), func() string {
			return report.DeliveryFailure(m.run, m.delivered, m.rows, m.misrouted, m.offCount, "subscriptions", m.lost)
		}) {
			continue
		}
		cpu = append(cpu, m.cpuPer1k())
		p50 = append(p50, float64(m.hist.Quantile(0.5))/1000)
		p99 = append(p99, float64(m.hist.Quantile(0.99))/1000)
	}
	if s.Good > 0 {
		s.cpu, s.p50, s.p99 = stats.Median(cpu), stats.Median(p50), stats.Median(p99)
	}
	return s
}

// mixedReport is everything the report and its JSON results say.
type mixedReport struct {
	opt mixedOptions
	ms  []measurement
	env string
}

func (r mixedReport) summaries() []caseSummary {
	var ss []caseSummary
	for _, c := range cases(r.opt.tables) {
		ss = append(ss, summarize(r.ms, c.name))
	}
	return ss
}

func (r mixedReport) write(w io.Writer) {
	if r.opt.Quick {
		fmt.Fprint(w, "Quick run (smoke test): fewer rows and runs than the full run, figures not comparable to it.\n\n")
	}
	fmt.Fprintf(w, "%s\n\n%s\n\n", mixedMethod, r.env)
	fmt.Fprintf(w, "Load: %s subscriptions on %s connections, N = %d tables, %s rows per measurement in transactions of %d at %s rows/s, %d runs per case.\n\n",
		stats.Group(float64(r.opt.subs)), stats.Group(float64((r.opt.subs+r.opt.perConn-1)/r.opt.perConn)), r.opt.tables,
		stats.Group(float64(r.opt.Rows)), r.opt.TxRows, stats.Group(float64(r.opt.Rate)), r.opt.Runs)
	fmt.Fprintln(w, "| case | runs with every row | walcast CPU-s per 1,000 (median) | p50 ms | p99 ms | misrouted | subscriptions off their count |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, s := range r.summaries() {
		if s.Good == 0 {
			fmt.Fprintf(w, "| %s | 0 of %d | — | — | — | %d | %d |\n", s.Name, s.Runs, s.misrouted, s.off)
			continue
		}
		fmt.Fprintf(w, "| %s | %d of %d | %.3f | %.2f | %.2f | %d | %d |\n", s.Name, s.Good, s.Runs, s.cpu, s.p50, s.p99, s.misrouted, s.off)
	}
	fmt.Fprintln(w, "\nTargets (each case against eq filter, 1 table, of the same run):")
	fmt.Fprintln(w)
	report.WriteTargetTable(w, r.targets())
}

// targets: per case other than the reference, CPU per delivery and p99
// over the reference's. A case (or reference) with a run that missed rows
// gives no figure and meets no target.
func (r mixedReport) targets() []report.Target {
	ss := r.summaries()
	ref := ss[0]
	var ts []report.Target
	for _, s := range ss[1:] {
		cpu := report.Target{Name: fmt.Sprintf("Filters, %s subscriptions, %s: CPU per delivery / eq filter, 1 table", stats.Group(float64(r.opt.subs)), s.Name), Goal: fmt.Sprintf("≤ %.1f", cpuGoal)}
		p99 := report.Target{Name: fmt.Sprintf("Filters, %s subscriptions, %s: p99 / eq filter, 1 table", stats.Group(float64(r.opt.subs)), s.Name), Goal: fmt.Sprintf("≤ %.1f", p99Goal)}
		if why := report.Incomplete(ref.Case, s.Case); why != "" {
			cpu.Measured, p99.Measured = "no figure: "+why, "no figure: "+why
			ts = append(ts, cpu, p99)
			continue
		}
		if ref.cpu > 0 {
			cpu.Ratio = report.Round2(s.cpu / ref.cpu)
			cpu.Measured = fmt.Sprintf("%.2f (%.3f vs %.3f CPU-s per 1,000)", cpu.Ratio, s.cpu, ref.cpu)
			cpu.Met = cpu.Ratio <= cpuGoal
		} else {
			cpu.Measured = "no figure: the reference used no measurable CPU"
		}
		if ref.p99 > 0 {
			p99.Ratio = report.Round2(s.p99 / ref.p99)
			p99.Measured = fmt.Sprintf("%.2f (%.2f vs %.2f ms)", p99.Ratio, s.p99, ref.p99)
			p99.Met = p99.Ratio <= p99Goal
		} else {
			p99.Measured = "no figure: the reference p99 is 0"
		}
		ts = append(ts, cpu, p99)
	}
	return ts
}
