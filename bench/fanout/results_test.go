package fanout

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// fanoutTestRow is a measured row with every delivery made: deliveries
// per server CPU-s of perCPU and every latency p99Us.
func fanoutTestRow(system string, coalesce time.Duration, subs, rate int, perCPU float64, p99Us int64) fanoutRow {
	r := fanoutRow{system: system, coalesce: coalesce, run: 1, subs: subs, rate: rate, publishers: 1,
		measure: 5 * time.Second, sent: int64(rate) * 5, hist: &stats.Histogram{}}
	r.received = r.sent * int64(subs)
	r.serverCPU = time.Duration(float64(r.received) / perCPU * float64(time.Second))
	r.hist.Record(p99Us)
	return r
}

func TestFanoutBatchedSystem(t *testing.T) {
	batched := harness.CoalescedName(10 * time.Millisecond)
	if batched != "walcast, 10 ms batching" {
		t.Fatalf("coalescedName(10ms) = %q", batched)
	}
	const peer = "Centrifugo v6.9.1"
	var rows []fanoutRow
	for _, load := range [][2]int{{100, 500}, {1000, 60}} {
		rows = append(rows,
			fanoutTestRow("walcast", 0, load[0], load[1], 100_000, 5000),
			fanoutTestRow(batched, 10*time.Millisecond, load[0], load[1], 300_000, 9000),
			fanoutTestRow(peer, 0, load[0], load[1], 100_000, 10_000))
	}
	opt := fanoutOptions{payload: 128, systems: harness.RoomSystems{Coalesced: 10 * time.Millisecond}}
	res := fanoutResults(opt, rows, harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}})

	if len(res.Targets) != 4 {
		t.Fatalf("got %d targets, want 4 (default and batched against the peer per subscriber count): %+v", len(res.Targets), res.Targets)
	}
	plain, on := res.Targets[0], res.Targets[1]
	if want := "Fan-out, 100 subscribers × 500 msg/s: walcast / Centrifugo v6.9.1 deliveries per server CPU-s"; plain.Name != want {
		t.Errorf("default target %q, want %q", plain.Name, want)
	}
	if plain.Met || math.Abs(plain.Ratio-1) > 1e-6 {
		t.Errorf("default target: ratio %.2f met %v, want 1.00 and not met", plain.Ratio, plain.Met)
	}
	if !strings.Contains(on.Name, "walcast with 10 ms batching / Centrifugo v6.9.1") || !strings.Contains(on.Name, "OSS Centrifugo cannot batch") {
		t.Errorf("batched target named %q", on.Name)
	}
	if !on.Met || math.Abs(on.Ratio-3) > 1e-6 || on.Goal != plain.Goal {
		t.Errorf("batched target: ratio %.2f met %v goal %q, want 3.00, met, %q", on.Ratio, on.Met, on.Goal, plain.Goal)
	}

	var names []string
	for _, s := range res.Series {
		if s.Chart == "fanout-throughput" {
			names = append(names, s.Name)
		}
	}
	if got, want := strings.Join(names, " | "), "walcast | "+peer+" | "+batched; got != want {
		t.Errorf("throughput series %q, want %q", got, want)
	}
	for _, s := range res.Series {
		if !strings.Contains(s.Caption, "Loopback") || !strings.Contains(s.Caption, peer+" on its defaults") || !strings.Contains(s.Caption, "OSS Centrifugo cannot") {
			t.Errorf("series %s/%s caption %q lacks the caveats", s.Chart, s.Name, s.Caption)
		}
	}

	var md bytes.Buffer
	writeFanoutComparison(&md, fanoutCompare(rows), &harness.CentrifugoPeer{Name: peer})
	table := md.String()
	for _, want := range []string{
		"| walcast, 10 ms batching deliveries per server CPU-s |",
		"| walcast, 10 ms batching ÷ Centrifugo v6.9.1 |",
		"| walcast, 10 ms batching p99 ms |",
		"| 100 | 500 | 1 | 100,000 | 300,000 | 100,000 | 1.00 | 3.00 |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("comparison table lacks %q:\n%s", want, table)
		}
	}
}

