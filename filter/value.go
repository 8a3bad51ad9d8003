package filter

import (
	"bytes"
	"cmp"
	"math"
	"strconv"
)

// value is a column value or a constant in the form it is compared in. Row
// values are parsed from the Postgres text output on every match, so the
// parsers here do not allocate: b and d reference the input bytes.
type value struct {
	i int64   // tInt, tBool (0/1), tDate (days), tTimestamp/tTimestamptz (µs), tUUID (high half)
	u uint64  // tUUID low half
	f float64 // tFloat4, tFloat8
	b []byte  // text types; tBytea: lower-case hex digits
	d decimal // tNumeric
}

// parseValue parses the text output of a column of type t. It accepts what
// Postgres prints (and, for most types, more); ok is false for anything
// else, which a filter treats as an unknown value.
func parseValue(t colType, s []byte) (v value, ok bool) {
	switch t {
	case tInt:
		v.i, ok = parseInt(s)
	case tFloat4, tFloat8:
		v.f, ok = parseFloat(s, t == tFloat4)
	case tNumeric:
		v.d, ok = parseDecimal(s)
	case tBool:
		var b bool
		b, ok = parseBool(s)
		if b {
			v.i = 1
		}
	case tText, tOpaque:
		v.b, ok = s, true
	case tBpchar:
		v.b, ok = bytes.TrimRight(s, " "), true
	case tUUID:
		v.i, v.u, ok = parseUUID(s)
	case tDate:
		v.i, ok = parseDate(s)
	case tTimestamp, tTimestamptz:
		v.i, ok = parseTimestamp(s, t == tTimestamptz)
	case tBytea:
		v.b, ok = parseByteaHex(s)
	}
	return v, ok
}

// compare orders two values of type t as Postgres does: NaN equals NaN and
// sorts above every other float or numeric; text compares byte-wise.
func compare(t colType, a, b *value) int {
	switch t {
	case tInt, tBool, tDate, tTimestamp, tTimestamptz:
		return cmp.Compare(a.i, b.i)
	case tUUID:
		if c := cmp.Compare(uint64(a.i), uint64(b.i)); c != 0 {
			return c
		}
		return cmp.Compare(a.u, b.u)
	case tFloat4, tFloat8:
		return compareFloat(a.f, b.f)
	case tNumeric:
		return compareDecimal(&a.d, &b.d)
	}
	return bytes.Compare(a.b, b.b)
}

func compareFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

// parseInt parses an optionally signed decimal integer, surrounded by
// optional whitespace as int2in/int4in/int8in allow.
func parseInt(s []byte) (int64, bool) {
	s = trimSpaceBytes(s)
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// parseFloat parses float4/float8 text: decimal or exponent notation, NaN,
// Infinity, -Infinity (any case, "inf" too), optionally surrounded by
// whitespace. strconv alone is too lenient (it takes "1_0" and hex floats).
func parseFloat(s []byte, single bool) (float64, bool) {
	s = trimSpaceBytes(s)
	if len(s) == 0 {
		return 0, false
	}
	digits := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E':
		default:
			return parseFloatWord(s)
		}
	}
	if !digits {
		return 0, false
	}
	bits := 64
	if single {
		bits = 32
	}
	// string(s) does not allocate: strconv does not retain its input.
	f, err := strconv.ParseFloat(string(s), bits)
	if err != nil {
		return 0, false
	}
	if f == 0 && hasNonZeroMantissa(s) {
		return 0, false // underflow: Postgres reports it out of range
	}
	return f, true
}

func parseFloatWord(s []byte) (float64, bool) {
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case equalFold(s, "infinity"), equalFold(s, "inf"):
		return math.Inf(int(sign)), true
	case equalFold(s, "nan") && sign == 1:
		return math.NaN(), true
	}
	return 0, false
}

func hasNonZeroMantissa(s []byte) bool {
	for _, c := range s {
		if c == 'e' || c == 'E' {
			return false
		}
		if c >= '1' && c <= '9' {
			return true
		}
	}
	return false
}

// parseBool accepts what boolin accepts: unique prefixes of true, false,
// yes, no, on (two letters), off (two letters), and 1 or 0, in any case.
func parseBool(s []byte) (bool, bool) {
	s = trimSpaceBytes(s)
	if len(s) == 0 {
		return false, false
	}
	prefix := func(word string, min int) bool {
		return len(s) >= min && len(s) <= len(word) && equalFold(s, word[:len(s)])
	}
	switch {
	case prefix("true", 1), prefix("yes", 1), prefix("on", 2), len(s) == 1 && s[0] == '1':
		return true, true
	case prefix("false", 1), prefix("no", 1), prefix("off", 2), len(s) == 1 && s[0] == '0':
		return false, true
	}
	return false, false
}

// parseUUID accepts what uuid_in accepts: 32 hex digits in any case,
// optionally in braces, with a hyphen allowed after any group of four.
func parseUUID(s []byte) (hi int64, lo uint64, ok bool) {
	if len(s) > 0 && s[0] == '{' {
		if s[len(s)-1] != '}' {
			return 0, 0, false
		}
		s = s[1 : len(s)-1]
	}
	var h, l uint64
	n := 0
	for i, c := range s {
		if c == '-' {
			if n == 0 || n == 32 || n%4 != 0 || s[i-1] == '-' {
				return 0, 0, false
			}
			continue
		}
		d, ok := hexDigit(c)
		if !ok || n == 32 {
			return 0, 0, false
		}
		if n < 16 {
			h = h<<4 | uint64(d)
		} else {
			l = l<<4 | uint64(d)
		}
		n++
	}
	if n != 32 || s[len(s)-1] == '-' {
		return 0, 0, false
	}
	return int64(h), l, true
}

// parseByteaHex accepts the hex output format (\x followed by lower-case
// hex digit pairs) and returns the digits, which order like the bytes.
func parseByteaHex(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '\\' || s[1] != 'x' || len(s)%2 != 0 {
		return nil, false
	}
	for _, c := range s[2:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	return s[2:], true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// equalFold compares ASCII case-insensitively; word is lower case.
func equalFold(s []byte, word string) bool {
	if len(s) != len(word) {
		return false
	}
	for i := range s {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

func trimSpaceBytes(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
