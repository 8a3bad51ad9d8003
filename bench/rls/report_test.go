package rls

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// meas is a measurement of mode in which every row arrived, with latencies
// of ms milliseconds and cpu CPU-seconds of walcast and Postgres each.
func meas(run int, mode string, rows int, ms int64, cpu time.Duration) measurement {
	m := measurement{run: run, mode: mode, rows: rows, delivered: int64(rows), wall: time.Second, serverCPU: cpu, pgCPU: cpu}
	for range rows {
		m.hist.Record(ms * 1000)
	}
	return m
}

func TestTargets(t *testing.T) {
	ref, rls := modes[0].name, modes[1].name
	for _, tc := range []struct {
		name         string
		ms           []measurement
		cpu, p99     string
		cpuMet, pMet bool
	}{
		{
			name: "RLS costs 1.5× per delivery, p99 2×",
			ms:   []measurement{meas(1, ref, 1000, 2, time.Second), meas(1, rls, 1000, 4, 1500*time.Millisecond)},
			cpu:  "1.50 (333 vs 500 deliveries per CPU-s)", p99: "2.00 (4.", cpuMet: true, pMet: true,
		},
		{
			name: "RLS costs 3× per delivery, p99 5×",
			ms:   []measurement{meas(1, ref, 1000, 2, time.Second), meas(1, rls, 1000, 10, 3*time.Second)},
			cpu:  "3.00 (", p99: "5.0",
		},
		{
			name: "medians over runs",
			ms: []measurement{meas(1, ref, 100, 2, time.Second), meas(1, rls, 100, 2, time.Second),
				meas(2, ref, 100, 2, time.Second), meas(2, rls, 100, 2, 2*time.Second),
				meas(3, ref, 100, 2, time.Second), meas(3, rls, 100, 2, 2*time.Second)},
			cpu: "2.00 (", p99: "1.00", pMet: true,
		},
	} {
		ts := rlsReport{opt: rlsOptions{users: 5}, ms: tc.ms}.targets()
		if len(ts) != 2 {
			t.Fatalf("%s: %d targets", tc.name, len(ts))
		}
		if !strings.HasPrefix(ts[0].Measured, tc.cpu) || ts[0].Met != tc.cpuMet {
			t.Errorf("%s: CPU target %+v, want %q met %v", tc.name, ts[0], tc.cpu, tc.cpuMet)
		}
		if !strings.HasPrefix(ts[1].Measured, tc.p99) || ts[1].Met != tc.pMet {
			t.Errorf("%s: p99 target %+v, want %q met %v", tc.name, ts[1], tc.p99, tc.pMet)
		}
	}
}

// TestNoFigureWithoutEveryRow: a mode with a run that missed rows, or had
// none, gives no ratio and meets no target.
func TestNoFigureWithoutEveryRow(t *testing.T) {
	ref, rls := modes[0].name, modes[1].name
	short := meas(2, rls, 1000, 2, time.Second)
	short.delivered = 990
	none := measurement{run: 1, mode: rls, rows: 1000, lost: fmt.Errorf("user 3: connection lost")}
	misrouted := meas(1, rls, 1000, 2, time.Second)
	misrouted.misrouted = 1
	for name, ms := range map[string][]measurement{
		"missing rows": {meas(1, ref, 1000, 2, time.Second), meas(1, rls, 1000, 2, time.Second), meas(2, ref, 1000, 2, time.Second), short},
		"no delivery":  {meas(1, ref, 1000, 2, time.Second), none},
		"misrouted":    {meas(1, ref, 1000, 2, time.Second), misrouted},
		"not measured": {meas(1, ref, 1000, 2, time.Second)},
	} {
		rep := rlsReport{opt: rlsOptions{users: 5, PacedOptions: harness.PacedOptions{Runs: 2}}, ms: ms}
		for _, tg := range rep.targets() {
			if tg.Met || tg.Ratio != 0 || !strings.HasPrefix(tg.Measured, "no figure: ") {
				t.Errorf("%s: %+v, want no figure", name, tg)
			}
		}
		var out bytes.Buffer
		rep.write(&out)
		if strings.Contains(out.String(), "| 0.00 |") || strings.Contains(out.String(), "NaN") || strings.Contains(out.String(), "Inf") {
			t.Errorf("%s: the table prints figures of a failed mode:\n%s", name, out.String())
		}
	}
	if got := (measurement{}).perCPUSecond(); got != 0 {
		t.Errorf("perCPUSecond without deliveries = %v", got)
	}
}

func TestRowsOf(t *testing.T) {
	total := 0
	for u := range 7 {
		total += rowsOf(u, 7, 100)
	}
	if total != 100 || rowsOf(0, 7, 100) != 15 || rowsOf(1, 7, 100) != 15 || rowsOf(2, 7, 100) != 14 {
		t.Errorf("rowsOf: total %d, user 0 %d, user 2 %d", total, rowsOf(0, 7, 100), rowsOf(2, 7, 100))
	}
}

func TestJoinFrame(t *testing.T) {
	if got := string(joinFrame("notes_open", true, 7, "tok")); !strings.Contains(got, `"table":"notes_open","filter":"owner=eq.7"}`) || !strings.Contains(got, `"access_token":"tok"`) {
		t.Errorf("filtered join: %s", got)
	}
	if got := string(joinFrame("notes_rls", false, 7, "tok")); strings.Contains(got, "filter") {
		t.Errorf("RLS join has a filter: %s", got)
	}
}

func TestParseRLSFlags(t *testing.T) {
	opt, err := parseRLSFlags([]string{"--quick"})
	if err != nil || opt.Runs != 1 || opt.Rows != 4000 || !opt.Quick {
		t.Errorf("--quick: %+v, %v", opt, err)
	}
	for _, bad := range [][]string{{"--users", "0"}, {"--rate", "0"}, {"--quiet-wait", "-1s"}} {
		if _, err := parseRLSFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
