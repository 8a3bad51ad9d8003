package suite

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/chart"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

func TestParseSuiteFlags(t *testing.T) {
	opt, err := parseSuiteFlags(nil)
	if err != nil || opt.quick || opt.out != report.DefaultSuiteDir || !slices.Equal(opt.only, report.SuiteWorkloads) {
		t.Errorf("no flags: got %+v, %v", opt, err)
	}
	opt, err = parseSuiteFlags([]string{"--quick"})
	if err != nil || !opt.quick || opt.out != report.DefaultQuickDir {
		t.Errorf("--quick: got %+v, %v; a quick run must not write over %s", opt, err, report.DefaultSuiteDir)
	}
	opt, err = parseSuiteFlags([]string{"--quick", "--out", "/tmp/x", "--only", "idle, drain"})
	if err != nil || opt.out != "/tmp/x" || !slices.Equal(opt.only, []string{"drain", "idle"}) {
		t.Errorf("--out --only: got %+v, %v; want out /tmp/x and only drain,idle in suite order", opt, err)
	}
	for _, bad := range [][]string{{"--only", "drain,suite"}, {"extra"}, {"--nope"}} {
		if _, err := parseSuiteFlags(bad); !errorsAsUsage(err) {
			t.Errorf("parseSuiteFlags(%q) = %v, want a usage error", bad, err)
		}
	}
}

func errorsAsUsage(err error) bool {
	_, ok := err.(cli.UsageError)
	return ok
}

func TestFailureReason(t *testing.T) {
	for _, tc := range []struct{ tail, want string }{
		{"building walcast ...\nbench drain: flag provided but not defined: -json\nUsage of drain:\n  -out string\n", "flag provided but not defined: -json"},
		{"progress\nbench drain: start cluster: initdb: exit status 1\nlog line 2\n", "start cluster: initdb: exit status 1"},
		{"bench: unknown command \"filters\"\n\nUsage: go run -C bench . [COMMAND] [flags]\n", `unknown command "filters"`},
		{"nothing useful\n", "exit code 3"},
	} {
		if got := failureReason(tc.tail, "drain", 3); got != tc.want {
			t.Errorf("failureReason(%q) = %q, want %q", tc.tail, got, tc.want)
		}
	}
}

func TestWithStderrTail(t *testing.T) {
	orig := os.Stderr
	tail := withStderrTail(func() {
		fmt.Fprintln(os.Stderr, "bench drain: it broke")
	})
	if os.Stderr != orig {
		t.Fatal("os.Stderr was not restored")
	}
	if !strings.Contains(tail, "bench drain: it broke") {
		t.Errorf("tail = %q, want the line written to stderr", tail)
	}
}

// TestRenderSummary renders README.md from the fixture results: two runs
// that passed, one that failed, one left out with --only whose earlier
// results are still there. Run with -update to rewrite the golden file.
func TestRenderSummary(t *testing.T) {
	files, err := chart.CollectResults("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	earlier := time.Date(2026, 8, 20, 9, 30, 0, 0, time.UTC)
	for i := range files {
		files[i].Written = earlier
	}
	groups, err := chart.ChartGroups(files)
	if err != nil {
		t.Fatal(err)
	}
	rep := suiteReport{
		Started: time.Date(2026, 8, 21, 14, 5, 0, 0, time.UTC),
		Total:   23*time.Minute + 41*time.Second,
		Runs: []workloadRun{
			{Name: "drain", Status: runOK, Duration: 3*time.Minute + 12*time.Second},
			{Name: "latency", Status: runOK, Duration: 9*time.Minute + 58*time.Second},
			{Name: "filters", Status: runFailed, Reason: "flag provided but not defined: -json", Duration: 40 * time.Millisecond},
			{Name: "fanout", Status: runOK, Duration: 8*time.Minute + 3*time.Second},
			{Name: "idle", Status: runSkipped},
		},
		Results: files,
		Reports: []string{"drain", "latency", "fanout", "idle"},
	}
	for _, g := range groups {
		rep.Charts = append(rep.Charts, g.ChartFile)
	}
	got := renderSummary(rep)
	golden := filepath.Join("testdata", "summary.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v; run go test ./bench -run TestRenderSummary -update to create it", err)
	}
	if got != string(want) {
		t.Errorf("summary differs from %s (go test ./bench -run TestRenderSummary -update rewrites it after a deliberate change):\n--- got\n%s", golden, got)
	}
	// Every fixture target is in the table, the missed ones as missed.
	for _, f := range files {
		for _, tg := range f.Targets {
			row := "| " + f.Workload + " | " + markdownCell(tg.Name) + " |"
			if !strings.Contains(got, row) {
				t.Errorf("target %q of %s is not in the table", tg.Name, f.Workload)
			}
		}
	}
	if !strings.Contains(got, "4 of 7 targets met.") {
		t.Errorf("want 4 of 7 targets met: 4 met, 2 missed and the failed filters run")
	}
}

