package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/bench/stats"
)

// Results is what a workload writes with --json: the targets it checked and
// the data of its charts. The suite command reads these files to print the
// summary table and draw the PNG charts, so every workload reports in the
// same shape.
type Results struct {
	Workload string    `json:"workload"`         // drain, latency, filters, mixed, rls, fanout, idle, sse, sizes, storm, soak
	Machine  string    `json:"machine"`          // one line: cores, CPU, versions, settings
	Written  time.Time `json:"written,omitzero"` // when the workload finished; a file's mtime only tells when it was checked out
	Targets  []Target  `json:"targets"`
	Series   []Series  `json:"series"`
}

// Target is one performance target and what this run measured for it.
type Target struct {
	Name     string  `json:"name"`     // "WAL drain, 200k-row transaction: walcast tail / pg_recvlogical"
	Goal     string  `json:"goal"`     // "≥ 0.80"
	Measured string  `json:"measured"` // "1.17 (118,709 vs 101,352 rows/s)"
	Ratio    float64 `json:"ratio"`    // the number compared with the goal (a ratio, ms or KB)
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"` // what the profile says when missed
}

// Series is one line of a chart. Series with the same Chart are drawn
// together into docs/benchmarks/<Chart>.png.
type Series struct {
	Chart  string `json:"chart"`  // file name without extension: "fanout-throughput"
	Title  string `json:"title"`  // chart title (the same for every series of a chart)
	XLabel string `json:"xlabel"` // axis labels, with units
	YLabel string `json:"ylabel"`
	LogX   bool   `json:"logx,omitempty"`
	LogY   bool   `json:"logy,omitempty"`
	Name   string `json:"name"` // legend entry: "walcast", "Centrifugo v6.9.1"
	// Caption is what a reader of the chart must know so as not to be
	// misled ("loopback, 2 cores shared with Postgres and the clients"); it
	// is written under the plot. The captions of a chart's series are all
	// written, each once, in order.
	Caption string    `json:"caption,omitempty"`
	X       []float64 `json:"x"`
	Y       []float64 `json:"y"`
}

// WriteResults writes r to path as indented JSON, unless path is empty.
func WriteResults(path string, r Results) error {
	if path == "" {
		return nil
	}
	if r.Written.IsZero() {
		r.Written = time.Now().UTC().Truncate(time.Second)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ReadResults reads a file written by writeResults.
func ReadResults(path string) (Results, error) {
	var r Results
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// LatencySeries turns a histogram of microsecond samples into a
// distribution line: x = latency in ms, y = percentile (0–100).
func LatencySeries(h *stats.Histogram, chart, title, name string) Series {
	s := Series{Chart: chart, Title: title, XLabel: "latency (ms)", YLabel: "percentile", LogX: true, Name: name}
	if h == nil || h.N == 0 {
		return s
	}
	for _, q := range []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1} {
		v := float64(h.Quantile(q)) / 1000
		if v <= 0 {
			v = 0.001 // log axis: a sample of 0 µs is drawn at 1 µs
		}
		s.X = append(s.X, v)
		s.Y = append(s.Y, q*100)
	}
	return s
}

// LoopbackCaption is the caveat of every chart of a workload whose servers,
// clients and Postgres run on one machine.
func LoopbackCaption(cores int) string {
	return fmt.Sprintf("Loopback: server, load clients and Postgres share the same %d cores; absolute figures hold for this machine only.", cores)
}

// PublishReport prints the Markdown report of a workload, also writes it
// to out when given, and writes res as JSON to jsonPath when given.
func PublishReport(report []byte, out, jsonPath string, res Results) error {
	if _, err := os.Stdout.Write(report); err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, report, 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return WriteResults(jsonPath, res)
}

// SuiteWorkloads are the commands the suite runs, in this order. The
// summary and the charts list them in the same order.
var SuiteWorkloads = []string{"drain", "latency", "filters", "mixed", "rls", "fanout", "idle", "sse", "sizes", "storm", "soak"}

// Where the suite writes by default. A quick run has a directory of its own
// so that it never overwrites the committed full results.
const (
	DefaultSuiteDir = "docs/benchmarks"
	DefaultQuickDir = "docs/benchmarks/quick"
)

// TruncateText shortens s to at most n runes, marking the cut.
func TruncateText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
