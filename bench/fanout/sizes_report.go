package fanout

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// sizeComparison is every system at one payload size.
type sizeComparison struct {
	size int
	fanoutComparison
}

// sizesCompare groups rows by payload size, in the order they ran.
func sizesCompare(rows []fanoutRow) []sizeComparison {
	var sizes []int
	for _, r := range rows {
		if !slices.Contains(sizes, r.payload) {
			sizes = append(sizes, r.payload)
		}
	}
	var out []sizeComparison
	for _, size := range sizes {
		of := slices.DeleteFunc(slices.Clone(rows), func(r fanoutRow) bool { return r.payload != size })
		for _, c := range fanoutCompare(of) { // one subscriber count and rate per size
			out = append(out, sizeComparison{size: size, fanoutComparison: c})
		}
	}
	return out
}

// sizesCells are the systems of c that ran, walcast first.
func (c sizeComparison) cells() []*fanoutCell {
	var cells []*fanoutCell
	for _, cell := range []*fanoutCell{c.walcast, c.peer, c.peerProto} {
		if cell != nil {
			cells = append(cells, cell)
		}
	}
	return cells
}

// beatsPeerAtSize is the sizes target: walcast at least the peer's
// deliveries per server CPU-s, p99 no worse, nothing lost, and both
// delivered something (a ratio of nothing is no figure).
func beatsPeerAtSize(cell, peer *fanoutCell) bool {
	return cell.received > 0 && peer.received > 0 && cell.lost == 0 && peer.lost == 0 &&
		perCPURatio(cell, peer) >= 1 && cell.hist.Quantile(0.99) <= peer.hist.Quantile(0.99)
}

// sizesResults is what --json writes: walcast against each peer system
// at each size, and deliveries per server CPU-s and p99 by size.
func sizesResults(rows []fanoutRow, env harness.RoomBenchEnv) report.Results {
	res := report.Results{Workload: "sizes", Machine: env.Machine}
	cmp := sizesCompare(rows)
	for _, c := range cmp {
		if c.walcast == nil {
			continue
		}
		for _, peer := range []*fanoutCell{c.peer, c.peerProto} {
			if peer == nil {
				continue
			}
			res.Targets = append(res.Targets, sizesTarget(c, peer))
		}
	}
	caption := report.LoopbackCaption(runtime.NumCPU())
	if len(cmp) > 0 {
		caption += fmt.Sprintf(" %s subscribers × %d msg/s at every size; 1 KB = 1,000 bytes.", stats.Group(float64(cmp[0].subs)), cmp[0].rate)
	}
	caption += " walcast on its defaults (no write batching)"
	if env.Peer != nil {
		caption += fmt.Sprintf(", %s on its defaults, with JSON and with protobuf clients", env.Peer.Name)
	}
	caption += ". Points without deliveries are left out."
	for k := range cellKinds {
		perCPU := report.Series{Chart: "sizes-throughput", Title: "Broadcast fan-out by payload size: deliveries per server CPU-second",
			XLabel: "payload (bytes)", YLabel: "deliveries per server CPU-second", LogX: true, Caption: caption}
		p99 := report.Series{Chart: "sizes-p99", Title: "Broadcast fan-out by payload size: p99 latency",
			XLabel: "payload (bytes)", YLabel: "p99 latency (ms)", LogX: true, Caption: caption}
		for _, c := range cmp {
			cell := c.cell(k)
			if cell == nil || cell.received == 0 {
				continue
			}
			perCPU.Name, p99.Name = cell.system, cell.system
			perCPU.X, p99.X = append(perCPU.X, float64(c.size)), append(p99.X, float64(c.size))
			perCPU.Y = append(perCPU.Y, cell.medianPerCPU())
			p99.Y = append(p99.Y, float64(cell.hist.Quantile(0.99))/1000)
		}
		if perCPU.Name != "" {
			res.Series = append(res.Series, perCPU, p99)
		}
	}
	return res
}

