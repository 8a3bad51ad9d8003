package sse

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/stats"
)

func fan(kind string, received int64, cpu time.Duration) fanRow {
	var h stats.Histogram
	for range received {
		h.Record(2000)
	}
	return fanRow{kind: kind, subs: 10, rate: 60, inserted: 100, cpu: cpu,
		t: tally{Clients: 10, Received: received, Short: stats.Btoi(received < 1000) * 10, hist: &h}}
}

// TestFanTarget: the ratio is SSE over WebSocket deliveries per CPU-second
// of the same run, met only at ≥ 0.80 with every delivery made; a row that
// delivered nothing gives no figure at all.
func TestFanTarget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ws, sse  fanRow
		ratio    float64
		met      bool
		noFigure bool
		noteHas  string
	}{
		{name: "met", ws: fan(kindWS, 1000, time.Second), sse: fan(kindSSE, 1000, 1200*time.Millisecond), ratio: 1 / 1.2, met: true},
		{name: "missed", ws: fan(kindWS, 1000, time.Second), sse: fan(kindSSE, 1000, 2*time.Second), ratio: 0.5},
		{name: "lost deliveries", ws: fan(kindWS, 1000, time.Second), sse: fan(kindSSE, 900, time.Second), ratio: 0.9, noteHas: "SSE lost or repeated deliveries (900 of 1000"},
		{name: "nothing delivered", ws: fan(kindWS, 1000, time.Second), sse: fan(kindSSE, 0, time.Second), noFigure: true},
		{name: "no CPU counted", ws: fan(kindWS, 1000, 0), sse: fan(kindSSE, 1000, time.Second), noFigure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, ok := fanTarget([]fanRow{tc.ws, tc.sse})
			if !ok {
				t.Fatal("no target")
			}
			if tc.noFigure {
				if tg.Met || tg.Ratio != 0 || tg.Measured != "no figure" {
					t.Errorf("target %+v, want no figure, not met", tg)
				}
				return
			}
			if tg.Met != tc.met || tg.Ratio < tc.ratio-0.001 || tg.Ratio > tc.ratio+0.001 || !strings.Contains(tg.Note, tc.noteHas) {
				t.Errorf("target %+v, want ratio %.3f, met %v, note with %q", tg, tc.ratio, tc.met, tc.noteHas)
			}
		})
	}
	if _, ok := fanTarget([]fanRow{fan(kindWS, 1000, time.Second)}); ok {
		t.Error("a target from one transport only")
	}
}

// TestIdleTarget: SSE over WebSocket RSS per connection, met at ≤ 1.20
// only when both were read after a collection with every connection up.
func TestIdleTarget(t *testing.T) {
	row := func(kind string, kb float64, gc bool) idleRow {
		return idleRow{kind: kind, n: 10_000, rss0: 10 << 20, rss: 10<<20 + uint64(kb*1024*10_000), gcAfterConnect: gc}
	}
	tg, _ := idleTarget([]idleRow{row(kindWS, 10, true), row(kindSSE, 11, true)})
	if !tg.Met || tg.Ratio < 1.09 || tg.Ratio > 1.11 || !strings.Contains(tg.Measured, "11.0 vs 10.0 KB") {
		t.Errorf("within 20%%: %+v, want 1.10, met", tg)
	}
	tg, _ = idleTarget([]idleRow{row(kindWS, 10, true), row(kindSSE, 30, true)})
	if tg.Met || tg.Ratio < 2.99 || tg.Ratio > 3.01 {
		t.Errorf("3×: %+v, want 3.00, not met", tg)
	}
	tg, _ = idleTarget([]idleRow{row(kindWS, 10, true), row(kindSSE, 11, false)})
	if tg.Met || !strings.Contains(tg.Note, "SSE: no collection") {
		t.Errorf("SSE read without a collection: %+v, want not met and said", tg)
	}
	lost := row(kindSSE, 11, true)
	lost.lost = 3
	if tg, _ = idleTarget([]idleRow{row(kindWS, 10, true), lost}); tg.Met || !strings.Contains(tg.Note, "lost 3 of 10000") {
		t.Errorf("lost connections: %+v, want not met and said", tg)
	}
	if tg, _ = idleTarget([]idleRow{row(kindWS, 0, true), row(kindSSE, 11, true)}); tg.Met || tg.Measured != "no figure" {
		t.Errorf("no WebSocket growth: %+v, want no figure", tg)
	}
}