func TestFanoutCPUSplit(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	// walcast: 5 µs per delivery, 4 of them kernel; the peer: 8, 4 kernel.
	ours := fanoutTestRow("walcast", 0, 100, 500, 200_000, 1000)
	ours.serverSys = ours.serverCPU * 4 / 5
	theirs := fanoutTestRow(peer, 0, 100, 500, 125_000, 1000)
	theirs.serverSys = theirs.serverCPU / 2
	var md bytes.Buffer
	writeFanoutCPUSplit(&md, fanoutCompare([]fanoutRow{ours, theirs}), &harness.CentrifugoPeer{Name: peer})
	want := "| 100 | 500 | 1.00 | 4.00 | 4.00 | 4.00 | 4.00 | 2.00 |"
	if !strings.Contains(md.String(), want) {
		t.Errorf("CPU split lacks %q:\n%s", want, md.String())
	}
	md.Reset()
	writeFanoutCPUSplit(&md, fanoutCompare([]fanoutRow{ours}), nil)
	if md.Len() != 0 {
		t.Errorf("CPU split without a peer wrote %q", md.String())
	}
}

// TestFanoutTargetsSameRunOnly: without a peer in the run there is no
// target, whatever walcast made: the reference figure measured earlier
// with another method is context in the report, never a ✓.
func TestFanoutTargetsSameRunOnly(t *testing.T) {
	rows := []fanoutRow{fanoutTestRow("walcast", 0, 5000, 10, 150_000, 40_000)}
	res := fanoutResults(fanoutOptions{payload: 128}, rows, harness.RoomBenchEnv{})
	if len(res.Targets) != 0 {
		t.Errorf("without a peer: targets %+v, want none", res.Targets)
	}
	var md bytes.Buffer
	writeFanoutReport(&md, fanoutOptions{payload: 128}, rows, harness.RoomBenchEnv{})
	if !strings.Contains(md.String(), "Context, not targets") || !strings.Contains(md.String(), "≈70,000") {
		t.Errorf("report lacks the earlier reference figures as context:\n%s", md.String())
	}
}

// TestFanoutCountsSubscribersOnly: deliveries to walcast's publishers
// (room members that get the others' broadcasts) are not credited, as
// Centrifugo's publishers get none.
func TestFanoutCountsSubscribersOnly(t *testing.T) {
	r := fanoutTestRow("walcast", 0, 100, 500, 100_000, 5000)
	r.publishers, r.pubReceived = 2, r.sent
	if got := r.perCPUSecond(); math.Abs(got-100_000) > 1 {
		t.Errorf("deliveries per server CPU-s with publisher deliveries = %.0f, want 100,000 (subscribers only)", got)
	}
}

// TestFanoutProtobufPeer: the peer speaking protobuf is a cell and a
// target of its own, beside the JSON one.
func TestFanoutProtobufPeer(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	rows := []fanoutRow{
		fanoutTestRow("walcast", 0, 1000, 60, 200_000, 5000),
		fanoutTestRow(peer, 0, 1000, 60, 100_000, 9000),
		fanoutTestRow(peer+harness.ProtobufSuffix, 0, 1000, 60, 125_000, 9000),
	}
	res := fanoutResults(fanoutOptions{payload: 128}, rows, harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}})
	if len(res.Targets) != 2 {
		t.Fatalf("targets %+v, want walcast ÷ JSON peer and ÷ protobuf peer", res.Targets)
	}
	if pb := res.Targets[1]; !strings.HasSuffix(pb.Name, "walcast / "+peer+harness.ProtobufSuffix+" deliveries per server CPU-s") || math.Abs(pb.Ratio-1.6) > 1e-6 || pb.Met {
		t.Errorf("protobuf target %+v, want 1.60 and not met", pb)
	}
	var md bytes.Buffer
	writeFanoutComparison(&md, fanoutCompare(rows), &harness.CentrifugoPeer{Name: peer})
	if !strings.Contains(md.String(), "walcast ÷ "+peer+harness.ProtobufSuffix) || !strings.Contains(md.String(), "| 1.60 |") {
		t.Errorf("comparison lacks the protobuf ratio:\n%s", md.String())
	}
}
