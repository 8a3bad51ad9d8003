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
	before, after := r.gcBase.HeapLiveMB+r.gcBase.Stacks, r.gcAfter.HeapLiveMB+r.gcAfter.Stacks
	return fmt.Sprintf("%d+%d → %d+%d MB (%.1f KB/conn)", r.gcBase.HeapLiveMB, r.gcBase.Stacks, r.gcAfter.HeapLiveMB, r.gcAfter.Stacks,
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
	fmt.Fprintf(w, "\n### Method\n\n")
	fmt.Fprintf(w, "- Both servers run with GOGC=%s (walcast serve's own default is 50, Go's and Centrifugo's 100) and GODEBUG=gctrace=1.\n", opt.gogc)
	fmt.Fprintf(w, "- The server's VmRSS is read %s after it started (before), after the connections were idle for %s (half), "+
		"and after the hold of %s at the end of the first garbage collection that started with every connection up, plus %s for the runtime to return freed memory (after). "+
		"Neither server has a way to force a collection from outside; the Go runtime forces one 2 minutes after the last, so the bench waits up to %s after the hold for one, "+
		"from the server's gctrace, the same condition for both. A row without such a collection says so and meets no target.\n",
		opt.settle, opt.hold/2, opt.hold, opt.scavenge, opt.gcWait)
	fmt.Fprintln(w, "- RSS per connection is (after − before) / connections. The live heap column is the heap marked live by that collection plus the goroutine stacks it reports.")
	if env.Peer != nil && opt.systems.TunedPeer {
		fmt.Fprintf(w, "- %s, small buffers: the same with %s.\n", env.Peer.Name, harness.CentrifugoTuning)
	}
	if env.Peer != nil && opt.systems.PeerProtobuf {
		fmt.Fprintf(w, "- %s%s: the server on its defaults, its clients speaking its protobuf protocol (binary frames) instead of JSON.\n", env.Peer.Name, harness.ProtobufSuffix)
	}
	fmt.Fprintln(w, "- Code: bench/idle (idle.go the phase, load.go the clients, gc.go the collection read from gctrace), the clients in bench/harness (room.go, centrifugo_conn.go, centrifugo_protobuf.go).")
	fmt.Fprintln(w)
	harness.WritePeerSetup(w, env.Peer)
	peerName, tunedName, protoName := "peer", "tuned peer", "peer, protobuf"
	if env.Peer != nil {
		peerName, tunedName, protoName = env.Peer.Name, env.Peer.TunedSystem().Name, env.Peer.ProtobufSystem().Name
	}
	peerKB, tunedKB, protoKB := idlePeerKB(rows, peerName), idlePeerKB(rows, tunedName), idlePeerKB(rows, protoName)
	ratio := func(r idleRow, kb map[int]float64) string {
		if p := kb[r.n]; r.system == "walcast" && p > 0 {
			return fmt.Sprintf("%.2f", r.kb()/p)
		}
		return "—"
	}
	fmt.Fprintln(w, "| system | connections | lost | connect s | server RSS before MB | half MB | after MB | RSS per connection KB | ÷ "+peerName+" | ÷ "+tunedName+" | ÷ "+protoName+" | GC after connecting (waited s) | live heap + stacks at that GC | kernel slab per connection KB (both ends, machine-wide) | server threads | server CPU µs/s per connection |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|")
	for _, r := range rows {
		gc := "no"
		if r.gcAfterConnect {
			gc = "yes"
			if r.gcAfter.Forced {
				gc = "yes, forced"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s (%.0f) | %s | %.1f | %d → %d | %.2f |\n",
			r.system, stats.Group(float64(r.n)), r.lost, r.connect.Seconds(), mb(r.rss0), mb(r.rssMid), mb(r.rss), r.kb(), ratio(r, peerKB), ratio(r, tunedKB), ratio(r, protoKB),
			gc, r.gcWaited.Seconds(), r.liveHeap(), r.perConnKB(r.slab, r.slab0), r.threads0, r.threads, r.cpuPerConn())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "÷ %[1]s: walcast's RSS per connection over %[1]s's at the same count, in this run. Targets, at the largest count: ≤ 10 KB per connection, and ≤ 1/3 of %[1]s's (and of the tuned one's, and of the one with protobuf clients).\n", peerName)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Context, not targets: earlier figures measured with other methods, not in this run (source: the project's reference notes, anchors.md §0, §7.2, §10.5, §11.3, and the design brief, outside this repository):")
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
