package filters

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestNoFigureFromNoDeliveries: a burst of which nothing arrived has no
// run time (it was printed as -1.8e9 s: 0 minus the first commit's Unix
// time), no rate, no point on the chart and no ratio in the target.
func TestNoFigureFromNoDeliveries(t *testing.T) {
	first := time.Now()
	if w := burstWall(first, 0); w != 0 {
		t.Errorf("burstWall without a delivery = %v, want 0", w)
	}
	if w := burstWall(first, first.Add(1500*time.Millisecond).UnixNano()); w != 1500*time.Millisecond {
		t.Errorf("burstWall = %v, want 1.5s", w)
	}

	opt := filtersOptions{subs: []int{1, 100_000}, runs: 1, rows: 20_000, txRows: 1000, perConn: 100, hot: 1}
	one := filtersRow{run: 1, subs: 1, conns: 1, rows: 20_000, delivered: 20_000, wall: time.Second, insert: 900 * time.Millisecond}
	none := filtersRow{run: 1, subs: 100_000, conns: 1000, rows: 20_000, wall: burstWall(first, 0), lostConns: 431}
	if line := none.line(); strings.Contains(line, "-") || !strings.Contains(line, "no deliveries") {
		t.Errorf("line of a burst without deliveries: %q", line)
	}
	rows := []filtersRow{one, none}

	target := filtersTarget(summarizeFilters(opt, rows))
	if target.Met || target.Ratio != 0 || !strings.HasPrefix(target.Measured, "no figure") {
		t.Errorf("target without deliveries: %+v, want no figure", target)
	}
	res := filtersResults(opt, rows, "")
	if s := res.Series[0]; len(s.X) != 1 || s.X[0] != 1 {
		t.Errorf("chart points %v, want only the 1-subscription one", s.X)
	}
	var md bytes.Buffer
	writeFiltersReport(&md, opt, rows, "")
	if neg := regexp.MustCompile(`\| -\d|\b0\.00 \(`).FindString(md.String()); neg != "" {
		t.Errorf("report has a figure from no deliveries (%q):\n%s", neg, md.String())
	}
}
