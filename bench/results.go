package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Results is what a workload writes with --json: the targets it checked and
// the data of its charts. The suite command reads these files to print the
// summary table and draw the PNG charts, so every workload reports in the
// same shape.
type Results struct {
	Workload string    `json:"workload"`         // drain, latency, filters, fanout, idle
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
	Chart  string    `json:"chart"`  // file name without extension: "fanout-throughput"
	Title  string    `json:"title"`  // chart title (the same for every series of a chart)
	XLabel string    `json:"xlabel"` // axis labels, with units
	YLabel string    `json:"ylabel"`
	LogX   bool      `json:"logx,omitempty"`
	LogY   bool      `json:"logy,omitempty"`
	Name   string    `json:"name"` // legend entry: "walcast", "Centrifugo v6.9.1"
	X      []float64 `json:"x"`
	Y      []float64 `json:"y"`
}

// writeResults writes r to path as indented JSON, unless path is empty.
func writeResults(path string, r Results) error {
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

// readResults reads a file written by writeResults.
func readResults(path string) (Results, error) {
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

// latencySeries turns a histogram of microsecond samples into a
// distribution line: x = latency in ms, y = percentile (0–100).
func latencySeries(h *histogram, chart, title, name string) Series {
	s := Series{Chart: chart, Title: title, XLabel: "latency (ms)", YLabel: "percentile", LogX: true, Name: name}
	if h == nil || h.n == 0 {
		return s
	}
	for _, q := range []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1} {
		v := float64(h.quantile(q)) / 1000
		if v <= 0 {
			v = 0.001 // log axis: a sample of 0 µs is drawn at 1 µs
		}
		s.X = append(s.X, v)
		s.Y = append(s.Y, q*100)
	}
	return s
}
