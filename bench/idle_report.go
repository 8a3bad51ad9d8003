package main

import (
	"fmt"
	"io"
	"runtime"
)

func (r idleRow) perConnKB(after, before uint64) float64 {
	return float64(int64(after)-int64(before)) / 1024 / float64(r.n)
}

// liveHeap is the live heap plus goroutine stacks at the server's last
// collection, before and after connecting (gctrace rounds both to MB).
func (r idleRow) liveHeap() string {
	if !r.gcAfterConnect {
		return "no GC since connecting"
	}
	before, after := r.gcBase.heapLiveMB+r.gcBase.stacks, r.gcAfter.heapLiveMB+r.gcAfter.stacks
	return fmt.Sprintf("%d+%d → %d+%d MB (%.1f KB/conn)", r.gcBase.heapLiveMB, r.gcBase.stacks, r.gcAfter.heapLiveMB, r.gcAfter.stacks,
		float64(after-before)*1024/float64(r.n))
}

// cpuPerConn is the server's CPU during the hold in µs per second per
// connection.
func (r idleRow) cpuPerConn() float64 {
	if r.hold <= 0 {
		return 0
	}
	return r.cpu.Seconds() * 1e6 / r.hold.Seconds() / float64(r.n)
}

func (r idleRow) line() string {
	return fmt.Sprintf("idle: %d connections (lost %d): RSS %.1f → %.1f MB, %.1f KB/conn; live heap %s; kernel slab %.1f KB/conn",
		r.n, r.lost, mb(r.rss0), mb(r.rss), r.perConnKB(r.rss, r.rss0), r.liveHeap(), r.perConnKB(r.slab, r.slab0))
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func writeIdleReport(w io.Writer, opt idleOptions, rows []idleRow, context string) {
	fmt.Fprintf(w, "## Idle connections\n\n")
	fmt.Fprintf(w, "A fresh walcast serve per row (its own process). Connections come from load processes bound to 127.0.0.2+ "+
		"(one per 5,000), use vsn %s, and each joins one of %d channels (broadcast, presence off, no postgres_changes); "+
		"then they stay idle but for realtime-js's heartbeat every 25 s and the pongs to the server's pings. "+
		"The server's VmRSS is read %s after it started (before) and after the connections were idle for %s (after).\n\n",
		opt.vsn, idleRooms, opt.settle, opt.hold)
	fmt.Fprintln(w, "RSS is as the Go runtime leaves it: the server has no way to force a collection from outside, so the figure includes "+
		"garbage not yet collected and heap not yet returned to the OS (like the ~35 KB/conn measured here for Centrifugo, not after a forced GC). "+
		"The server runs with GODEBUG=gctrace=1; the live heap column is the heap marked live by its last collection plus the goroutine stacks it reports, "+
		"shown only when one ran after every connection was up (the runtime collects at least every 2 minutes, hence the default hold of 130 s).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| connections | lost | connect s | server RSS before MB | after MB | RSS per connection KB | live heap + stacks at last GC | kernel slab per connection KB (both ends, machine-wide) | server threads | server CPU µs/s per connection |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %.1f | %d → %d | %.2f |\n",
			group(float64(r.n)), r.lost, r.connect.Seconds(), mb(r.rss0), mb(r.rss), r.perConnKB(r.rss, r.rss0),
			r.liveHeap(), r.perConnKB(r.slab, r.slab0), r.threads0, r.threads, r.cpuPerConn())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Peer anchors (/work/shared/reference/anchors.md §0, §7.2, §10.5, §11.3; design brief):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| system | per idle connection | how |")
	fmt.Fprintln(w, "|---|---:|---|")
	fmt.Fprintln(w, "| Centrifugo v6.9.1 defaults, this machine | ~35 KB RSS | 10k connections, RSS 73.7 → 426.8 MB, no forced GC; ~0.1 core |")
	fmt.Fprintln(w, "| Centrifugo, published | 27 KB (10.9–11.6 KB tuned, partly PRO) | RSS after a forced GC, 200k connections |")
	fmt.Fprintln(w, "| Kernel, per socket | ~4 KB | not in RSS |")
	fmt.Fprintln(w, "| epoll + gobwas/ws | ~1 KB | no goroutine or buffers per connection |")
	fmt.Fprintln(w, "| coder/websocket, fresh read goroutine + 256-byte buffers (design brief) | ~8 KB | 8,000 connections, after GC |")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Machine: %d cores, %s/%s, %s; %s.\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), context)
}
