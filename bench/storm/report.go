package storm

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

// stormCell is one system in one kind of storm, over the runs.
type stormCell struct {
	system, kind     string
	clients, runs    int
	joined, failed   int
	failExample      string
	secs, cpuPerJoin []float64 // by run, only runs where a client joined
	serverCPUSecs    []float64 // by run
}

func (c *stormCell) complete() bool { return c.failed == 0 && c.joined == c.clients*c.runs }

// medianSecs is the median time until all joined; 0 with no joins.
func (c *stormCell) medianSecs() float64 {
	if len(c.secs) == 0 {
		return 0
	}
	return stats.Median(c.secs)
}

// stormCells groups rows by kind and system, in the order they ran.
func stormCells(rows []stormRow) []*stormCell {
	var cells []*stormCell
	for _, r := range rows {
		i := slices.IndexFunc(cells, func(c *stormCell) bool { return c.kind == r.kind && c.system == r.system })
		if i < 0 {
			cells = append(cells, &stormCell{system: r.system, kind: r.kind, clients: r.clients})
			i = len(cells) - 1
		}
		c := cells[i]
		c.runs++
		c.joined += r.joined
		c.failed += r.failed
		if c.failExample == "" {
			c.failExample = r.failExample
		}
		c.serverCPUSecs = append(c.serverCPUSecs, r.serverCPU.Seconds())
		if r.joined > 0 {
			c.secs = append(c.secs, r.took.Seconds())
			c.cpuPerJoin = append(c.cpuPerJoin, r.cpuPerJoinMs())
		}
	}
	return cells
}

// stormResults is what --json writes: per storm kind, walcast against each
// peer system, and the time until all joined by storm size.
func stormResults(rows []stormRow, env harness.RoomBenchEnv) report.Results {
	res := report.Results{Workload: "storm", Machine: env.Machine}
	cells := stormCells(rows)
	for _, kind := range []string{kindJoin, kindReconnect} {
		i := slices.IndexFunc(cells, func(c *stormCell) bool { return c.kind == kind && c.system == "walcast" })
		if i < 0 {
			continue
		}
		for _, peer := range cells {
			if peer.kind == kind && peer.system != "walcast" {
				res.Targets = append(res.Targets, stormTarget(cells[i], peer))
			}
		}
	}
	caption := report.LoopbackCaption(runtime.NumCPU()) +
		" Clients dial from load processes on 127.0.0.2+, all at once; the time runs from the command to the last join reply. walcast and "
	if env.Peer != nil {
		caption += env.Peer.Name + " (JSON and protobuf clients) "
	}
	caption += "on their defaults. Runs where no client joined have no point."
	// One line per system: the reconnect storm is the smaller point, the
	// join storm the larger.
	var systems []string
	for _, c := range cells {
		if !slices.Contains(systems, c.system) {
			systems = append(systems, c.system)
		}
	}
	for _, system := range systems {
		s := report.Series{Chart: "storm-time", Title: "Join and reconnect storms: time until every client is joined",
			XLabel: "clients at once (smaller: reconnect storm, larger: join storm)", YLabel: "seconds until all joined (median)",
			Name: system, LogX: true, Caption: caption}
		for _, kind := range []string{kindReconnect, kindJoin} {
			for _, c := range cells {
				if c.system == system && c.kind == kind && len(c.secs) > 0 {
					s.X, s.Y = append(s.X, float64(c.clients)), append(s.Y, c.medianSecs())
				}
			}
		}
		if len(s.X) > 0 {
			res.Series = append(res.Series, s)
		}
	}
	return res
}

