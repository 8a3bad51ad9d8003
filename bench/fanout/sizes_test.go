package fanout

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/walcast/walcast/bench/harness"
)

// sizesTestRow is fanoutTestRow at a payload size.
func sizesTestRow(system string, size int, perCPU float64, p99Us int64) fanoutRow {
	r := fanoutTestRow(system, 0, 100, 20, perCPU, p99Us)
	r.payload = size
	return r
}

func TestSizesTargetsPerSizeAndPeer(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	proto := peer + harness.ProtobufSuffix
	rows := []fanoutRow{
		sizesTestRow("walcast", 1000, 150_000, 2000), sizesTestRow(peer, 1000, 100_000, 3000), sizesTestRow(proto, 1000, 120_000, 3000),
		sizesTestRow("walcast", 64000, 40_000, 9000), sizesTestRow(peer, 64000, 50_000, 8000), sizesTestRow(proto, 64000, 40_000, 9000),
	}
	env := harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}}
	res := sizesResults(rows, env)
	if len(res.Targets) != 4 {
		t.Fatalf("targets %+v, want 2 sizes × 2 peer systems", res.Targets)
	}
	for i, want := range []struct {
		name  string
		ratio float64
		met   bool
	}{
		{"1,000-byte payloads, 100 subscribers × 20 msg/s: walcast / " + peer + " ", 1.5, true},
		{"1,000-byte payloads, 100 subscribers × 20 msg/s: walcast / " + proto + " ", 1.25, true},
		{"64,000-byte payloads, 100 subscribers × 20 msg/s: walcast / " + peer + " ", 0.8, false},
		{"64,000-byte payloads, 100 subscribers × 20 msg/s: walcast / " + proto + " ", 1, true},
	} {
		tg := res.Targets[i]
		if !strings.Contains(tg.Name, want.name) || math.Abs(tg.Ratio-want.ratio) > 1e-6 || tg.Met != want.met {
			t.Errorf("target %d %+v, want %q ratio %.2f met %v", i, tg, want.name, want.ratio, want.met)
		}
	}
	if note := res.Targets[2].Note; !strings.Contains(note, "fewer deliveries") || !strings.Contains(note, "p99 above") {
		t.Errorf("missed target note %q, want both reasons", note)
	}
	var sizesChart []string
	for _, s := range res.Series {
		if s.Chart == "sizes-throughput" {
			sizesChart = append(sizesChart, s.Name)
			if len(s.X) != 2 || s.X[1] != 64000 || !strings.Contains(s.Caption, "Loopback") || !strings.Contains(s.Caption, "on its defaults") {
				t.Errorf("series %+v, want both sizes and the caveats", s)
			}
		}
	}
	if got := strings.Join(sizesChart, " | "); got != "walcast | "+peer+" | "+proto {
		t.Errorf("chart lines %q", got)
	}
}

// TestSizesNoFigureFromNothing: a system that delivered nothing gets no
// ratio, no chart point and a missed target.
func TestSizesNoFigureFromNothing(t *testing.T) {
	const peer = "Centrifugo v6.9.1"
	dead := sizesTestRow(peer, 16000, 100_000, 1000)
	dead.received = 0
	rows := []fanoutRow{sizesTestRow("walcast", 16000, 100_000, 1000), dead}
	env := harness.RoomBenchEnv{Peer: &harness.CentrifugoPeer{Name: peer}}
	res := sizesResults(rows, env)
	if len(res.Targets) != 1 || res.Targets[0].Met || res.Targets[0].Ratio != 0 || !strings.HasPrefix(res.Targets[0].Measured, "no figure") {
		t.Fatalf("targets %+v, want one missed, without a ratio", res.Targets)
	}
	for _, s := range res.Series {
		if s.Name == peer {
			t.Errorf("series %+v drawn from zero deliveries", s)
		}
	}
	var md bytes.Buffer
	writeSizesReport(&md, sizesOptions{sizes: []int{16000}, subs: 100, rate: 20, fanoutOptions: fanoutOptions{runs: 1, measure: 5e9}}, rows, env)
	if !strings.Contains(md.String(), "| 16,000 | "+peer+" | 1 | 0 | — | — | — |") {
		t.Errorf("report prints figures for the system without deliveries:\n%s", md.String())
	}
}

func TestSizesFlags(t *testing.T) {
	opt, err := parseSizesFlags([]string{"--quick"})
	if err != nil || len(opt.sizes) != 2 || opt.sizes[1] != 64000 || opt.subs != 100 || opt.rate != 40 || opt.runs != 1 {
		t.Errorf("--quick: %+v, %v", opt, err)
	}
	opt, err = parseSizesFlags([]string{"--quick", "--sizes", "4000"})
	if err != nil || len(opt.sizes) != 1 || opt.sizes[0] != 4000 {
		t.Errorf("--quick --sizes 4000: sizes %v, %v", opt.sizes, err)
	}
	if _, err := parseSizesFlags([]string{"--sizes", "1000,65536"}); err == nil || !strings.Contains(err.Error(), "65,536") {
		t.Errorf("a size over Centrifugo's default frame limit: %v, want a usage error naming the limit", err)
	}
}
