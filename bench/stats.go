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
	wall     []time.Duration // client process, start to exit
	cpu      []time.Duration // client process user + system time
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

// median returns the middle value of ds (the mean of the two middle values
// for an even count), or 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
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
	refRate := map[string]float64{}
	for _, r := range results {
		if r.consumer == ref {
			refRate[r.load] = summarize(r).rate
		}
	}
	if _, err := fmt.Fprintf(w, "| load | consumer | runs | median s | rows/s (median) | min–max rows/s | client CPU s (median) | rows/s ÷ %s |\n", ref); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|"); err != nil {
		return err
	}
	for _, r := range results {
		s := summarize(r)
		ratio := "—"
		if base := refRate[r.load]; r.consumer != ref && base > 0 {
			ratio = fmt.Sprintf("%.2f", s.rate/base)
		}
		_, err := fmt.Fprintf(w, "| %s | %s | %d | %.3f | %s | %s–%s | %.2f | %s |\n",
			r.load, r.consumer, len(r.wall), s.median.Seconds(), group(s.rate), group(s.min), group(s.max), s.medianCPU.Seconds(), ratio)
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
