package latency

import "github.com/walcast/walcast/bench/stats"

// noFigure stands where a latency would be computed from no deliveries: an
// empty histogram has no quantiles, and 0 ms (or a difference against 0)
// would read as a result.
const noFigure = "—"

// quantileMs is the q-quantile of h in ms, or noFigure when h is empty.
func quantileMs(h *stats.Histogram, q float64) string {
	if h.N == 0 {
		return noFigure
	}
	return stats.Ms(h.Quantile(q))
}

// maxMs is the largest sample of h in ms, or noFigure when h is empty.
func maxMs(h *stats.Histogram) string {
	if h.N == 0 {
		return noFigure
	}
	return stats.Ms(h.Max)
}

// deltaMs is h's q-quantile minus base's in ms, or noFigure when either
// is empty.
func deltaMs(h, base *stats.Histogram, q float64) string {
	if h.N == 0 || base.N == 0 {
		return noFigure
	}
	return stats.Ms(h.Quantile(q) - base.Quantile(q))
}
