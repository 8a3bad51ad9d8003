package stats

import (
	"math/rand/v2"
	"slices"
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
	var empty Histogram
	if got := empty.Quantile(0.99); got != 0 {
		t.Errorf("empty quantile = %d, want 0", got)
	}

	var small Histogram
	for _, v := range []int64{5, 1, 3, 2, 4} {
		small.Record(v)
	}
	for q, want := range map[float64]int64{0: 1, 0.2: 1, 0.5: 3, 0.9: 5, 1: 5} {
		if got := small.Quantile(q); got != want {
			t.Errorf("quantile(%v) of 1..5 = %d, want %d", q, got, want)
		}
	}

	// Against exact order statistics of a spread of latencies, split over
	// two histograms and merged.
	r := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	var all []int64
	for i := range 100_000 {
		v := int64(r.ExpFloat64() * 2000) // mean 2 ms
		all = append(all, v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := a.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff < -0.005 || diff > 0.005 {
			t.Errorf("quantile(%v) = %d µs, exact %d µs (off by %.2f %%)", q, got, exact, diff*100)
		}
	}
	if a.Quantile(1) != all[len(all)-1] || a.Max != all[len(all)-1] {
		t.Errorf("max = %d / quantile(1) = %d, want %d", a.Max, a.Quantile(1), all[len(all)-1])
	}
	if a.N != uint64(len(all)) {
		t.Errorf("count = %d, want %d", a.N, len(all))
	}

	var neg Histogram
	neg.Record(-7)
	if neg.Neg != 1 || neg.Quantile(0.5) != 0 {
		t.Errorf("negative sample: neg = %d, median = %d", neg.Neg, neg.Quantile(0.5))
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
		got, ok := ParseStamp([]byte(s))
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
		if _, ok := ParseStamp([]byte(s)); ok {
			t.Errorf("parseStamp(%q) succeeded, want failure", s)
		}
	}
}
