package idle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// TestAwaitGC reads the server's gctrace: a collection that started after
// every connection was up is the one RSS is read after; one before it is
// not, and the wait then ends at its limit.
func TestAwaitGC(t *testing.T) {
	log := filepath.Join(t.TempDir(), "server.log")
	start := time.Now()
	trace := "gc 1 @0.500s 1%: 0.1+1+0.1 ms clock, 0.2+0/1/1+0.2 ms cpu, 4->4->2 MB, 4 MB goal, 1 MB stacks, 0 MB globals, 2 P\n" +
		"gc 2 @130.000s 0%: 0.1+2+0.1 ms clock, 0.2+0/1/2+0.2 ms cpu, 40->40->30 MB, 60 MB goal, 3 MB stacks, 0 MB globals, 2 P (forced)\n"
	if err := os.WriteFile(log, []byte(trace), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		upAfter time.Duration // connections up this long after the start
		want    bool
	}{
		{10 * time.Second, true},   // gc 2 (@130 s) ran with every connection up
		{200 * time.Second, false}, // no collection after 200 s
	} {
		r := idleRow{serverStart: start, upSince: start.Add(tc.upAfter)}
		if err := r.awaitGC(context.Background(), log, 0); err != nil {
			t.Fatal(err)
		}
		if r.gcAfterConnect != tc.want || r.gcAfter.HeapLiveMB != 30 || !r.gcAfter.Forced {
			t.Errorf("up after %v: gcAfterConnect %v, last GC %+v; want %v and gc 2", tc.upAfter, r.gcAfterConnect, r.gcAfter, tc.want)
		}
	}
}

// TestIdleTargetsNeedGCAndCountTunedPeer: the ratio targets are against the
// peer on its defaults and the tuned peer of the same run, and a row read
// without a collection after connecting meets none.
func TestIdleTargetsNeedGCAndCountTunedPeer(t *testing.T) {
	peer := &harness.CentrifugoPeer{Name: "Centrifugo v6.9.1"}
	row := func(system string, kb float64, gc bool) idleRow {
		return idleRow{system: system, n: 10_000, rss0: 10 << 20, rss: 10<<20 + uint64(kb*1024*10_000), gcAfterConnect: gc}
	}
	rows := []idleRow{row("walcast", 9, true), row(peer.Name, 30, true), row(peer.TunedSystem().Name, 18, true)}
	res := idleResults(rows, harness.RoomBenchEnv{Peer: peer})
	if len(res.Targets) != 3 {
		t.Fatalf("targets %+v, want 3: absolute, ÷ peer, ÷ tuned peer", res.Targets)
	}
	if tg := res.Targets[1]; !tg.Met || !strings.Contains(tg.Name, "/ Centrifugo v6.9.1 RSS") || tg.Ratio < 0.29 || tg.Ratio > 0.31 {
		t.Errorf("÷ peer: %+v, want 0.30, met", tg)
	}
	if tg := res.Targets[2]; tg.Met || !strings.Contains(tg.Name, "small buffers") || tg.Ratio != 0.5 {
		t.Errorf("÷ tuned peer: %+v, want 0.50, not met", tg)
	}

	rows[0].gcAfterConnect = false
	for _, tg := range idleResults(rows, harness.RoomBenchEnv{Peer: peer}).Targets {
		if tg.Met || !strings.Contains(tg.Note, "without one") {
			t.Errorf("walcast read without a collection: %+v, want not met and said", tg)
		}
	}
}

// TestIdleProtobufPeer: the peer with protobuf clients is a target of its
// own, a column of the table and a line of the chart, and the chart says
// which line is which.
func TestIdleProtobufPeer(t *testing.T) {
	peer := &harness.CentrifugoPeer{Name: "Centrifugo v6.9.1"}
	proto := peer.ProtobufSystem().Name
	row := func(system string, n int, kb float64) idleRow {
		return idleRow{system: system, n: n, rss0: 10 << 20, rss: 10<<20 + uint64(kb*1024*float64(n)), gcAfterConnect: true}
	}
	rows := []idleRow{row("walcast", 1000, 9), row(proto, 1000, 24), row("walcast", 15_000, 8), row(proto, 15_000, 20)}
	env := harness.RoomBenchEnv{Peer: peer}
	res := idleResults(rows, env)
	if len(res.Targets) != 2 {
		t.Fatalf("targets %+v, want absolute and ÷ protobuf peer", res.Targets)
	}
	if tg := res.Targets[1]; !strings.Contains(tg.Name, "15,000 connections: walcast / "+proto) || tg.Ratio != 0.4 || tg.Met {
		t.Errorf("÷ protobuf peer: %+v, want at 15,000, 0.40, not met", tg)
	}
	if len(res.Series) != 2 || res.Series[1].Name != proto || !strings.Contains(res.Series[1].Caption, "protobuf clients") ||
		!strings.Contains(res.Series[1].Caption, "Loopback") {
		t.Errorf("series %+v, want walcast and the protobuf peer, captioned", res.Series)
	}
	var md strings.Builder
	writeIdleReport(&md, idleOptions{gogc: "100", systems: harness.RoomSystems{PeerProtobuf: true}}, rows, env)
	if !strings.Contains(md.String(), "÷ "+proto+" |") || !strings.Contains(md.String(), "| 0.40 |") {
		t.Errorf("report lacks the protobuf column or its ratio:\n%s", md.String())
	}
}
