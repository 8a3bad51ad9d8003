package fanout

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

func (r fanoutRow) secs() float64 { return r.measure.Seconds() }

// serverDeliveries counts the deliveries to subscribers, the same way for
// both servers. walcast's publishers are room members and also get the
// others' broadcasts (self:false spares only their own); Centrifugo's
// publishers are not subscribed. Those extra writes of walcast's are in
// its CPU but are not credited to it.
func (r fanoutRow) serverDeliveries() int64 { return r.received }

func (r fanoutRow) perCPUSecond() float64 {
	if r.serverCPU <= 0 {
		return 0
	}
	return float64(r.serverDeliveries()) / r.serverCPU.Seconds()
}

func (r fanoutRow) cpuPerMillion() float64 {
	if r.serverDeliveries() == 0 {
		return 0
	}
	return r.serverCPU.Seconds() / (float64(r.serverDeliveries()) / 1e6)
}

// kernelPerMillion is the kernel's part of cpuPerMillion (stime).
func (r fanoutRow) kernelPerMillion() float64 {
	if r.serverDeliveries() == 0 {
		return 0
	}
	return r.serverSys.Seconds() / (float64(r.serverDeliveries()) / 1e6)
}

func (r fanoutRow) Other() float64 {
	return max(0, r.machine-(r.serverCPU+r.loadCPU).Seconds()/r.secs())
}

func (r fanoutRow) lost() int64 { return r.sent*int64(r.subs) - r.received }

func (r fanoutRow) line() string {
	return fmt.Sprintf("fanout run %d, %s: %d subscribers, %d publisher(s): %.0f msg/s published, %s deliveries/s, lost %d, p50 %s ms, p99 %s ms, server %.2f cores, %s deliveries per server CPU-s",
		r.run, r.system, r.subs, r.publishers, float64(r.sent)/r.secs(), stats.Group(float64(r.received)/r.secs()), r.lost(),
		stats.Ms(r.hist.Quantile(0.5)), stats.Ms(r.hist.Quantile(0.99)), r.serverCPU.Seconds()/r.secs(), stats.Group(r.perCPUSecond()))
}

