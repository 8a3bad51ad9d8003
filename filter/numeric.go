package filter

import (
	"bytes"
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// decimal is an exact numeric value, kept as the digits of its text so
// that numeric columns compare without the rounding of float64.
type decimal struct {
	special int8   // decFinite, decPosInf, decNegInf or decNaN
	neg     bool   // finite and below zero
	ip      []byte // integer digits without leading zeros (empty for 0)
	fp      []byte // fraction digits without trailing zeros
}

const (
	decFinite int8 = iota
	decNegInf
	decPosInf
	decNaN
)

// rank orders the kinds: -Infinity < finite < Infinity < NaN (numeric_cmp).
func (d *decimal) rank() int {
	switch d.special {
	case decNegInf:
		return 0
	case decPosInf:
		return 2
	case decNaN:
		return 3
	}
	return 1
}

// parseDecimal parses plain decimal notation ("-12.340", "+.5", "7.") and
// the special values NaN, Infinity, -Infinity (numeric_in spellings),
// surrounded by optional whitespace. Exponent notation is turned into plain
// notation by constDecimal; Postgres never prints it for numeric.
func parseDecimal(s []byte) (decimal, bool) {
	var d decimal
	s = trimSpaceBytes(s)
	if len(s) == 0 {
		return d, false
	}
	if equalFold(s, "nan") { // numeric_in takes no sign on NaN
		d.special = decNaN
		return d, true
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if equalFold(s, "infinity") || equalFold(s, "inf") {
		d.special = decPosInf
		if neg {
			d.special = decNegInf
		}
		return d, true
	}
	ip, fp := s, s[:0]
	if dot := bytes.IndexByte(s, '.'); dot >= 0 {
		ip, fp = s[:dot], s[dot+1:]
	}
	if len(ip)+len(fp) == 0 || !allDigits(ip) || !allDigits(fp) {
		return d, false
	}
	d.ip = bytes.TrimLeft(ip, "0")
	d.fp = bytes.TrimRight(fp, "0")
	d.neg = neg && (len(d.ip) > 0 || len(d.fp) > 0)
	return d, true
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func compareDecimal(a, b *decimal) int {
	if ra, rb := a.rank(), b.rank(); ra != rb || ra != 1 {
		return cmp.Compare(ra, rb)
	}
	if a.neg != b.neg {
		if a.neg {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(a.ip), len(b.ip))
	if c == 0 {
		c = bytes.Compare(a.ip, b.ip)
	}
	if c == 0 {
		// Without trailing zeros, byte order of the fractions is numeric order.
		c = bytes.Compare(a.fp, b.fp)
	}
	if a.neg {
		return -c
	}
	return c
}

// appendDecimalKey appends the canonical text of d: equal numbers give
// equal keys whatever their scale ("1.50" and "1.5" give "1.5").
func appendDecimalKey(dst []byte, d *decimal) []byte {
	switch d.special {
	case decNaN:
		return append(dst, "NaN"...)
	case decPosInf:
		return append(dst, "Infinity"...)
	case decNegInf:
		return append(dst, "-Infinity"...)
	}
	if d.neg {
		dst = append(dst, '-')
	}
	if len(d.ip) == 0 {
		dst = append(dst, '0')
	}
	dst = append(dst, d.ip...)
	if len(d.fp) > 0 {
		dst = append(dst, '.')
		dst = append(dst, d.fp...)
	}
	return dst
}

// Limits of the numeric type: digits before and after the decimal point.
const (
	numericMaxInt  = 131072
	numericMaxFrac = 16383
)

// constDecimal parses a numeric constant, which unlike a row value may use
// exponent notation ("1.5e3"), into a decimal that owns its digits.
func constDecimal(s string) (decimal, error) {
	t := trimSpace(s)
	mant, exp, hasExp := strings.Cut(strings.ToLower(t), "e")
	if !hasExp {
		d, ok := parseDecimal([]byte(t))
		if !ok {
			return d, fmt.Errorf("not a number")
		}
		return d, nil
	}
	d, ok := parseDecimal([]byte(mant))
	if !ok || d.special != decFinite || isSpace(mant[len(mant)-1]) {
		return d, fmt.Errorf("not a number")
	}
	e, err := strconv.Atoi(exp)
	if err != nil || e > numericMaxInt || e < -numericMaxInt {
		return d, fmt.Errorf("bad exponent %q", exp)
	}
	// Shift the decimal point by e over the digit string ip+fp.
	digits := append(append([]byte{}, d.ip...), d.fp...)
	point := len(d.ip) + e
	switch {
	case point < 0:
		digits = append(bytes.Repeat([]byte{'0'}, -point), digits...)
		point = 0
	case point > len(digits):
		digits = append(digits, bytes.Repeat([]byte{'0'}, point-len(digits))...)
	}
	d.ip = bytes.TrimLeft(digits[:point], "0")
	d.fp = bytes.TrimRight(digits[point:], "0")
	d.neg = d.neg && (len(d.ip) > 0 || len(d.fp) > 0)
	if len(d.ip) > numericMaxInt || len(d.fp) > numericMaxFrac {
		return d, fmt.Errorf("value overflows numeric format")
	}
	return d, nil
}
