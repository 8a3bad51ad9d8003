package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

func (r fanoutRow) secs() float64 { return r.measure.Seconds() }

// serverDeliveries counts every socket the server wrote a measured
// broadcast to: the subscribers and the other publishers (a publisher
// joined with self:false gets the others' messages).
func (r fanoutRow) serverDeliveries() int64 { return r.received + r.pubReceived }

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

func (r fanoutRow) other() float64 {
	return max(0, r.machine-(r.serverCPU+r.loadCPU).Seconds()/r.secs())
}

func (r fanoutRow) line() string {
	return fmt.Sprintf("fanout run %d: %d subscribers, %d publisher(s): %.0f msg/s published, %s deliveries/s, lost %d, p50 %s ms, p99 %s ms, server %.2f cores, %s deliveries per server CPU-s",
		r.run, r.subs, r.publishers, float64(r.sent)/r.secs(), group(float64(r.received)/r.secs()), r.sent*int64(r.subs)-r.received,
		ms(r.hist.quantile(0.5)), ms(r.hist.quantile(0.99)), r.serverCPU.Seconds()/r.secs(), group(r.perCPUSecond()))
}

func writeFanoutReport(w io.Writer, opt fanoutOptions, rows []fanoutRow, context string) {
	fmt.Fprintf(w, "## Broadcast fan-out\n\n")
	fmt.Fprintf(w, "walcast serve (its own process, default limits, log level warn) with one room; subscribers join with vsn %s and self:false from %s; "+
		"publishers are vsn 2.0.0 sockets in the room sending binary kind-3 broadcasts (what realtime-js sends) of %d-byte JSON payloads "+
		"carrying their send time, at most %d msg/s each. Latency is receipt minus send time, inside the subscriber processes. "+
		"%s warm-up, %s measured per row; each row runs on a fresh server.\n\n",
		opt.vsn, "load processes bound to 127.0.0.2+ (one per 2,500 subscribers)", opt.payload, opt.perPublisher, opt.warmup, opt.measure)
	fmt.Fprintln(w, "| run | subscribers | publishers | published msg/s | deliveries/s | lost | p50 ms | p99 ms | max ms | server cores | server CPU-s per 1M deliveries | deliveries per server CPU-s | load cores | machine cores | other cores | server RSS MB | slow-consumer closes |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %s | %d | %.0f | %s | %d | %s | %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.0f | %d |\n",
			r.run, group(float64(r.subs)), r.publishers, float64(r.sent)/r.secs(), group(float64(r.received)/r.secs()),
			r.sent*int64(r.subs)-r.received, ms(r.hist.quantile(0.5)), ms(r.hist.quantile(0.99)), ms(r.hist.max),
			r.serverCPU.Seconds()/r.secs(), r.cpuPerMillion(), group(r.perCPUSecond()),
			r.loadCPU.Seconds()/r.secs(), r.machine, r.other(), r.rssMB, r.slowCloses)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "deliveries/s and lost count the subscribers only (lost = published × subscribers − received, within the window). "+
		"Server CPU (utime+stime from /proc/<pid>/stat over the window) is divided by every delivery the server made, "+
		"including those to the other publishers. Load cores: this process (publishers) plus the subscriber processes. "+
		"Machine cores come from /proc/stat, which the kernel samples at each tick and which can read below the per-process times; "+
		"other cores is what it shows beyond server and load (Postgres, other programs): a high value means the row was disturbed.")
	var notes, connects []string
	for _, r := range rows {
		connects = append(connects, fmt.Sprintf("%s in %.1f s", group(float64(r.subs)), r.connect.Seconds()))
	}
	notes = append(notes, "connecting and joining the subscribers and publishers, by row: "+strings.Join(connects, ", ")+".")
	for _, r := range rows {
		if r.lostConns > 0 {
			notes = append(notes, fmt.Sprintf("run %d, %d subscribers: %d subscriber sockets ended before the report.", r.run, r.subs, r.lostConns))
		}
		if r.hist.neg > 0 {
			notes = append(notes, fmt.Sprintf("run %d, %d subscribers: %d deliveries arrived before their send time (clock), counted as 0.", r.run, r.subs, r.hist.neg))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Peer anchors (not run here by this command; /work/shared/reference/anchors.md §0, §10, §11.4):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| system | setup | deliveries/s | p50 ms | p99 ms | deliveries per server CPU-s |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	fmt.Fprintln(w, "| Centrifugo v6.9.1, this machine | 500 subscribers × 120 pub/s, in-process load client, unpinned | 60,055 | 9.5 | 22.8 | ≈70,000 (setup included) |")
	fmt.Fprintln(w, "| Centrifugo v6.9.1, this machine | 5,000 subscribers × 5 pub/s (client-bound) | 23,004 | 172.8 | 438.2 | ≈39,000 (setup of 5k connections included) |")
	fmt.Fprintln(w, "| Supabase Realtime, published | 32,000 users on a 2–6 node cluster | 224,000 | 6 | 213 (p95 28) | — |")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Machine: %d cores, %s/%s, %s; %s.\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), context)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