func writeFanoutReport(w io.Writer, opt fanoutOptions, rows []fanoutRow, env harness.RoomBenchEnv) {
	fmt.Fprintf(w, "## Broadcast fan-out\n\n### Method\n\n")
	fmt.Fprintf(w, "walcast serve (its own process, default limits, log level warn) with one room; subscribers join with vsn %s and self:false; "+
		"publishers are vsn 2.0.0 sockets in the room sending binary kind-3 broadcasts (what realtime-js sends). ", opt.vsn)
	order := "walcast"
	if opt.systems.Coalesced > 0 {
		order = fmt.Sprintf("walcast, then %q", harness.CoalescedName(opt.systems.Coalesced))
		fmt.Fprintf(w, "%q is walcast serve with --write-coalesce %s: frames queued for a connection within %s of its last write wait and go out together in one write, "+
			"which holds a delivery back by at most %[3]s; walcast's default does not batch (--write-coalesce 0) and OSS Centrifugo cannot "+
			"(client.write_delay is PRO-only), so the plain walcast rows are the like-for-like comparison. ",
			harness.CoalescedName(opt.systems.Coalesced), opt.systems.Coalesced, harness.MsText(opt.systems.Coalesced))
	}
	if env.Peer != nil {
		fmt.Fprintf(w, "%s (its own process, memory engine, log level error): subscribers connect and subscribe to one channel with the JSON protocol "+
			"and answer the server's pings; publishers are sockets that connect without subscribing and send client-side publish commands over the same WebSocket "+
			"(like for like with walcast's publishers; not the HTTP API); the %[1]s, protobuf rows are the same server with subscribers and publishers speaking its protobuf protocol "+
			"(subprotocol centrifuge-protobuf, encoded with github.com/centrifugal/protocol, the version it is built with). Centrifugo adds the publisher's client info to each publication and answers each publish with a reply. "+
			"Each subscriber count runs %s, then %s (JSON, then protobuf when its rows ran), each on a fresh server. ", env.Peer.Name, order, env.Peer.Name)
	}
	if env.Peer == nil && opt.systems.Coalesced > 0 {
		fmt.Fprintf(w, "Each subscriber count runs %s, each on a fresh server. ", order)
	}
	fmt.Fprintf(w, "Subscribers run in load processes bound to 127.0.0.2+ (one per 2,500 subscribers); publishers in this process, as many for every server, "+
		"at most %d msg/s each, sending %d-byte JSON payloads carrying their send time. Latency is receipt minus send time, inside the subscriber processes. "+
		"%s warm-up, %s measured per row. "+
		"Deliveries per server CPU-s: deliveries to subscribers within the window ÷ the server process's utime+stime over it, counted the same way for both servers. "+
		"Targets compare walcast with the peer of the same run only (≥ 2× its deliveries per server CPU-s, p99 no worse); figures from elsewhere are context below. "+
		"Code: bench/fanout (phase.go runs a row, publish.go the publishers, load.go the subscriber processes, results.go the targets), bench/harness (servers, clients).\n\n",
		opt.perPublisher, opt.payload, opt.warmup, opt.measure)
	harness.WritePeerSetup(w, env.Peer)
	fmt.Fprintln(w, "| run | system | subscribers | publishers | published msg/s | deliveries/s | lost | p50 ms | p99 ms | max ms | server cores | server CPU-s per 1M deliveries | of which kernel | deliveries per server CPU-s | load cores | machine cores | other cores | server RSS MB | slow-consumer closes |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		slow := "—"
		if r.slowCloses >= 0 {
			slow = fmt.Sprint(r.slowCloses)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %d | %.0f | %s | %d | %s | %s | %s | %.2f | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.0f | %s |\n",
			r.run, r.system, stats.Group(float64(r.subs)), r.publishers, float64(r.sent)/r.secs(), stats.Group(float64(r.received)/r.secs()),
			r.lost(), stats.Ms(r.hist.Quantile(0.5)), stats.Ms(r.hist.Quantile(0.99)), stats.Ms(r.hist.Max),
			r.serverCPU.Seconds()/r.secs(), r.cpuPerMillion(), r.kernelPerMillion(), stats.Group(r.perCPUSecond()),
			r.loadCPU.Seconds()/r.secs(), r.machine, r.Other(), r.rssMB, slow)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "deliveries/s and lost count the subscribers only (lost = published × subscribers − received, within the window). "+
		"Server CPU (utime+stime from /proc/<pid>/stat over the window; of which kernel: stime) is divided by the deliveries to subscribers, for both servers alike. "+
		"walcast's publishers are room members and also get the others' broadcasts (self:false spares only their own); Centrifugo's publishers are not subscribed. "+
		"Those extra writes are in walcast's CPU and are not credited to it. "+
		"Load cores: this process (publishers) plus the subscriber processes. "+
		"Machine cores come from /proc/stat, which the kernel samples at each tick and which can read below the per-process times; "+
		"other cores is what it shows beyond server and load (Postgres, other programs): a high value means the row was disturbed. "+
		"Slow-consumer closes come from walcast's log; Centrifugo logs them below level error (—), its closed sockets show as notes.")
	var notes, connects []string
	for _, r := range rows {
		connects = append(connects, fmt.Sprintf("%s %s in %.1f s", r.system, stats.Group(float64(r.subs)), r.connect.Seconds()))
	}
	notes = append(notes, "connecting and joining the subscribers and publishers, by row: "+strings.Join(connects, ", ")+".")
	for _, r := range rows {
		if r.lostConns > 0 {
			notes = append(notes, fmt.Sprintf("run %d, %s, %d subscribers: %d subscriber sockets ended before the report (%s).", r.run, r.system, r.subs, r.lostConns, r.lostExample))
		}
		if r.hist.Neg > 0 {
			notes = append(notes, fmt.Sprintf("run %d, %s, %d subscribers: %d deliveries arrived before their send time (clock), counted as 0.", r.run, r.system, r.subs, r.hist.Neg))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
	fmt.Fprintln(w)
	cmp := fanoutCompare(rows)
	writeFanoutComparison(w, cmp, env.Peer)
	writeFanoutCPUSplit(w, cmp, env.Peer)
	fmt.Fprintln(w, "Context, not targets: earlier peer figures, measured with other methods and not in this run, so no target is checked against them "+
		"(source: the project's reference notes, anchors.md §0, §10, §11.4, outside this repository):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| system | setup | deliveries/s | p50 ms | p99 ms | deliveries per server CPU-s |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	fmt.Fprintln(w, "| Centrifugo v6.9.1, this machine | 500 subscribers × 120 pub/s (HTTP API), in-process load client, unpinned | 60,055 | 9.5 | 22.8 | ≈70,000 (setup included) |")
	fmt.Fprintln(w, "| Centrifugo v6.9.1, this machine | 5,000 subscribers × 5 pub/s (client-bound) | 23,004 | 172.8 | 438.2 | ≈39,000 (setup of 5k connections included) |")
	fmt.Fprintln(w, "| Supabase Realtime, published | 32,000 users on a 2–6 node cluster | 224,000 | 6 | 213 (p95 28) | — |")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %s.\n", env.Machine, env.Context)
}

// writeFanoutComparison writes walcast (and walcast with write batching,
// when it ran) against the peer per subscriber count: medians over the
// runs of deliveries per server CPU-s, latency from the runs' merged
// histograms.
func writeFanoutComparison(w io.Writer, cmp []fanoutComparison, peer *harness.CentrifugoPeer) {
	if peer == nil {
		return
	}
	type side struct {
		name string
		cell func(c fanoutComparison) *fanoutCell
	}
	ours := []side{{"walcast", func(c fanoutComparison) *fanoutCell { return c.walcast }}}
	batched := "" // the batched system's name, when it ran
	for _, c := range cmp {
		if c.batched != nil {
			batched = c.batched.system
		}
	}
	if batched != "" {
		ours = append(ours, side{batched, func(c fanoutComparison) *fanoutCell { return c.batched }})
	}
	all := append(slices.Clone(ours), side{peer.Name, func(c fanoutComparison) *fanoutCell { return c.peer }})
	protobuf := "" // the protobuf peer's name, when it ran
	for _, c := range cmp {
		if c.peerProto != nil {
			protobuf = c.peerProto.system
		}
	}
	if protobuf != "" {
		all = append(all, side{protobuf, func(c fanoutComparison) *fanoutCell { return c.peerProto }})
	}

	// Columns by measure, each for walcast, the batched system (and the peer).
	type column struct {
		head, align string
		text        func(c fanoutComparison) string
	}
	var cols []column
	add := func(sides []side, head, align string, text func(cell, peer *fanoutCell) string) {
		for _, sd := range sides {
			cols = append(cols, column{fmt.Sprintf(head, sd.name), align, func(c fanoutComparison) string {
				if cell := sd.cell(c); cell != nil {
					return text(cell, c.peer)
				}
				return "—"
			}})
		}
	}
	add(all, "%s deliveries per server CPU-s", "---:", func(cell, _ *fanoutCell) string { return cell.perCPUText() })
	add(ours, "%s ÷ "+peer.Name, "---:", func(cell, peer *fanoutCell) string { return fmt.Sprintf("%.2f", perCPURatio(cell, peer)) })
	if protobuf != "" {
		cols = append(cols, column{"walcast ÷ " + protobuf, "---:", func(c fanoutComparison) string {
			if c.walcast == nil || c.peerProto == nil {
				return "—"
			}
			return fmt.Sprintf("%.2f", perCPURatio(c.walcast, c.peerProto))
		}})
	}
	add(all, "%s p50 ms", "---:", func(cell, _ *fanoutCell) string { return stats.Ms(cell.hist.Quantile(0.5)) })
	add(all, "%s p99 ms", "---:", func(cell, _ *fanoutCell) string { return stats.Ms(cell.hist.Quantile(0.99)) })
	add(ours, "target met, %s", "---", func(cell, peer *fanoutCell) string { return metText(beatsPeer(cell, peer)) })

	fmt.Fprintf(w, "walcast against %s (target: ≥ 2× its deliveries per server CPU-s, p99 no worse", peer.Name)
	if batched != "" {
		fmt.Fprintf(w, "; the target that counts is plain walcast's, writing per message like OSS %s; %q runs beside it", peer.Name, batched)
	}
	fmt.Fprint(w, "):\n\n| subscribers | msg/s | runs |")
	align := "|---:|---:|---:|"
	for _, col := range cols {
		fmt.Fprintf(w, " %s |", col.head)
		align += col.align + "|"
	}
	fmt.Fprintf(w, "\n%s\n", align)
	for _, c := range cmp {
		if c.peer == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %d |", stats.Group(float64(c.subs)), c.rate, len(c.walcast.perCPU))
		for _, col := range cols {
			fmt.Fprintf(w, " %s |", col.text(c))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func metText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
