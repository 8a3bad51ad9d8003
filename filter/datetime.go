package filter

import (
	"math"
	"strconv"
)

// Dates compare as days since 1970-01-01 and timestamps as microseconds
// since 1970-01-01 00:00 UTC, with infinity and -infinity at the ends of
// int64 as Postgres stores them. The parsers read the ISO forms Postgres
// prints with DateStyle=ISO ("2024-05-06", "2024-05-06 01:38:09.5+00",
// "0044-03-15 BC") and the ISO 8601 variants people write in filters
// ("2024-05-06T01:38:09.5Z", "+02:00" offsets). Postgres's free-form input
// ("May 6 2024", "now", "today") is not understood.

const (
	usPerSec = 1_000_000
	usPerDay = 86_400 * usPerSec
)

// parseDate parses "[Y]YYY-M[M]-D[D][ BC]", "infinity" or "-infinity".
func parseDate(s []byte) (int64, bool) {
	s = trimSpaceBytes(s)
	if v, ok := parseInfinity(s); ok {
		return v, true
	}
	y, m, d, rest, ok := parseYMD(s)
	if !ok {
		return 0, false
	}
	rest, bc := cutBC(rest)
	if len(rest) != 0 {
		return 0, false
	}
	return civilDays(y, m, d, bc)
}

// parseTimestamp parses "<date>[( |T)HH:MM[:SS[.frac]]][zone][ BC]". With
// tz the zone (Z, UTC, ±HH, ±HHMM, ±HH:MM, ±HH:MM:SS) is applied and a
// missing zone means UTC; without tz a zone is ignored, as timestamp input
// ignores it.
func parseTimestamp(s []byte, tz bool) (int64, bool) {
	s = trimSpaceBytes(s)
	if v, ok := parseInfinity(s); ok {
		return v, true
	}
	y, m, d, rest, ok := parseYMD(s)
	if !ok {
		return 0, false
	}
	var us int64
	if len(rest) > 1 && (rest[0] == ' ' || rest[0] == 'T' || rest[0] == 't') && isDigit(rest[1]) {
		us, rest, ok = parseClock(rest[1:])
		if !ok {
			return 0, false
		}
	}
	var off int64
	rest, bc := cutBC(rest)
	if len(rest) > 0 {
		off, ok = parseZone(rest)
		if !ok {
			return 0, false
		}
	}
	days, ok := civilDays(y, m, d, bc)
	if !ok {
		return 0, false
	}
	if !tz {
		off = 0
	}
	// Stay well inside int64 (Postgres's range ends in 294276 AD).
	if days > 100_000_000 || days < -100_000_000 {
		return 0, false
	}
	return days*usPerDay + us - off*usPerSec, true
}

func parseInfinity(s []byte) (int64, bool) {
	switch {
	case equalFold(s, "infinity"), equalFold(s, "+infinity"):
		return math.MaxInt64, true
	case equalFold(s, "-infinity"):
		return math.MinInt64, true
	}
	return 0, false
}

// parseYMD reads year-month-day as written; civilDays validates the day.
func parseYMD(s []byte) (y, m, d int64, rest []byte, ok bool) {
	y, s, ok = digitsField(s, 1, 7)
	if !ok || len(s) == 0 || s[0] != '-' {
		return 0, 0, 0, nil, false
	}
	m, s, ok = digitsField(s[1:], 1, 2)
	if !ok || len(s) == 0 || s[0] != '-' {
		return 0, 0, 0, nil, false
	}
	d, s, ok = digitsField(s[1:], 1, 2)
	if !ok || y == 0 || m < 1 || m > 12 || d < 1 {
		return 0, 0, 0, nil, false
	}
	return y, m, d, s, true
}

// civilDays returns days since the epoch for a date written as year y (BC
// when bc: astronomical year 1-y, so 1 BC is the leap year 0).
func civilDays(y, m, d int64, bc bool) (int64, bool) {
	if bc {
		y = 1 - y
	}
	if d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

func cutBC(s []byte) ([]byte, bool) {
	if n := len(s); n >= 3 && s[n-3] == ' ' && equalFold(s[n-2:], "bc") {
		return s[:n-3], true
	}
	return s, false
}

// parseClock reads HH:MM[:SS[.frac]] into microseconds.
func parseClock(s []byte) (int64, []byte, bool) {
	h, s, ok := digitsField(s, 1, 2)
	if !ok || len(s) == 0 || s[0] != ':' {
		return 0, nil, false
	}
	m, s, ok := digitsField(s[1:], 2, 2)
	if !ok {
		return 0, nil, false
	}
	var sec, frac int64
	if len(s) > 0 && s[0] == ':' {
		if sec, s, ok = digitsField(s[1:], 2, 2); !ok {
			return 0, nil, false
		}
		if len(s) > 0 && s[0] == '.' {
			if frac, s, ok = parseFraction(s[1:]); !ok {
				return 0, nil, false
			}
		}
	}
	if m > 59 || sec > 60 || h > 24 || (h == 24 && (m > 0 || sec > 0 || frac > 0)) {
		return 0, nil, false
	}
	return ((h*60+m)*60+sec)*usPerSec + frac, s, true
}

// parseFraction reads fractional-second digits as microseconds, rounding
// beyond six digits the way Postgres does (rint of the double).
func parseFraction(s []byte) (int64, []byte, bool) {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == 0 {
		return 0, nil, false
	}
	if n <= 6 {
		v, _, _ := digitsField(s[:n], 1, 6)
		for i := n; i < 6; i++ {
			v *= 10
		}
		return v, s[n:], true
	}
	f, err := strconv.ParseFloat("0."+string(s[:n]), 64)
	if err != nil {
		return 0, nil, false
	}
	return int64(math.RoundToEven(f * usPerSec)), s[n:], true
}

// parseZone reads an optional space then Z, UTC, GMT or ±HH[[:]MM[:SS]],
// and returns the offset east of UTC in seconds.
func parseZone(s []byte) (int64, bool) {
	if len(s) > 1 && s[0] == ' ' {
		s = s[1:]
	}
	if equalFold(s, "z") || equalFold(s, "utc") || equalFold(s, "gmt") {
		return 0, true
	}
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	sign := int64(1)
	if s[0] == '-' {
		sign = -1
	}
	if len(s) == 5 && allDigits(s[1:]) { // ±HHMM
		s = []byte{s[0], s[1], s[2], ':', s[3], s[4]}
	}
	h, rest, ok := digitsField(s[1:], 1, 2)
	if !ok {
		return 0, false
	}
	var m, sec int64
	switch {
	case len(rest) == 0:
	case rest[0] == ':':
		if m, rest, ok = digitsField(rest[1:], 2, 2); !ok {
			return 0, false
		}
		if len(rest) > 0 && rest[0] == ':' {
			if sec, rest, ok = digitsField(rest[1:], 2, 2); !ok {
				return 0, false
			}
		}
	default:
		return 0, false
	}
	if len(rest) != 0 || h > 15 || m > 59 || sec > 59 {
		return 0, false
	}
	return sign * ((h*60+m)*60 + sec), true
}

// digitsField reads between min and max decimal digits.
func digitsField(s []byte, min, max int) (int64, []byte, bool) {
	var v int64
	n := 0
	for n < len(s) && n < max && isDigit(s[n]) {
		v = v*10 + int64(s[n]-'0')
		n++
	}
	if n < min || (n < len(s) && isDigit(s[n])) {
		return 0, nil, false
	}
	return v, s[n:], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil converts a proleptic Gregorian date (astronomical year) to
// days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
