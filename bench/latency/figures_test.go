package latency

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestNoFigureFromNoDeliveries: a walcast phase that delivered nothing
// gives no latency, no "walcast adds" difference and no met target, in the
// report and in the targets, while the bare receiver's figures stay.
func TestNoFigureFromNoDeliveries(t *testing.T) {
	opt, err := parseLatencyFlags([]string{"--rates", "1000", "--subs", "100", "--filter", "none", "--rounds", "1"})
	if err != nil {
		t.Fatal(err)
	}
	bare := phaseResult{rate: 1000, round: 1, sent: 5000, delivered: 5000, want: 5000}
	for range 5000 {
		bare.hist.Record(15_460) // 15.46 ms: the bare p99 a zero-delivery row subtracted from 0
	}
	none := phaseResult{rate: 1000, subs: 100, mode: filterNone, round: 1, sent: 5000, want: 500_000}
	phases := []phaseResult{bare, none}

	targets := latencyTargets(opt, aggregatePhases(opt, phases))
	added := targets[0]
	if added.Met || added.Ratio != 0 || !strings.HasPrefix(added.Measured, "no figure") {
		t.Errorf("added-latency target from no deliveries: %+v, want no figure and not met", added)
	}

	var md bytes.Buffer
	writeLatencyReport(&md, opt, phases, nil, reportContext{})
	text := md.String()
	if neg := regexp.MustCompile(`\| -\d`).FindString(text); neg != "" {
		t.Errorf("report has a negative figure (%q):\n%s", neg, text)
	}
	if !strings.Contains(text, "| 15.46 |") {
		t.Errorf("report lost the bare receiver's p99:\n%s", text)
	}
	row := regexp.MustCompile(`(?m)^\| 1,000 \| no filter \| 100 \| (.*)$`).FindStringSubmatch(text)
	if row == nil || !strings.HasPrefix(row[1], noFigure+" | "+noFigure) {
		t.Errorf("what walcast adds, row of no deliveries: %q, want %s", row, noFigure)
	}
}
