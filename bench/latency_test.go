package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v++ {
		b := histBucket(v)
		if b != prev && b != prev+1 {
			t.Fatalf("bucket(%d) = %d after %d: buckets must be contiguous", v, b, prev)
		}
		lo, width := histRange(b)
		if v < lo || v >= lo+width {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, b, lo, lo+width)
		}
		prev = b
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var empty histogram
	if got := empty.quantile(0.99); got != 0 {
		t.Errorf("empty quantile = %d, want 0", got)
	}

	var small histogram
	for _, v := range []int64{5, 1, 3, 2, 4} {
		small.record(v)
	}
	for q, want := range map[float64]int64{0: 1, 0.2: 1, 0.5: 3, 0.9: 5, 1: 5} {
		if got := small.quantile(q); got != want {
			t.Errorf("quantile(%v) of 1..5 = %d, want %d", q, got, want)
		}
	}

	// Against exact order statistics of a spread of latencies, split over
	// two histograms and merged.
	r := rand.New(rand.NewPCG(1, 2))
	var a, b histogram
	var all []int64
	for i := range 100_000 {
		v := int64(r.ExpFloat64() * 2000) // mean 2 ms
		all = append(all, v)
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(&b)
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := a.quantile(q)
		if diff := float64(got-exact) / float64(exact); diff < -0.005 || diff > 0.005 {
			t.Errorf("quantile(%v) = %d µs, exact %d µs (off by %.2f %%)", q, got, exact, diff*100)
		}
	}
	if a.quantile(1) != all[len(all)-1] || a.max != all[len(all)-1] {
		t.Errorf("max = %d / quantile(1) = %d, want %d", a.max, a.quantile(1), all[len(all)-1])
	}
	if a.n != uint64(len(all)) {
		t.Errorf("count = %d, want %d", a.n, len(all))
	}

	var neg histogram
	neg.record(-7)
	if neg.neg != 1 || neg.quantile(0.5) != 0 {
		t.Errorf("negative sample: neg = %d, median = %d", neg.neg, neg.quantile(0.5))
	}
}

func TestParseStamp(t *testing.T) {
	for _, s := range []string{
		"2024-05-06 01:38:09.123456+00",
		"2024-05-06T01:38:09.123456Z",
		"2024-05-06T01:38:09.5Z",
		"2024-05-06 01:38:09+00",
		"2024-02-29 23:59:59.999999+00",
		"2000-03-01T00:00:00Z",
		"1969-12-31 23:59:59.000001+00",
		"2024-05-06 01:38:09-08",
		"2024-05-06T07:08:09.5+05:30",
		"2024-05-06 07:08:09.5+0530",
		"2024-05-06T01:38:09.123456789Z",
	} {
		got, ok := parseStamp([]byte(s))
		if !ok {
			t.Errorf("parseStamp(%q) failed", s)
			continue
		}
		layout := "2006-01-02 15:04:05.999999999Z07"
		switch {
		case s[10] == 'T':
			layout = time.RFC3339Nano
		case len(s) > 5 && s[len(s)-5] != '.' && (s[len(s)-5] == '+' || s[len(s)-5] == '-'):
			layout = "2006-01-02 15:04:05.999999999Z0700"
		}
		want, err := time.Parse(layout, s)
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		if w := want.UnixMicro(); got != w {
			t.Errorf("parseStamp(%q) = %d, want %d (%s)", s, got, w, time.UnixMicro(got).UTC())
		}
	}
	for _, s := range []string{"", "2024-05-06", "2024-05-06 01:38:09", "2024-05-06 01:38:09.+00", "2024-13-06 01:38:09+00", "2024-05-06 01:38:09+00 BC", "infinity"} {
		if _, ok := parseStamp([]byte(s)); ok {
			t.Errorf("parseStamp(%q) succeeded, want failure", s)
		}
	}
}

func TestLatencyMatrixCap(t *testing.T) {
	opt, err := parseLatencyFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	var run int
	for _, rate := range opt.rates {
		r, _ := opt.walcastSpecs(rate)
		run += len(r)
	}
	if run != 15 {
		t.Errorf("default matrix runs %d walcast phases per round, want 15", run)
	}
	want := []phaseSpec{
		{rate: 5000, subs: 1000, mode: filterNone},
		{rate: 20000, subs: 100, mode: filterNone},
		{rate: 20000, subs: 1000, mode: filterNone},
	}
	if got := opt.cappedSpecs(); !slices.Equal(got, want) {
		t.Errorf("capped = %v, want %v", got, want)
	}
	// 1,000 rows/s to 1,000 subscribers is exactly the cap: it runs.
	if s := (phaseSpec{rate: 1000, subs: 1000, mode: filterNone}); slices.Contains(opt.cappedSpecs(), s) {
		t.Errorf("%v is at the cap, not above it, and must run", s)
	}

	targets := latencyTargets(opt, nil)
	if len(targets) != 3 {
		t.Fatalf("%d targets, want 3", len(targets))
	}
	if m := targets[2].Measured; !strings.Contains(m, "not run: 5,000,000 deliveries/s is above the cap") {
		t.Errorf("no-filter target at 5,000 rows/s × 1,000 subscribers: measured = %q, want the cap named", m)
	}
	if m := targets[1].Measured; !strings.Contains(m, "leave it out") {
		t.Errorf("eq target without its phase: measured = %q", m)
	}
}
