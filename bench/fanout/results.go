package fanout

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// fanoutCell is one system at one subscriber count, over the runs.
type fanoutCell struct {
	system   string
	coalesce time.Duration    // write batching of the system; 0: none or the default
	perCPU   []float64        // deliveries per server CPU-s, by run
	userPerM []float64        // user-space server CPU-s per 1M deliveries, by run
	sysPerM  []float64        // kernel server CPU-s per 1M deliveries, by run
	hist     *stats.Histogram // latencies of every run
	lost     int64
	received int64 // deliveries to subscribers in the windows of every run
}

func (c *fanoutCell) medianPerCPU() float64 { return stats.Median(c.perCPU) }

// perCPUText is the median, with the range when there are several runs.
func (c *fanoutCell) perCPUText() string {
	if len(c.perCPU) < 2 {
		return stats.Group(c.medianPerCPU())
	}
	return fmt.Sprintf("%s (%s–%s)", stats.Group(c.medianPerCPU()), stats.Group(slices.Min(c.perCPU)), stats.Group(slices.Max(c.perCPU)))
}

// fanoutComparison is walcast, walcast with write batching and the peer
// at one subscriber count.
type fanoutComparison struct {
	subs, rate int
	walcast    *fanoutCell
	batched    *fanoutCell // nil with --coalesced 0
	peer       *fanoutCell // nil with --peer none
	peerProto  *fanoutCell // the peer speaking protobuf; nil with --peer-protobuf=false
}

// perCPURatio is cell's deliveries per server CPU-s over the peer's.
func perCPURatio(cell, peer *fanoutCell) float64 {
	if cell == nil || peer == nil || peer.medianPerCPU() <= 0 {
		return 0
	}
	return cell.medianPerCPU() / peer.medianPerCPU()
}

// beatsPeer is the target: at least twice the peer's deliveries per server
// CPU-s with a p99 no worse.
func beatsPeer(cell, peer *fanoutCell) bool {
	return perCPURatio(cell, peer) >= 2 && cell.hist.Quantile(0.99) <= peer.hist.Quantile(0.99)
}

// The systems' cells in chart order: the batched system comes last so
// that walcast and the peer keep their colours whether or not it ran.
const (
	cellWalcast = iota
	cellPeer
	cellBatched
	cellPeerProto
	cellKinds
)

func (c fanoutComparison) cell(k int) *fanoutCell {
	switch k {
	case cellWalcast:
		return c.walcast
	case cellPeer:
		return c.peer
	case cellPeerProto:
		return c.peerProto
	}
	return c.batched
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
		switch {
		case r.coalesce > 0:
			cell = &out[i].batched
		case r.system == "walcast":
			cell = &out[i].walcast
		case strings.HasSuffix(r.system, harness.ProtobufSuffix):
			cell = &out[i].peerProto
		}
		if *cell == nil {
			*cell = &fanoutCell{system: r.system, coalesce: r.coalesce, hist: &stats.Histogram{}}
		}
		(*cell).perCPU = append((*cell).perCPU, r.perCPUSecond())
		(*cell).userPerM = append((*cell).userPerM, r.cpuPerMillion()-r.kernelPerMillion())
		(*cell).sysPerM = append((*cell).sysPerM, r.kernelPerMillion())
		(*cell).hist.Merge(r.hist)
		(*cell).lost += r.lost()
		(*cell).received += r.received
	}
	return out
}