// sizesTarget is walcast against peer at one size.
func sizesTarget(c sizeComparison, peer *fanoutCell) report.Target {
	cell := c.walcast
	t := report.Target{
		Name: fmt.Sprintf("Fan-out, %s-byte payloads, %s subscribers × %d msg/s: walcast / %s deliveries per server CPU-s",
			stats.Group(float64(c.size)), stats.Group(float64(c.subs)), c.rate, peer.system),
		Goal: "≥ 1.00, p99 no worse",
		Met:  beatsPeerAtSize(cell, peer),
	}
	if cell.received == 0 || peer.received == 0 {
		t.Measured = "no figure: a system made no deliveries"
		t.Note = fmt.Sprintf("deliveries: walcast %d, %s %d", cell.received, peer.system, peer.received)
		return t
	}
	t.Ratio = perCPURatio(cell, peer)
	p99, peerP99 := cell.hist.Quantile(0.99), peer.hist.Quantile(0.99)
	t.Measured = fmt.Sprintf("%.2f (%s vs %s per CPU-s); p99 %s vs %s ms",
		t.Ratio, stats.Group(cell.medianPerCPU()), stats.Group(peer.medianPerCPU()), stats.Ms(p99), stats.Ms(peerP99))
	var why []string
	if t.Ratio < 1 {
		why = append(why, "fewer deliveries per server CPU-s than "+peer.system)
	}
	if p99 > peerP99 {
		why = append(why, "p99 above "+peer.system+"'s")
	}
	for _, x := range []*fanoutCell{cell, peer} {
		if x.lost != 0 {
			why = append(why, fmt.Sprintf("%s lost %d deliveries", x.system, x.lost))
		}
	}
	t.Note = strings.Join(why, "; ")
	return t
}

func writeSizesReport(w io.Writer, opt sizesOptions, rows []fanoutRow, env harness.RoomBenchEnv) {
	fmt.Fprintf(w, "## Broadcast fan-out by payload size\n\n### Method\n\n")
	fmt.Fprintf(w, "The fan-out phase of the fanout workload (bench/fanout: phase.go, publish.go, load.go) at %s subscribers × %d msg/s, once per payload size "+
		"(%s bytes; 1 KB = 1,000 bytes, so that the largest publish command fits Centrifugo's default message limit of 65,536 bytes and the peer stays on its defaults). "+
		"Each size runs walcast on its defaults (no write batching)", stats.Group(float64(opt.subs)), opt.rate, intsText(opt.sizes))
	if env.Peer != nil {
		fmt.Fprintf(w, ", then %s on its defaults with JSON clients, then with protobuf clients", env.Peer.Name)
	}
	fmt.Fprintf(w, ", each on a fresh server; %d run(s), medians over the runs, latency from the runs' merged samples. %s warm-up, %s measured. "+
		"Deliveries per server CPU-s: deliveries to subscribers within the window ÷ the server process's utime+stime over it. "+
		"A system that delivered nothing at a size has no figure there (—) and its target is missed. "+
		"Code: bench/fanout/sizes.go (the command), sizes_report.go (tables, targets, charts).\n\n", opt.runs, opt.warmup, opt.measure)
	harness.WritePeerSetup(w, env.Peer)
	cmp := sizesCompare(rows)
	fmt.Fprintln(w, "| payload bytes | system | runs | deliveries/s | MB/s to subscribers | deliveries per server CPU-s | walcast ÷ this | p50 ms | p99 ms | lost |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cmp {
		for _, cell := range c.cells() {
			runs := len(cell.perCPU)
			secs := opt.measure.Seconds() * float64(runs)
			if cell.received == 0 {
				fmt.Fprintf(w, "| %s | %s | %d | 0 | — | — | — | — | — | %d |\n", stats.Group(float64(c.size)), cell.system, runs, cell.lost)
				continue
			}
			ratio := "—"
			if cell != c.walcast && c.walcast != nil && c.walcast.received > 0 {
				ratio = fmt.Sprintf("%.2f", perCPURatio(c.walcast, cell))
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f | %s | %s | %s | %s | %d |\n",
				stats.Group(float64(c.size)), cell.system, runs, stats.Group(float64(cell.received)/secs),
				float64(cell.received)*float64(c.size)/secs/1e6, cell.perCPUText(), ratio,
				stats.Ms(cell.hist.Quantile(0.5)), stats.Ms(cell.hist.Quantile(0.99)), cell.lost)
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		if r.lostConns > 0 {
			fmt.Fprintf(w, "- run %d, %s, %s bytes: %d subscriber sockets ended before the report (%s).\n", r.run, r.system, stats.Group(float64(r.payload)), r.lostConns, r.lostExample)
		}
	}
	fmt.Fprintln(w, "Target at every size: walcast's deliveries per server CPU-s at least the peer's (JSON and protobuf clients each), p99 no worse, nothing lost.")
	fmt.Fprintln(w)
	report.WriteTargetTable(w, sizesResults(rows, env).Targets)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %s.\n", env.Machine, env.Context)
}

// intsText is "1,000, 4,000 and 16,000".
func intsText(v []int) string {
	var parts []string
	for _, n := range v {
		parts = append(parts, stats.Group(float64(n)))
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
