package latency

import (
	"slices"
	"strings"
	"testing"
)

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
