package sse

import (
	"fmt"
	"slices"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// results is what one run measured.
type results struct {
	fan              []fanRow
	idle             []idleRow
	replay           []replayRow
	machine, context string
}

// Goals: SSE within 20 % of WebSocket in the same run.
const (
	minDeliveryRatio = 0.80 // SSE / WebSocket deliveries per server CPU-second
	maxMemoryRatio   = 1.20 // SSE / WebSocket RSS per idle connection
)

// complete reports whether every subscriber got every measured row once,
// in order, on a connection that stayed up.
func (r fanRow) complete() bool {
	t := r.t
	return r.inserted > 0 && t.Received == r.inserted*int64(r.subs) && t.Short == 0 && t.Over == 0 &&
		t.Disorder == 0 && t.Gaps == 0 && t.Lost == 0
}

// perCPU is deliveries per server CPU-second, 0 when nothing was delivered
// or no CPU time was counted (no figure then).
func (r fanRow) perCPU() float64 {
	if r.t.Received == 0 || r.cpu <= 0 {
		return 0
	}
	return float64(r.t.Received) / r.cpu.Seconds()
}

// kb is the server's RSS growth per connection, KB.
func (r idleRow) kb() float64 {
	return float64(int64(r.rss)-int64(r.rss0)) / 1024 / float64(r.n)
}

// comparable reports whether the row's RSS can be set beside another's:
// read after a collection that began with every connection up, none lost.
func (r idleRow) comparable() bool { return r.gcAfterConnect && r.lost == 0 && r.n > 0 }

// complete reports whether the client got the whole window once, in order.
func (r replayRow) complete() bool {
	t := r.t
	return r.window > 0 && t.Received == r.window && t.Disorder == 0 && t.Gaps == 0 && t.Lost == 0
}

// rowsPerSec is the replay's rate, 0 without a complete replay.
func (r replayRow) rowsPerSec() float64 {
	if !r.complete() || r.took <= 0 {
		return 0
	}
	return float64(r.window) / r.took.Seconds()
}

func find[T any](rows []T, kind func(T) string, want string) *T {
	i := slices.IndexFunc(rows, func(r T) bool { return kind(r) == want })
	if i < 0 {
		return nil
	}
	return &rows[i]
}

// fanTarget is SSE over WebSocket deliveries per server CPU-second.
func fanTarget(rows []fanRow) (report.Target, bool) {
	ws, sse := find(rows, fanRow.kindOf, kindWS), find(rows, fanRow.kindOf, kindSSE)
	if ws == nil || sse == nil {
		return report.Target{}, false
	}
	t := report.Target{
		Name: fmt.Sprintf("SSE fan-out, %s subscribers: SSE / WebSocket deliveries per server CPU-second", stats.Group(float64(sse.subs))),
		Goal: fmt.Sprintf("≥ %.2f", minDeliveryRatio),
	}
	switch {
	case ws.perCPU() == 0 || sse.perCPU() == 0:
		t.Measured, t.Note = "no figure", "a transport delivered nothing or used no counted CPU"
		return t, true
	}
	t.Ratio = sse.perCPU() / ws.perCPU()
	t.Measured = fmt.Sprintf("%.2f (%s vs %s deliveries per CPU-second)", t.Ratio, stats.Group(sse.perCPU()), stats.Group(ws.perCPU()))
	t.Met = t.Ratio >= minDeliveryRatio && ws.complete() && sse.complete()
	for _, r := range []*fanRow{ws, sse} {
		if !r.complete() {
			t.Note += fmt.Sprintf("%s lost or repeated deliveries (%d of %d received). ", r.kind, r.t.Received, r.inserted*int64(r.subs))
		}
	}
	return t, true
}

// idleTarget is SSE over WebSocket RSS per idle connection.
func idleTarget(rows []idleRow) (report.Target, bool) {
	ws, sse := find(rows, idleRow.kindOf, kindWS), find(rows, idleRow.kindOf, kindSSE)
	if ws == nil || sse == nil {
		return report.Target{}, false
	}
	t := report.Target{
		Name: fmt.Sprintf("Idle memory, %s connections: SSE / WebSocket RSS per connection", stats.Group(float64(sse.n))),
		Goal: fmt.Sprintf("≤ %.2f", maxMemoryRatio),
	}
	if ws.kb() <= 0 {
		t.Measured, t.Note = "no figure", "the WebSocket server's RSS did not grow"
		return t, true
	}
	t.Ratio = sse.kb() / ws.kb()
	t.Measured = fmt.Sprintf("%.2f (%.1f vs %.1f KB)", t.Ratio, sse.kb(), ws.kb())
	t.Met = t.Ratio <= maxMemoryRatio && ws.comparable() && sse.comparable()
	for _, r := range []*idleRow{ws, sse} {
		if r.lost > 0 {
			t.Note += fmt.Sprintf("%s lost %d of %d connections. ", r.kind, r.lost, r.n)
		}
		if !r.gcAfterConnect {
			t.Note += fmt.Sprintf("%s: no collection began after connecting within the wait, so its RSS is not comparable. ", r.kind)
		}
	}
	return t, true
}

func (r fanRow) kindOf() string    { return r.kind }
func (r idleRow) kindOf() string   { return r.kind }
func (r replayRow) kindOf() string { return r.kind }

// json is what --json writes: the targets and one chart per part, with a
// series per transport, where its figure exists.
func (res results) json() report.Results {
	out := report.Results{Workload: "sse", Machine: res.machine}
	if t, ok := fanTarget(res.fan); ok {
		out.Targets = append(out.Targets, t)
	}
	if t, ok := idleTarget(res.idle); ok {
		out.Targets = append(out.Targets, t)
	}
	for _, kind := range []string{kindWS, kindSSE} {
		if r := find(res.fan, fanRow.kindOf, kind); r != nil && r.perCPU() > 0 {
			out.Series = append(out.Series, report.Series{Chart: "sse-fanout-cpu", Title: "postgres_changes fan-out: deliveries per server CPU-second",
				XLabel: "subscribers", YLabel: "deliveries per CPU-second", Name: kind, X: []float64{float64(r.subs)}, Y: []float64{r.perCPU()}})
		}
		if r := find(res.idle, idleRow.kindOf, kind); r != nil && r.comparable() {
			out.Series = append(out.Series, report.Series{Chart: "sse-idle-memory", Title: "Idle connections: server RSS per connection",
				XLabel: "connections", YLabel: "KB per connection (RSS growth)", Name: kind, X: []float64{float64(r.n)}, Y: []float64{r.kb()}})
		}
		if r := find(res.replay, replayRow.kindOf, kind); r != nil && r.complete() {
			out.Series = append(out.Series, report.Series{Chart: "sse-replay", Title: "Resume from the start of the retention window",
				XLabel: "changes in the window", YLabel: "seconds to the last change", Name: kind, X: []float64{float64(r.window)}, Y: []float64{r.took.Seconds()}})
		}
	}
	return out
}
