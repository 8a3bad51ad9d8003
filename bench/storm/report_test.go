package storm

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

func stormTestRow(system, kind string, clients, failed int, took time.Duration) stormRow {
	return stormRow{system: system, kind: kind, run: 1, clients: clients, joined: clients - failed, failed: failed,
		took: took, serverCPU: time.Duration(clients) * time.Millisecond}
}

func TestStormTargets(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	proto := peer + harness.ProtobufSuffix
	rows := []stormRow{
		stormTestRow("walcast", kindJoin, 1000, 0, 2*time.Second),
		stormTestRow("walcast", kindReconnect, 300, 0, 900*time.Millisecond),
		stormTestRow(peer, kindJoin, 1000, 0, 4*time.Second),
		stormTestRow(peer, kindReconnect, 300, 0, 600*time.Millisecond),
		stormTestRow(proto, kindJoin, 1000, 10, 3*time.Second),
		stormTestRow(proto, kindReconnect, 300, 0, time.Second),
	}
	res := stormResults(rows, harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}})
	if len(res.Targets) != 4 {
		t.Fatalf("targets %+v, want 2 storms × 2 peer systems", res.Targets)
	}
	for i, want := range []struct {
		name  string
		ratio float64
		met   bool
	}{
		{"Join storm, 1,000 clients at once: walcast / " + peer + " ", 0.5, true},
		{"Join storm, 1,000 clients at once: walcast / " + proto + " ", 2.0 / 3, true},
		{"Reconnect storm, 300 clients at once: walcast / " + peer + " ", 1.5, false},
		{"Reconnect storm, 300 clients at once: walcast / " + proto + " ", 0.9, true},
	} {
		tg := res.Targets[i]
		if !strings.HasPrefix(tg.Name, want.name) || math.Abs(tg.Ratio-want.ratio) > 1e-6 || tg.Met != want.met {
			t.Errorf("target %d: %+v, want %q %.2f met %v", i, tg, want.name, want.ratio, want.met)
		}
	}
	if note := res.Targets[1].Note; !strings.Contains(note, proto+": 10 of 1000 clients failed") {
		t.Errorf("the peer's failures are not named: %q", note)
	}
	if len(res.Series) != 3 || res.Series[0].Name != "walcast" || res.Series[0].X[0] != 300 || res.Series[0].Y[0] != 0.9 ||
		res.Series[0].Y[1] != 2 || !strings.Contains(res.Series[0].Caption, "on their defaults") {
		t.Errorf("series %+v", res.Series)
	}
}

// TestStormFailuresAndNoJoins: walcast failing a client misses the target
// however fast it was, and a storm where nothing joined gives no figure.
func TestStormFailuresAndNoJoins(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	rows := []stormRow{
		stormTestRow("walcast", kindJoin, 1000, 1, time.Second),
		stormTestRow(peer, kindJoin, 1000, 0, 4*time.Second),
		stormTestRow("walcast", kindReconnect, 300, 0, time.Second),
		stormTestRow(peer, kindReconnect, 300, 300, 0),
	}
	res := stormResults(rows, harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}})
	if tg := res.Targets[0]; tg.Met || !strings.Contains(tg.Note, "walcast: 1 of 1000 clients failed") {
		t.Errorf("walcast with a failed client: %+v, want missed and said", tg)
	}
	if tg := res.Targets[1]; tg.Met || tg.Ratio != 0 || !strings.HasPrefix(tg.Measured, "no figure") {
		t.Errorf("peer with no joins: %+v, want no figure", tg)
	}
	for _, s := range res.Series {
		if s.Name == peer && (len(s.X) != 1 || s.X[0] != 1000) {
			t.Errorf("peer line %+v, want the join storm only: its reconnect storm had no joins", s)
		}
	}
	var md bytes.Buffer
	writeStormReport(&md, stormOptions{join: 1000, reconnect: 300, runs: 1, vsn: "2.0.0"}, rows, harness.RoomBenchEnv{})
	if !strings.Contains(md.String(), "| 1 | "+peer+" | reconnect | 300 | 0 | 300 | — |") {
		t.Errorf("report prints a time for a storm without joins:\n%s", md.String())
	}
}