// fanoutResults is what --json writes: per subscriber count, when the peer
// ran in the same run (targets are checked only against figures of the
// same run), walcast with its defaults against the peer, and
// walcast with write batching against the peer; deliveries per server
// CPU-s by subscriber count; and the latency distributions at the count
// nearest 1,000.
func fanoutResults(opt fanoutOptions, rows []fanoutRow, env harness.RoomBenchEnv) report.Results {
	res := report.Results{Workload: "fanout", Machine: env.Machine}
	cmp := fanoutCompare(rows)
	for _, c := range cmp {
		load := fmt.Sprintf("Fan-out, %s subscribers × %d msg/s", stats.Group(float64(c.subs)), c.rate)
		if c.peer == nil || c.walcast == nil {
			continue
		}
		res.Targets = append(res.Targets, fanoutTarget(
			fmt.Sprintf("%s: walcast / %s deliveries per server CPU-s", load, c.peer.system), c.walcast, c.peer))
		if c.peerProto != nil {
			res.Targets = append(res.Targets, fanoutTarget(
				fmt.Sprintf("%s: walcast / %s deliveries per server CPU-s", load, c.peerProto.system), c.walcast, c.peerProto))
		}
		if c.batched != nil {
			// The default target stays the like-for-like one: OSS
			// Centrifugo writes every message at once.
			res.Targets = append(res.Targets, fanoutTarget(
				fmt.Sprintf("%s: walcast with %s / %s deliveries per server CPU-s (batching on; OSS Centrifugo cannot batch)",
					load, harness.BatchingText(c.batched.coalesce), c.peer.system), c.batched, c.peer))
		}
	}

	res.Series = fanoutSeries(cmp, opt.payload)
	for i := range res.Series {
		res.Series[i].Caption = fanoutCaption(opt, env)
	}
	return res
}

// fanoutCaption is what the fan-out charts must say so as not to mislead:
// the machine, and which settings each line runs with.
func fanoutCaption(opt fanoutOptions, env harness.RoomBenchEnv) string {
	c := report.LoopbackCaption(runtime.NumCPU()) + " walcast on its defaults (no write batching)"
	if opt.systems.Coalesced > 0 {
		c += fmt.Sprintf("; %q has write batching on, which OSS Centrifugo cannot do", harness.CoalescedName(opt.systems.Coalesced))
	}
	if env.Peer != nil {
		c += fmt.Sprintf("; %s on its defaults, JSON clients (\"protobuf\": its protobuf clients)", env.Peer.Name)
	}
	return c + "."
}

// fanoutTarget is cell against the peer: at least twice its deliveries per
// server CPU-s, p99 no worse.
func fanoutTarget(name string, cell, peer *fanoutCell) report.Target {
	ratio := perCPURatio(cell, peer)
	p99, peerP99 := cell.hist.Quantile(0.99), peer.hist.Quantile(0.99)
	t := report.Target{
		Name: name,
		Goal: "≥ 2.00, p99 no worse",
		Measured: fmt.Sprintf("%.2f (%s vs %s per CPU-s); p99 %s vs %s ms",
			ratio, stats.Group(cell.medianPerCPU()), stats.Group(peer.medianPerCPU()), stats.Ms(p99), stats.Ms(peerP99)),
		Ratio: ratio,
		Met:   beatsPeer(cell, peer),
	}
	var why []string
	if ratio < 2 {
		why = append(why, "deliveries per server CPU-s below 2×")
	}
	if p99 > peerP99 {
		why = append(why, "p99 above "+peer.system+"'s")
	}
	for _, c := range []*fanoutCell{cell, peer} {
		if c.lost != 0 {
			why = append(why, fmt.Sprintf("%s lost %d deliveries", c.system, c.lost))
		}
	}
	t.Note = strings.Join(why, "; ")
	return t
}

// fanoutSeries draws, for each system, deliveries per server CPU-s by
// subscriber count, and the latency distribution at the count nearest
// 1,000.
func fanoutSeries(cmp []fanoutComparison, payload int) []report.Series {
	if len(cmp) == 0 {
		return nil
	}
	near := cmp[0]
	for _, c := range cmp[1:] {
		if distance(c.subs, 1000) < distance(near.subs, 1000) {
			near = c
		}
	}
	var series []report.Series
	for k := range cellKinds {
		s := report.Series{Chart: "fanout-throughput", Title: "Broadcast fan-out: deliveries per server CPU-second",
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
			title := fmt.Sprintf("Broadcast fan-out latency, %s subscribers × %d msg/s, %d-byte payload", stats.Group(float64(near.subs)), near.rate, payload)
			series = append(series, report.LatencySeries(cell.hist, "fanout-latency", title, cell.system))
		}
	}
	return series
}

func distance(a, b int) int {
	if a < b {
		return b - a
	}
	return a - b
}
