package main

import (
	"fmt"
	"slices"
	"strings"
)

// fanoutCell is one system at one subscriber count, over the runs.
type fanoutCell struct {
	system string
	perCPU []float64  // deliveries per server CPU-s, by run
	hist   *histogram // latencies of every run
	lost   int64
}

func (c *fanoutCell) medianPerCPU() float64 { return medianOfRuns(c.perCPU) }

// perCPUText is the median, with the range when there are several runs.
func (c *fanoutCell) perCPUText() string {
	if len(c.perCPU) < 2 {
		return group(c.medianPerCPU())
	}
	return fmt.Sprintf("%s (%s–%s)", group(c.medianPerCPU()), group(slices.Min(c.perCPU)), group(slices.Max(c.perCPU)))
}

// fanoutComparison is walcast and the peer at one subscriber count.
type fanoutComparison struct {
	subs, rate    int
	walcast, peer *fanoutCell // peer nil with --peer none
}

// ratio is walcast's deliveries per server CPU-s over the peer's.
func (c fanoutComparison) ratio() float64 {
	if c.peer == nil || c.peer.medianPerCPU() <= 0 {
		return 0
	}
	return c.walcast.medianPerCPU() / c.peer.medianPerCPU()
}

// met is the target: at least twice the deliveries per server CPU-s with a
// p99 no worse.
func (c fanoutComparison) met() bool {
	return c.ratio() >= 2 && c.walcast.hist.quantile(0.99) <= c.peer.hist.quantile(0.99)
}

// cell is walcast's (k = 0) or the peer's (k = 1) cell.
func (c fanoutComparison) cell(k int) *fanoutCell {
	if k == 0 {
		return c.walcast
	}
	return c.peer
}

// fanoutCompare groups rows by subscriber count and rate, in the order
// they ran.
func fanoutCompare(rows []fanoutRow) []fanoutComparison {
	var out []fanoutComparison
	type load struct{ subs, rate int }
	at := map[load]int{} // index in out
	for _, r := range rows {
		i, ok := at[load{r.subs, r.rate}]
		if !ok {
			i = len(out)
			at[load{r.subs, r.rate}] = i
			out = append(out, fanoutComparison{subs: r.subs, rate: r.rate})
		}
		cell := &out[i].peer
		if r.system == "walcast" {
			cell = &out[i].walcast
		}
		if *cell == nil {
			*cell = &fanoutCell{system: r.system, hist: &histogram{}}
		}
		(*cell).perCPU = append((*cell).perCPU, r.perCPUSecond())
		(*cell).hist.merge(r.hist)
		(*cell).lost += r.lost()
	}
	return out
}

// fanoutResults is what --json writes: a target per subscriber count
// (when there is a peer), deliveries per server CPU-s by subscriber count,
// and the latency distributions at the count nearest 1,000.
func fanoutResults(opt fanoutOptions, rows []fanoutRow, env roomBenchEnv) Results {
	res := Results{Workload: "fanout", Machine: env.machine}
	cmp := fanoutCompare(rows)
	for _, c := range cmp {
		if c.peer == nil {
			continue
		}
		wp99, pp99 := c.walcast.hist.quantile(0.99), c.peer.hist.quantile(0.99)
		t := Target{
			Name: fmt.Sprintf("Fan-out, %s subscribers × %d msg/s: walcast / %s deliveries per server CPU-s", group(float64(c.subs)), c.rate, c.peer.system),
			Goal: "≥ 2.00, p99 no worse",
			Measured: fmt.Sprintf("%.2f (%s vs %s per CPU-s); p99 %s vs %s ms",
				c.ratio(), group(c.walcast.medianPerCPU()), group(c.peer.medianPerCPU()), ms(wp99), ms(pp99)),
			Ratio: c.ratio(),
			Met:   c.met(),
		}
		var why []string
		if c.ratio() < 2 {
			why = append(why, "deliveries per server CPU-s below 2×")
		}
		if wp99 > pp99 {
			why = append(why, "p99 above "+c.peer.system+"'s")
		}
		for _, cell := range []*fanoutCell{c.walcast, c.peer} {
			if cell.lost != 0 {
				why = append(why, fmt.Sprintf("%s lost %d deliveries", cell.system, cell.lost))
			}
		}
		t.Note = strings.Join(why, "; ")
		res.Targets = append(res.Targets, t)
	}

	res.Series = fanoutSeries(cmp, opt.payload)
	return res
}

// fanoutSeries draws, for each system, deliveries per server CPU-s by
// subscriber count, and the latency distribution at the count nearest
// 1,000.
func fanoutSeries(cmp []fanoutComparison, payload int) []Series {
	if len(cmp) == 0 {
		return nil
	}
	near := cmp[0]
	for _, c := range cmp[1:] {
		if distance(c.subs, 1000) < distance(near.subs, 1000) {
			near = c
		}
	}
	var series []Series
	for k := range 2 { // walcast, then the peer
		s := Series{Chart: "fanout-throughput", Title: "Broadcast fan-out: deliveries per server CPU-second",
			XLabel: "subscribers", YLabel: "deliveries per server CPU-second", LogX: true}
		for _, c := range cmp {
			if cell := c.cell(k); cell != nil {
				s.Name = cell.system
				s.X = append(s.X, float64(c.subs))
				s.Y = append(s.Y, cell.medianPerCPU())
			}
		}
		if s.Name != "" {
			series = append(series, s)
		}
		if cell := near.cell(k); cell != nil {
			title := fmt.Sprintf("Broadcast fan-out latency, %s subscribers × %d msg/s, %d-byte payload", group(float64(near.subs)), near.rate, payload)
			series = append(series, latencySeries(cell.hist, "fanout-latency", title, cell.system))
		}
	}
	return series
}

// medianOfRuns is the middle value of vs (the mean of the two middle ones
// for an even count), or 0 for none.
func medianOfRuns(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func distance(a, b int) int {
	if a < b {
		return b - a
	}
	return a - b
}
