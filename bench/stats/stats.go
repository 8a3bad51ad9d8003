package stats

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Result holds the timed runs of one consumer on one load.
type Result struct {
	Load     string
	Consumer string
	Rows     int
	Wall     []time.Duration // run time; what it spans is the workload's method
	CPU      []time.Duration // the consumer process's user + system time
	// Walsender is the CPU time of the walsender serving the consumer, per
	// run, when the workload measures it; the table then shows it.
	Walsender []time.Duration
	// Runs in which the consumer did not deliver every row; they have no
	// wall or CPU time. failure says why the first one failed.
	Failed  int
	Failure string
}

// summary condenses a result. Rates are rows per second; rate is the rate
// at the median wall time.
type summary struct {
	median, medianCPU time.Duration
	medianWalsender   time.Duration
	Rate, min, max    float64
}

func Summarize(r Result) summary {
	s := summary{median: Median(r.Wall), medianCPU: Median(r.CPU), medianWalsender: Median(r.Walsender)}
	if s.median <= 0 {
		return s
	}
	s.Rate = RowsPerSecond(r.Rows, s.median)
	s.min = RowsPerSecond(r.Rows, slices.Max(r.Wall))
	s.max = RowsPerSecond(r.Rows, slices.Min(r.Wall))
	return s
}

// Median returns the middle value of vs (the mean of the two middle values
// for an even count), or 0 for none. It leaves vs as it is.
func Median[T ~int64 | ~float64](vs []T) T {
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

// Duplicates counts the ids that occur more than once. It sorts ids.
func Duplicates(ids []int64) int64 {
	slices.Sort(ids)
	var n int64
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			n++
		}
	}
	return n
}

func RowsPerSecond(rows int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(rows) / d.Seconds()
}

// WriteTable writes results as a Markdown table. The last column compares
// each consumer's median rate with that of the consumer named ref on the
// same load.
func WriteTable(w io.Writer, results []Result, ref string) error {
	return WriteRateTable(w, results, ref, "client CPU s (median)")
}

// WriteRateTable is writeTable with cpuHeader as the heading of the CPU
// column, for tables whose CPU is not always the client's.
func WriteRateTable(w io.Writer, results []Result, ref, cpuHeader string) error {
	refRate := map[string]float64{}
	for _, r := range results {
		if r.Consumer == ref {
			refRate[r.Load] = Summarize(r).Rate
		}
	}
	walsender := slices.ContainsFunc(results, func(r Result) bool { return len(r.Walsender) > 0 })
	walsenderHead, walsenderRule := "", ""
	if walsender {
		walsenderHead, walsenderRule = " walsender CPU s (median) |", "---:|"
	}
	if _, err := fmt.Fprintf(w, "| load | consumer | runs | median s | rows/s (median) | min–max rows/s | %s |%s rows/s ÷ %s |\n", cpuHeader, walsenderHead, ref); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|"+walsenderRule+"---:|"); err != nil {
		return err
	}
	for _, r := range results {
		s := Summarize(r)
		runs := strconv.Itoa(len(r.Wall))
		if r.Failed > 0 {
			runs += fmt.Sprintf(" (%d failed)", r.Failed)
		}
		if len(r.Wall) == 0 {
			dashes := "— | — | — | — | — |"
			if walsender {
				dashes += " — |"
			}
			if _, err := fmt.Fprintf(w, "| %s | %s | %s | %s\n", r.Load, r.Consumer, runs, dashes); err != nil {
				return err
			}
			continue
		}
		ratio := "—"
		if base := refRate[r.Load]; r.Consumer != ref && base > 0 {
			ratio = fmt.Sprintf("%.2f", s.Rate/base)
		}
		ws := ""
		if walsender {
			ws = fmt.Sprintf(" %.2f |", s.medianWalsender.Seconds())
		}
		_, err := fmt.Fprintf(w, "| %s | %s | %s | %.3f | %s | %s–%s | %.2f |%s %s |\n",
			r.Load, r.Consumer, runs, s.median.Seconds(), Group(s.Rate), Group(s.min), Group(s.max), s.medianCPU.Seconds(), ws, ratio)
		if err != nil {
			return err
		}
	}
	return nil
}

// Group rounds f to an integer and writes it with thousands separators.
func Group(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func Btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Ms formats microseconds as milliseconds.
func Ms(us int64) string { return fmt.Sprintf("%.2f", float64(us)/1000) }
