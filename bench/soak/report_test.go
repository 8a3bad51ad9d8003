package soak

import (
	"bufio"
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// soakTestRun is a run of 12 samples 5 s apart whose RSS is rss(i).
func soakTestRun(rss func(i int) float64) soakRun {
	var r soakRun
	for i := range 12 {
		r.samples = append(r.samples, sample{at: time.Duration(i+1) * 5 * time.Second, rssMB: rss(i), heapMB: 10, goroutines: 300, deliveries: 1000, published: 100})
	}
	return r
}

var soakTestOpt = soakOptions{duration: time.Minute, interval: 5 * time.Second, warmup: 10 * time.Second, subs: 200, rooms: 10, rate: 20, presence: 50, churn: 5, payload: 256}

func TestCompareThirdsSkipsWarmup(t *testing.T) {
	// Samples at 5 and 10 s are warm-up (RSS 100 MB); the 10 after it are
	// 20 ×3, then 21, 22, 23, 24, then 25 ×3.
	vals := []float64{100, 100, 20, 20, 20, 21, 22, 23, 24, 25, 25, 25}
	r := soakTestRun(func(i int) float64 { return vals[i] })
	th := compareThirds(r.samples, soakTestOpt.warmup, rssOf)
	if th.n != 10 || th.first != 20 || th.last != 25 || th.ratio() != 1.25 {
		t.Errorf("thirds %+v ratio %.2f, want 10 samples, 20 → 25, 1.25", th, th.ratio())
	}
	if th := compareThirds(r.samples[:7], soakTestOpt.warmup, rssOf); th.ratio() != 0 {
		t.Errorf("5 samples after the warm-up gave ratio %.2f, want no figure", th.ratio())
	}
}

func TestSoakTargets(t *testing.T) {
	flat := soakTestRun(func(i int) float64 { return 50 + float64(i%2) })
	res := soakResults(soakTestOpt, flat, harness.RoomBenchEnv{})
	if len(res.Targets) != 1 || !res.Targets[0].Met || math.Abs(res.Targets[0].Ratio-1) > 0.03 {
		t.Fatalf("flat run: %+v, want RSS met", res.Targets)
	}
	if !strings.Contains(res.Targets[0].Name, "Soak, 1 min") || res.Targets[0].Goal != "0.90–1.10" {
		t.Errorf("target %+v", res.Targets[0])
	}
	if len(res.Series) != 3 || res.Series[0].Chart != "soak-memory" || len(res.Series[0].X) != 12 || !strings.Contains(res.Series[0].Caption, "warm-up") {
		t.Errorf("series %+v", res.Series)
	}
	growing := soakTestRun(func(i int) float64 { return 50 + 5*float64(i) })
	if tg := soakResults(soakTestOpt, growing, harness.RoomBenchEnv{}).Targets[0]; tg.Met {
		t.Errorf("growing RSS met the target: %+v", tg)
	}
	lost := flat
	lost.lostSubs = 3
	if tg := soakResults(soakTestOpt, lost, harness.RoomBenchEnv{}).Targets[0]; tg.Met || !strings.Contains(tg.Note, "3 subscriber sockets") {
		t.Errorf("lost subscribers: %+v, want missed and said", tg)
	}
}

// TestSoakNoFigureWithoutDeliveries: a soak whose subscribers received
// nothing carried no load; it gives no ratio and no chart.
func TestSoakNoFigureWithoutDeliveries(t *testing.T) {
	idle := soakTestRun(func(int) float64 { return 50 })
	for i := range idle.samples {
		idle.samples[i].deliveries = 0
	}
	res := soakResults(soakTestOpt, idle, harness.RoomBenchEnv{})
	if tg := res.Targets[0]; tg.Met || !strings.HasPrefix(tg.Measured, "no figure") {
		t.Errorf("target %+v, want no figure", tg)
	}
	if len(res.Series) != 0 {
		t.Errorf("series drawn from a soak without deliveries: %+v", res.Series)
	}
	var md bytes.Buffer
	writeSoakReport(&md, soakTestOpt, idle, harness.RoomBenchEnv{})
	if !strings.Contains(md.String(), "| 10 (warm-up) |") {
		t.Errorf("report does not mark the warm-up samples:\n%s", md.String())
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 321\ngo_memstats_heap_inuse_bytes 1.048576e+07\nwalcast_x{a=\"b\"} 1\n"
	got, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), []string{"go_memstats_heap_inuse_bytes", "go_goroutines"})
	if err != nil || got[0] != 10485760 || got[1] != 321 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), []string{"go_threads"}); err == nil {
		t.Error("a missing metric gave no error")
	}
}
