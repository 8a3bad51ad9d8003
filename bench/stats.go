package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// result holds the timed runs of one consumer on one load.
type result struct {
	load     string
	consumer string
	rows     int
	wall     []time.Duration // run time; what it spans is the workload's method
	cpu      []time.Duration // the consumer process's user + system time
	// Runs in which the consumer did not deliver every row; they have no
	// wall or CPU time. failure says why the first one failed.
	failed  int
	failure string
}

// summary condenses a result. Rates are rows per second; rate is the rate
// at the median wall time.
type summary struct {
	median, medianCPU time.Duration
	rate, min, max    float64
}

func summarize(r result) summary {
	s := summary{median: median(r.wall), medianCPU: median(r.cpu)}
	if s.median <= 0 {
		return s
	}
	s.rate = rowsPerSecond(r.rows, s.median)
	s.min = rowsPerSecond(r.rows, slices.Max(r.wall))
	s.max = rowsPerSecond(r.rows, slices.Min(r.wall))
	return s
}

// median returns the middle value of vs (the mean of the two middle values
// for an even count), or 0 for none. It leaves vs as it is.
func median[T ~int64 | ~float64](vs []T) T {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// duplicates counts the ids that occur more than once. It sorts ids.
func duplicates(ids []int64) int64 {
	slices.Sort(ids)
	var n int64
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			n++
		}
	}
	return n
}

func rowsPerSecond(rows int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(rows) / d.Seconds()
}

// writeTable writes results as a Markdown table. The last column compares
// each consumer's median rate with that of the consumer named ref on the
// same load.
func writeTable(w io.Writer, results []result, ref string) error {
	return writeRateTable(w, results, ref, "client CPU s (median)")
}

// writeRateTable is writeTable with cpuHeader as the heading of the CPU
// column, for tables whose CPU is not always the client's.
func writeRateTable(w io.Writer, results []result, ref, cpuHeader string) error {
	refRate := map[string]float64{}
	for _, r := range results {
		if r.consumer == ref {
			refRate[r.load] = summarize(r).rate
		}
	}
	if _, err := fmt.Fprintf(w, "| load | consumer | runs | median s | rows/s (median) | min–max rows/s | %s | rows/s ÷ %s |\n", cpuHeader, ref); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|"); err != nil {
		return err
	}
	for _, r := range results {
		s := summarize(r)
		runs := strconv.Itoa(len(r.wall))
		if r.failed > 0 {
			runs += fmt.Sprintf(" (%d failed)", r.failed)
		}
		if len(r.wall) == 0 {
			if _, err := fmt.Fprintf(w, "| %s | %s | %s | — | — | — | — | — |\n", r.load, r.consumer, runs); err != nil {
				return err
			}
			continue
		}
		ratio := "—"
		if base := refRate[r.load]; r.consumer != ref && base > 0 {
			ratio = fmt.Sprintf("%.2f", s.rate/base)
		}
		_, err := fmt.Fprintf(w, "| %s | %s | %s | %.3f | %s | %s–%s | %.2f | %s |\n",
			r.load, r.consumer, runs, s.median.Seconds(), group(s.rate), group(s.min), group(s.max), s.medianCPU.Seconds(), ratio)
		if err != nil {
			return err
		}
	}
	return nil
}

// group rounds f to an integer and writes it with thousands separators.
func group(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
