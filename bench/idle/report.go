package idle

import (
	"fmt"
	"io"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
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
	return fmt.Sprintf("idle, %s: %d connections (lost %d): RSS %.1f → %.1f → %.1f MB, %.1f KB/conn; live heap %s; kernel slab %.1f KB/conn",
		r.system, r.n, r.lost, mb(r.rss0), mb(r.rssMid), mb(r.rss), r.perConnKB(r.rss, r.rss0), r.liveHeap(), r.perConnKB(r.slab, r.slab0))
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func writeIdleReport(w io.Writer, opt idleOptions, rows []idleRow, env harness.RoomBenchEnv) {
	fmt.Fprintf(w, "## Idle connections\n\n")
	fmt.Fprintf(w, "A fresh server per row (its own process). Connections come from load processes bound to 127.0.0.2+ "+
		"(one per 5,000) and each joins one of %d channels. walcast: vsn %s, broadcast, presence off, no postgres_changes; "+
		"then idle but for realtime-js's heartbeat every 25 s and the pongs to the server's pings. ", idleRooms, opt.vsn)
	if env.Peer != nil {
		fmt.Fprintf(w, "%s: JSON protocol, connect then subscribe; then idle but for the answers to the server's pings (every 25 s). "+
			"Each count runs walcast, then %s. ", env.Peer.Name, env.Peer.Name)
	}
	fmt.Fprintf(w, "The server's VmRSS is read %s after it started (before), after the connections were idle for %s (half) and for %s (after); "+
		"RSS per connection is (after − before) / connections.\n\n", opt.settle, opt.hold/2, opt.hold)
	fmt.Fprintln(w, "RSS is as the Go runtime leaves it: neither server has a way to force a collection from outside, so the figure includes "+
		"garbage not yet collected and heap not yet returned to the OS. Both servers run with GODEBUG=gctrace=1; the live heap column is the heap "+
		"marked live by the last collection plus the goroutine stacks it reports, shown only when one ran after every connection was up. "+
		"The hold is shorter than the 2 minutes after which the runtime forces a collection, so that both systems and both counts fit in about "+
		"8 minutes; the half-hold reading shows whether RSS had settled.")
	fmt.Fprintln(w)
	harness.WritePeerSetup(w, env.Peer)
	peerKB, peerName := idlePeerKB(rows), "peer"
	if env.Peer != nil {
		peerName = env.Peer.Name
	}
	fmt.Fprintln(w, "| system | connections | lost | connect s | server RSS before MB | half MB | after MB | RSS per connection KB | ÷ "+peerName+" | live heap + stacks at last GC | kernel slab per connection KB (both ends, machine-wide) | server threads | server CPU µs/s per connection |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
	for _, r := range rows {
		ratio := "—"
		if p := peerKB[r.n]; r.system == "walcast" && p > 0 {
			ratio = fmt.Sprintf("%.2f", r.kb()/p)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s | %.1f | %d → %d | %.2f |\n",
			r.system, stats.Group(float64(r.n)), r.lost, r.connect.Seconds(), mb(r.rss0), mb(r.rssMid), mb(r.rss), r.kb(), ratio,
			r.liveHeap(), r.perConnKB(r.slab, r.slab0), r.threads0, r.threads, r.cpuPerConn())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "÷ %[1]s: walcast's RSS per connection over %[1]s's at the same count. Targets: ≤ 10 KB per connection at 10,000 connections, and ≤ 1/3 of %[1]s's.\n", peerName)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Earlier figures (/work/shared/reference/anchors.md §0, §7.2, §10.5, §11.3; design brief; not from this run):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| system | per idle connection | how |")
	fmt.Fprintln(w, "|---|---:|---|")
	fmt.Fprintln(w, "| Centrifugo v6.9.1 defaults, this machine | ~35 KB RSS | 10k connections without subscriptions, RSS 73.7 → 426.8 MB, no forced GC; ~0.1 core |")
	fmt.Fprintln(w, "| Centrifugo, published | 27 KB (10.9–11.6 KB tuned, partly PRO) | RSS after a forced GC, 200k connections |")
	fmt.Fprintln(w, "| Kernel, per socket | ~4 KB | not in RSS |")
	fmt.Fprintln(w, "| epoll + gobwas/ws | ~1 KB | no goroutine or buffers per connection |")
	fmt.Fprintln(w, "| coder/websocket, fresh read goroutine + 256-byte buffers (design brief) | ~8 KB | 8,000 connections, after GC |")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %s.\n", env.Machine, env.Context)
}
