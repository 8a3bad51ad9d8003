package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Histogram counts latencies in microseconds in log-linear buckets: exact
// below 256 µs, then 128 buckets per power of two, so a quantile is off by
// at most 0.4 % (half a bucket). It is not safe for concurrent use.
type Histogram struct {
	counts []uint64
	N      uint64
	Max    int64
	Neg    uint64 // negative samples (the clock stepped back), counted as 0
}

// Arrivals is what a latency receiver records of the rows it counts: their
// latencies, how many, and when the first and last arrived.
type Arrivals struct {
	Hist        Histogram
	Recv        atomic.Int64
	First, Last int64 // arrival of the first and last counted row, Unix ns
}

// Record counts a row sent at sent (Unix µs) that arrived at now (Unix ns).
// Only the receiver's own loop calls it.
func (a *Arrivals) Record(now, sent int64) {
	a.Hist.Record(now/1000 - sent)
	if a.Recv.Load() == 0 {
		a.First = now
	}
	a.Last = now
	a.Recv.Add(1)
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histMaxUS   = 1 << 40 // about 12 days: larger samples are clamped
)

// histBucket returns the bucket of v.
func histBucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// histRange returns the smallest value of bucket i and the bucket's width.
func histRange(i int) (lo, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	shift := i/histSub - 1
	return uint64(i%histSub+histSub) << shift, 1 << shift
}

// Record adds one sample of us microseconds.
func (h *Histogram) Record(us int64) {
	if us < 0 {
		h.Neg++
		us = 0
	}
	us = min(us, histMaxUS)
	b := histBucket(uint64(us))
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	h.N++
	h.Max = max(h.Max, us)
}

// Merge adds every sample of o.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.N += o.N
	h.Neg += o.Neg
	h.Max = max(h.Max, o.Max)
}

// Quantile returns the value below or at which a fraction q of the samples
// lie (the middle of that sample's bucket, at most the maximum), or 0 when
// there are none.
func (h *Histogram) Quantile(q float64) int64 {
	if h.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.N)))
	rank = min(max(rank, 1), h.N)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, width := histRange(i)
			return min(int64(lo+width/2), h.Max)
		}
	}
	return h.Max
}

// ParseStamp parses a timestamp as both receivers see it in UTC sessions,
// Postgres text "2024-05-06 01:38:09.123456+00" and walcast JSON
// "2024-05-06T01:38:09.123456Z", into Unix microseconds. Zones may also be
// ±HH:MM or ±HHMM; fractions beyond microseconds are truncated.
func ParseStamp(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, ok1 := Digits(b[0:4])
	mo, ok2 := Digits(b[5:7])
	d, ok3 := Digits(b[8:10])
	hh, ok4 := Digits(b[11:13])
	mi, ok5 := Digits(b[14:16])
	ss, ok6 := Digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	i := 19
	var frac, scale int64 = 0, 1_000_000
	if b[i] == '.' {
		i++
		start := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if scale > 1 {
				scale /= 10
				frac += int64(b[i]-'0') * scale
			}
		}
		if i == start {
			return 0, false
		}
	}
	var off int64
	switch {
	case i < len(b) && b[i] == 'Z':
		i++
	case i+3 <= len(b) && (b[i] == '+' || b[i] == '-'):
		oh, ok := Digits(b[i+1 : i+3])
		if !ok {
			return 0, false
		}
		sign := b[i]
		i += 3
		var om int64
		if i < len(b) && b[i] == ':' {
			i++
		}
		if i+2 <= len(b) {
			if om, ok = Digits(b[i : i+2]); !ok {
				return 0, false
			}
			i += 2
		}
		off = oh*3600 + om*60
		if sign == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	if i != len(b) {
		return 0, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + hh*3600 + mi*60 + ss - off
	return secs*1_000_000 + frac, true
}

func Digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// daysFromCivil returns the days from 1970-01-01 to the given proleptic
// Gregorian date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// HistJSON carries a histogram from a load process to the parent.
type HistJSON struct {
	Counts []uint64
	N, Neg uint64
	Max    int64
}

func (h *Histogram) ToJSON() HistJSON {
	return HistJSON{Counts: h.counts, N: h.N, Neg: h.Neg, Max: h.Max}
}

func (j HistJSON) Histogram() *Histogram {
	return &Histogram{counts: j.Counts, N: j.N, Neg: j.Neg, Max: j.Max}
}