// stormTarget is walcast against peer in one kind of storm: all joined no
// later than the peer's, and no client failed.
func stormTarget(ours, peer *stormCell) report.Target {
	t := report.Target{
		Name: fmt.Sprintf("%s storm, %s clients at once: walcast / %s time until all joined",
			titleCase(ours.kind), stats.Group(float64(ours.clients)), peer.system),
		Goal: "≤ 1.00, no client failed",
	}
	if len(ours.secs) == 0 || len(peer.secs) == 0 {
		t.Measured = "no figure: a system had no client join"
		t.Note = fmt.Sprintf("joined: walcast %d, %s %d", ours.joined, peer.system, peer.joined)
		return t
	}
	t.Ratio = ours.medianSecs() / peer.medianSecs()
	t.Measured = fmt.Sprintf("%.2f (%.2f vs %.2f s; server CPU %.3f vs %.3f ms per join; failed %d vs %d)",
		t.Ratio, ours.medianSecs(), peer.medianSecs(), stats.Median(ours.cpuPerJoin), stats.Median(peer.cpuPerJoin), ours.failed, peer.failed)
	t.Met = t.Ratio <= 1 && ours.complete()
	var why []string
	if t.Ratio > 1 {
		why = append(why, "walcast took longer")
	}
	for _, c := range []*stormCell{ours, peer} {
		if !c.complete() {
			why = append(why, fmt.Sprintf("%s: %d of %d clients failed (%s)", c.system, c.failed, c.clients*c.runs, c.failExample))
		}
	}
	t.Note = strings.Join(why, "; ")
	return t
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func writeStormReport(w io.Writer, opt stormOptions, rows []stormRow, env harness.RoomBenchEnv) {
	fmt.Fprintf(w, "## Join and reconnect storms\n\n### Method\n\n")
	fmt.Fprintf(w, "A fresh server per system and run. %s clients in load processes (one per 2,500, each bound to its own 127.0.0.x address) "+
		"are told at once to connect and join one of %d channels, every client in its own goroutine (the join storm). "+
		"A second later %s of them, spread over the processes, close their sockets without a close handshake, as a lost network does, "+
		"and reconnect and join again, all at once (the reconnect storm). ", stats.Group(float64(opt.join)), stormRooms, stats.Group(float64(opt.reconnect)))
	fmt.Fprintf(w, "walcast: vsn %s, phx_join with broadcast only; a client is joined at its ok reply. ", opt.vsn)
	if env.Peer != nil {
		fmt.Fprintf(w, "%s on its defaults: connect then subscribe, JSON clients and then protobuf clients; a client is joined at the subscribe reply. ", env.Peer.Name)
	}
	fmt.Fprintf(w, "Time: from the command to the last join reply; a client that fails (dial or join error, refusal, or 30 s without a reply) is counted and named, never waited for. "+
		"Server CPU: the server process's utime+stime over the storm. %d run(s), medians. "+
		"Code: bench/storm (load.go the clients, phase.go one server's storms, report.go the tables and targets), clients from bench/harness.\n\n", opt.runs)
	harness.WritePeerSetup(w, env.Peer)
	fmt.Fprintln(w, "| run | system | storm | clients | joined | failed | seconds until all joined | server CPU s | server CPU ms per join | server RSS MB after |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		took, perJoin := "—", "—"
		if r.joined > 0 {
			took, perJoin = fmt.Sprintf("%.2f", r.took.Seconds()), fmt.Sprintf("%.3f", r.cpuPerJoinMs())
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %d | %s | %.2f | %s | %.0f |\n", r.run, r.system, r.kind, stats.Group(float64(r.clients)),
			stats.Group(float64(r.joined)), r.failed, took, r.serverCPU.Seconds(), perJoin, r.rssMB)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		if r.failed > 0 {
			fmt.Fprintf(w, "- run %d, %s, %s storm: %d clients failed, e.g. %s\n", r.run, r.system, r.kind, r.failed, r.failExample)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Target per storm and peer system: walcast has every client joined no later than the peer (median time ratio ≤ 1.00) and no client failed. "+
		"Both ends run on the same cores, so the time includes the clients' own work, the same for both servers; the CPU per join is the server's alone.")
	fmt.Fprintln(w)
	report.WriteTargetTable(w, stormResults(rows, env).Targets)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %s.\n", env.Machine, env.Context)
}
