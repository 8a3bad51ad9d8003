package chart

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// logTicks marks a log axis at 1, 2, …, 9 times each power of ten and
// labels the powers of ten, plus 2 and 5 when the axis spans at most 2.5
// decades.
// Unlike plot.LogTicks it also labels an axis that starts below 1.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	few := math.Log10(hi/lo) <= 2.5
	var ticks []plot.Tick
	labelled := 0
	for e := first; e <= last; e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || few && (m == 2 || m == 5) {
				t.Label = formatTickValue(v)
				labelled++
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 2 { // within one decade: label every tick
		for i := range ticks {
			ticks[i].Label = formatTickValue(ticks[i].Value)
		}
	}
	return ticks
}

// readableTicks label a linear axis at 4 to 9 round values (steps of 1, 2
// or 5 times a power of ten, like 0, 20k, 40k, 60k) with short labels.
// plot.DefaultTicks label only about three.
type readableTicks struct{}

func (readableTicks) Ticks(lo, hi float64) []plot.Tick {
	step := niceStep((hi - lo) / 8)
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		v := i * step
		ticks = append(ticks, plot.Tick{Value: v, Label: formatTickValue(v)})
		if minor := v + step/2; minor <= hi {
			ticks = append(ticks, plot.Tick{Value: minor})
		}
	}
	return ticks
}

// niceStep is the smallest of 1, 2 and 5 times a power of ten that is at
// least raw.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// formatTickValue writes v short: 0.05, 250, 12k, 1.5M.
func formatTickValue(v float64) string {
	short := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	switch a := math.Abs(v); {
	case a >= 1e6:
		return short(v/1e6) + "M"
	case a >= 1e4:
		return short(v/1e3) + "k"
	case a < 1e-9:
		return "0"
	}
	s := short(v)
	if strings.Contains(s, "e") { // very small: plain decimals read better
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return s
}
