package sse

import (
	"fmt"
	"io"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// figure formats v, or "—" when there is none (v is 0).
func figure(v float64, format string) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

// latency is the quantile q of the commit-to-receive latency in ms, "—"
// without samples.
func (r fanRow) latency(q float64) string {
	h := r.t.histogram()
	if h.N == 0 {
		return "—"
	}
	return stats.Ms(h.Quantile(q))
}

func (r fanRow) line() string {
	return fmt.Sprintf("sse fan-out, %s: %d subscribers, %d rows: %d of %d deliveries (short %d, lost %d), server CPU %.2f s: %s per CPU-second, p50 %s ms, p99 %s ms",
		r.kind, r.subs, r.inserted, r.t.Received, r.inserted*int64(r.subs), r.t.Short, r.t.Lost, r.cpu.Seconds(), figure(r.perCPU(), "%.0f"), r.latency(0.5), r.latency(0.99))
}

func (r idleRow) line() string {
	return fmt.Sprintf("sse idle, %s: %d connections (lost %d): RSS %.1f → %.1f MB, %.1f KB/conn; GC after connecting %v; live heap %s",
		r.kind, r.n, r.lost, mb(r.rss0), mb(r.rss), r.kb(), r.gcAfterConnect, r.liveHeap())
}

func (r replayRow) line() string {
	return fmt.Sprintf("sse replay, %s: %d of %d changes (gaps %d, out of order %d) in %.2f s",
		r.kind, r.t.Received, r.window, r.t.Gaps, r.t.Disorder, r.took.Seconds())
}

// liveHeap is the live heap plus goroutine stacks at the collection RSS
// was read after, against the last one before connecting.
func (r idleRow) liveHeap() string {
	if !r.gcAfterConnect {
		return "no GC since connecting"
	}
	before, after := r.gcBase.HeapLiveMB+r.gcBase.Stacks, r.gcAfter.HeapLiveMB+r.gcAfter.Stacks
	return fmt.Sprintf("%d+%d → %d+%d MB (%.1f KB/conn)", r.gcBase.HeapLiveMB, r.gcBase.Stacks, r.gcAfter.HeapLiveMB, r.gcAfter.Stacks,
		float64(after-before)*1024/float64(r.n))
}

func writeReport(w io.Writer, opt options, res results) {
	fmt.Fprintf(w, "## SSE beside WebSocket\n\n")
	fmt.Fprintf(w, "walcast's Server-Sent Events feed (GET /realtime/v1/sse) and its WebSocket transport (the Supabase Realtime protocol, vsn 2.0.0), "+
		"both subscribed to postgres_changes INSERTs on one table, in the same run: each row is a fresh walcast serve, WebSocket first, then SSE.\n\n")
	fmt.Fprintf(w, "### Method\n\n")
	fmt.Fprintln(w, "- Code measured: transport/sse.go, transport/sse_stream.go and transport/feed.go (SSE: a hijacked stream run as a raw stream of internal/wsconn, fed by a feedSink), "+
		"transport/conn.go and internal/wsconn (WebSocket: channels over parked sockets); the workload is bench/sse.")
	fmt.Fprintf(w, "- Subscribers run in load processes (this binary re-executed) bound to 127.0.0.2+, so their CPU and memory never count as the server's. "+
		"SSE subscribers GET /realtime/v1/sse?apikey=…&schema=public&table=t&event=INSERT; WebSocket ones join with the same binding and send realtime-js's heartbeat every 25 s.\n")
	if opt.runs("fanout") {
		fmt.Fprintf(w, "- Fan-out: %s subscribers (one load process per 500), %d rows/s inserted one per transaction on one connection: %s unmeasured, then %s measured. "+
			"Server CPU (utime+stime from /proc) is counted from the first measured insert until every subscriber has every measured row (or %s after the last insert). "+
			"Every subscriber counts the measured rows it gets and checks their ids rise; a row is complete only when each got each row once. "+
			"Latency is commit-to-receive: the row's sent_at (clock_timestamp() at insert) to the arrival of the event's last byte.\n",
			stats.Group(float64(opt.subs)), opt.rate, opt.warmup, opt.measure, drainLimit)
	}
	if opt.runs("idle") {
		fmt.Fprintf(w, "- Idle: %s connections (one load process per 5,000), each an SSE stream or a WebSocket joined to one postgres_changes channel. "+
			"The server runs with GOGC=%s and GODEBUG=gctrace=1; its VmRSS is read %s after it started (before) and, after %s idle, at the end of the first garbage collection "+
			"that began with every connection up (waiting up to %s: nothing can make the server collect from outside, the runtime forces one 2 minutes after the last) plus %s for freed memory to return. "+
			"RSS per connection is (after − before) / connections; a row without such a collection says so and meets no target.\n",
			stats.Group(float64(opt.conns)), opt.gogc, opt.settle, opt.hold, opt.gcWait, opt.scavenge)
	}
	if opt.runs("replay") {
		fmt.Fprintf(w, "- Replay: a live SSE observer gives the stream's position (its first event's id); %s rows are then inserted, %d per transaction, into a retention window of %d MiB "+
			"(--retain-bytes, no age bound), and the observer is closed once it has all of them. One client then resumes after that position (SSE: Last-Event-ID; WebSocket: "+
			"config.postgres_changes_resume.after) and the time is from its dial to the arrival of the last change; it must get every change once, in order, with no gap message.\n",
			stats.Group(float64(opt.replay)), replayBatch, replayRetainBytes>>20)
	}
	fmt.Fprintf(w, "- Targets compare the two transports of this run only: SSE deliveries per server CPU-second ≥ %.2f × WebSocket's, SSE RSS per idle connection ≤ %.2f × WebSocket's. "+
		"No figure is given for a row that delivered nothing.\n\n", minDeliveryRatio, maxMemoryRatio)

	out := res.json()
	if len(out.Targets) > 0 {
		report.WriteTargetTable(w, out.Targets)
		fmt.Fprintln(w)
	}
	if len(res.fan) > 0 {
		fmt.Fprintf(w, "### Fan-out\n\n")
		fmt.Fprintln(w, "| transport | subscribers | rows/s | rows | deliveries (expected) | every row once | subscribers short | connections lost | server CPU s | deliveries per CPU-second | p50 ms | p99 ms | connect s |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range res.fan {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %s (%s) | %s | %d | %d | %.2f | %s | %s | %s | %.1f |\n",
				r.kind, stats.Group(float64(r.subs)), r.rate, r.inserted, stats.Group(float64(r.t.Received)), stats.Group(float64(r.inserted*int64(r.subs))),
				yesNo(r.complete()), r.t.Short, r.t.Lost, r.cpu.Seconds(), figure(r.perCPU(), "%.0f"), r.latency(0.5), r.latency(0.99), r.connect.Seconds())
		}
		fmt.Fprintln(w)
	}
	if len(res.idle) > 0 {
		fmt.Fprintf(w, "### Idle connections\n\n")
		fmt.Fprintln(w, "| transport | connections | lost | connect s | RSS before MB | after MB | RSS per connection KB | GC after connecting (waited s) | live heap + stacks at that GC |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|---|")
		for _, r := range res.idle {
			fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %s (%.0f) | %s |\n", r.kind, stats.Group(float64(r.n)), r.lost, r.connect.Seconds(),
				mb(r.rss0), mb(r.rss), r.kb(), yesNo(r.gcAfterConnect), r.gcWaited.Seconds(), r.liveHeap())
		}
		fmt.Fprintln(w)
	}
	if len(res.replay) > 0 {
		fmt.Fprintf(w, "### Replay\n\n")
		fmt.Fprintln(w, "| transport | changes in the window | received | every change once | gap messages | window filled at rows/s | time to the last change s | changes/s |")
		fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|")
		for _, r := range res.replay {
			took := "—"
			if r.complete() {
				took = fmt.Sprintf("%.2f", r.took.Seconds())
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %s | %s |\n", r.kind, stats.Group(float64(r.window)), stats.Group(float64(r.t.Received)),
				yesNo(r.complete()), r.t.Gaps, stats.Group(r.fillRate), took, figure(r.rowsPerSec(), "%.0f"))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s %s.\n", res.machine, res.context)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}
