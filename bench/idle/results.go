package idle

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// kb is the server's RSS growth per connection at the end of the hold.
func (r idleRow) kb() float64 { return r.perConnKB(r.rss, r.rss0) }

// idlePeerKB maps each connection count to the RSS per connection of the
// system named peer.
func idlePeerKB(rows []idleRow, peer string) map[int]float64 {
	kb := map[int]float64{}
	for _, r := range rows {
		if r.system == peer {
			kb[r.n] = r.kb()
		}
	}
	return kb
}

// idleResults is what --json writes: the targets at the largest count
// (15,000 by default), and RSS per connection by count for each system.
func idleResults(rows []idleRow, env harness.RoomBenchEnv) report.Results {
	res := report.Results{Workload: "idle", Machine: env.Machine}
	largest := func(system string) *idleRow {
		var found *idleRow
		for i, r := range rows {
			if r.system == system && (found == nil || r.n > found.n) {
				found = &rows[i]
			}
		}
		return found
	}
	walcast := largest("walcast")
	var peers []*idleRow // the peer on its defaults, then tuned
	if env.Peer != nil {
		peers = append(peers, largest(env.Peer.Name), largest(env.Peer.TunedSystem().Name), largest(env.Peer.ProtobufSystem().Name))
	}
	if walcast != nil {
		res.Targets = append(res.Targets, report.Target{
			Name:     fmt.Sprintf("Idle memory, %s connections: walcast RSS per connection", stats.Group(float64(walcast.n))),
			Goal:     "≤ 10 KB",
			Measured: fmt.Sprintf("%.1f KB (RSS %.1f → %.1f MB, %d lost)", walcast.kb(), mb(walcast.rss0), mb(walcast.rss), walcast.lost),
			Ratio:    walcast.kb(),
			Met:      walcast.kb() <= 10 && walcast.lost == 0 && walcast.gcAfterConnect,
			Note:     idleNote(walcast),
		})
	}
	for _, peer := range peers {
		if walcast == nil || peer == nil || peer.n != walcast.n || peer.kb() <= 0 {
			continue
		}
		ratio := walcast.kb() / peer.kb()
		res.Targets = append(res.Targets, report.Target{
			Name:     fmt.Sprintf("Idle memory, %s connections: walcast / %s RSS per connection", stats.Group(float64(walcast.n)), peer.system),
			Goal:     "≤ 0.33",
			Measured: fmt.Sprintf("%.2f (%.1f vs %.1f KB)", ratio, walcast.kb(), peer.kb()),
			Ratio:    ratio,
			Met:      ratio <= 1.0/3 && walcast.lost == 0 && peer.lost == 0 && walcast.gcAfterConnect && peer.gcAfterConnect,
			Note:     idleNote(walcast) + idleNote(peer),
		})
	}

	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.system) {
			names = append(names, r.system)
		}
	}
	for _, name := range names {
		s := report.Series{Chart: "idle-memory", Title: "Idle connections: server RSS per connection", XLabel: "connections",
			YLabel: "KB per connection (RSS growth)", LogX: true, Name: name, Caption: idleCaption(env)}
		for _, r := range rows {
			if r.system == name && r.lost < r.n { // a row with every connection lost has no figure
				s.X = append(s.X, float64(r.n))
				s.Y = append(s.Y, r.kb())
			}
		}
		res.Series = append(res.Series, s)
	}
	return res
}

// idleNote says when connections were lost, which makes the figure
// meaningless, and when RSS was read without a collection after
// connecting, which makes it not comparable.
func idleNote(r *idleRow) string {
	var note string
	if r.lost > 0 {
		note += fmt.Sprintf("%s lost %d of %d connections during the hold. ", r.system, r.lost, r.n)
	}
	if !r.gcAfterConnect {
		note += fmt.Sprintf("%s: no garbage collection ran after connecting within the wait, so its RSS is read without one. ", r.system)
	}
	return note
}

// idleCaption is what the idle chart must say so as not to mislead: the
// machine, which server settings the lines are, and when RSS was read.
func idleCaption(env harness.RoomBenchEnv) string {
	c := report.LoopbackCaption(runtime.NumCPU()) + " RSS read after the server's first garbage collection with every connection up (the Go runtime forces one 2 minutes after the last)."
	if env.Peer != nil {
		c += fmt.Sprintf(" %s runs on its defaults; \"small buffers\" is %s with 512-byte WebSocket buffers, \"protobuf\" the defaults with protobuf clients.", env.Peer.Name, env.Peer.Name)
	}
	return c
}