// TestReportNoFiguresFromNothing: a fan-out row that delivered nothing and
// a replay that did not complete print dashes, not rates.
func TestReportNoFiguresFromNothing(t *testing.T) {
	res := results{
		fan:    []fanRow{fan(kindWS, 1000, time.Second), fan(kindSSE, 0, time.Second)},
		replay: []replayRow{{kind: kindSSE, window: 100, t: tally{Received: 40}, took: time.Second}},
	}
	opt, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeReport(&b, opt, res)
	md := b.String()
	sseRow := lineWith(md, "| SSE | 10 |")
	if !strings.Contains(sseRow, "| — | — | — |") || !strings.Contains(sseRow, "**no**") {
		t.Errorf("SSE fan-out row %q: want no rate or latency, not complete", sseRow)
	}
	if wsRow := lineWith(md, "| WebSocket | 10 |"); !strings.Contains(wsRow, "| 1000 | 2.00 | 2.00 |") {
		t.Errorf("WebSocket fan-out row %q: want 1000 per CPU-second, p50 and p99 2.00 ms", wsRow)
	}
	if r := lineWith(md, "| SSE | 100 |"); !strings.Contains(r, "| — | — |") {
		t.Errorf("incomplete replay row %q: want no time or rate", r)
	}
	if !strings.Contains(md, "| no figure |") || !strings.Contains(md, "### Method") || !strings.Contains(md, "transport/sse.go") {
		t.Errorf("report lacks the no-figure target or the method:\n%s", md)
	}
	if got := res.json(); len(got.Series) != 1 || got.Series[0].Name != kindWS {
		t.Errorf("series %+v, want only the WebSocket fan-out", got.Series)
	}
}

func lineWith(md, prefix string) string {
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// TestReadSSE: the SSE reader counts the marked rows, notes the first
// system event's id as the stream's position, counts gaps and repeated
// ids, and ignores comments and other rows.
func TestReadSSE(t *testing.T) {
	row := func(id, k int) string {
		return "id: c" + string(rune('0'+id)) + "\nevent: postgres_changes\ndata: {\"schema\":\"public\",\"new\":{\"id\":" +
			string(rune('0'+id)) + ",\"k\":" + string(rune('0'+k)) + ",\"sent_at\":\"2026-01-01 00:00:00.000000+00\"}}\n\n"
	}
	stream := "retry: 1000\n\n" +
		"id: 0000000000000010-00000000\nevent: system\ndata: {\"status\":\"ok\",\"message\":\"Subscribed to PostgreSQL\"}\n\n" +
		row(1, 7) + ": ping\n\n" + row(2, 5) + row(3, 7) + row(3, 7) +
		"event: system\ndata: {\"status\":\"gap\"}\n\n"
	r := newReceiver(7)
	err := r.readSSE(bufio.NewReader(strings.NewReader(stream)))
	if err == nil || err.Error() != "EOF" {
		t.Fatalf("readSSE = %v, want EOF", err)
	}
	if !r.readyOK || r.cursor != "0000000000000010-00000000" {
		t.Errorf("ready %v, cursor %q; want the first system event's id", r.readyOK, r.cursor)
	}
	tl := count([]*receiver{r}, 2)
	if tl.Received != 3 || tl.Disorder != 1 || tl.Gaps != 1 || tl.Over != 1 || tl.Hist.N != 3 {
		t.Errorf("tally %+v, want 3 rows of k=7, one repeated, one gap", tl)
	}
}

// TestWSMessage: a WebSocket receiver counts rows from the record, and the
// system message's status.
func TestWSMessage(t *testing.T) {
	r := newReceiver(3)
	r.wsMessage([]byte(`[null,null,"realtime:bench","system",{"status":"ok","message":"Subscribed to PostgreSQL","extension":"postgres_changes"}]`), 1)
	r.wsMessage([]byte(`[null,null,"realtime:bench","postgres_changes",{"ids":[1],"data":{"record":{"id":4,"k":3,"sent_at":"2026-01-01 00:00:00+00"}}}]`), 2)
	r.wsMessage([]byte(`[null,null,"realtime:bench","postgres_changes",{"ids":[1],"data":{"record":{"id":5,"k":2}}}]`), 3)
	if !r.readyOK || r.received() != 1 {
		t.Errorf("ready %v, received %d; want ready and 1", r.readyOK, r.received())
	}
	if !strings.Contains(wsJoin("0/1"), `"postgres_changes_resume":{"after":"0/1"}`) || strings.Contains(wsJoin(""), "resume") {
		t.Errorf("join frames %s / %s", wsJoin("0/1"), wsJoin(""))
	}
}

// TestParseFlags: --quick shrinks what is not given, --only checks names.
func TestParseFlags(t *testing.T) {
	opt, err := parseFlags([]string{"--quick", "--conns", "3000"})
	if err != nil {
		t.Fatal(err)
	}
	if opt.subs != 200 || opt.conns != 3000 || opt.replay != 10_000 || len(opt.only) != 3 {
		t.Errorf("quick: %+v", opt)
	}
	if opt, err = parseFlags([]string{"--only", "idle"}); err != nil || !opt.runs("idle") || opt.runs("fanout") {
		t.Errorf("--only idle: %+v, %v", opt.only, err)
	}
	if _, err := parseFlags([]string{"--only", "nope"}); err == nil {
		t.Error("--only nope accepted")
	}
}