// TestRunWorkloadFailure runs a command the dispatch does not know: the
// run fails with the error that run printed, and the suite goes on.
func TestRunWorkloadFailure(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "nosuch.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := func(_ context.Context, args []string) int {
		fmt.Fprintf(os.Stderr, "bench %s: unknown command %q\n\nUsage: ...\n", args[0], args[0])
		return 2
	}
	w := runWorkload(context.Background(), unknown, "nosuch", suiteOptions{out: dir, only: []string{"nosuch"}}, "/nonexistent/walcast")
	if w.Status != runFailed || w.Reason != `unknown command "nosuch"` {
		t.Errorf("got %+v, want failed with the unknown command error", w)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the results of an earlier run are still there after a failed run")
	}
	if w := runWorkload(context.Background(), unknown, "drain", suiteOptions{out: dir, only: []string{"idle"}}, ""); w.Status != runSkipped {
		t.Errorf("drain with --only idle: got %+v, want skipped", w)
	}
}

// TestFinishSuite writes README.md and the charts from the fixture results
// and fails the suite when a workload failed.
func TestFinishSuite(t *testing.T) {
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/results", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep := suiteReport{Started: time.Now(), Runs: []workloadRun{{Name: "drain", Status: runOK}, {Name: "filters", Status: runFailed, Reason: "boom"}}}
	err = finishSuite(context.Background(), rep, dir)
	if err == nil || !strings.Contains(err.Error(), "filters") {
		t.Errorf("finishSuite = %v, want an error naming the failed workload", err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"![Broadcast p99 latency](fanout-latency.png)", "| filters | all targets |"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fanout-latency.png")); err != nil {
		t.Error(err)
	}
	rep.Runs = rep.Runs[:1]
	if err := finishSuite(context.Background(), rep, dir); err != nil {
		t.Errorf("finishSuite with every run ok = %v, want nil", err)
	}
}

// TestSkippedRunDate: a workload left out with --only shows when its
// results were written, from the file itself, never from its mtime (a
// checkout gives every file a new one).
func TestSkippedRunDate(t *testing.T) {
	dir := t.TempDir()
	before := time.Now().UTC().Add(-time.Second)
	if err := report.WriteResults(filepath.Join(dir, "idle.json"), report.Results{Workload: "idle"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "drain.json"), []byte(`{"workload":"drain","targets":[],"series":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := chart.CollectResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	idle, ok := resultsOf(files, "idle")
	if !ok || idle.Written.Before(before) || idle.Written.After(time.Now()) {
		t.Fatalf("idle.json written at %v, want the time of writeResults", idle.Written)
	}
	rep := suiteReport{Runs: []workloadRun{{Name: "drain", Status: runSkipped}, {Name: "idle", Status: runSkipped}}, Results: files}
	table := renderRunTable(rep)
	for _, want := range []string{
		"its results below are from an earlier run (its file does not record when)",
		"its results below are from " + idle.Written.Format("2006-01-02 15:04 MST"),
	} {
		if !strings.Contains(table, want) {
			t.Errorf("run table lacks %q:\n%s", want, table)
		}
	}
}
