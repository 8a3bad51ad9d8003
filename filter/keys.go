package filter

import (
	"encoding/binary"
	"math"
)

// Canonical keys make equal values collide in the eq/in hash index: "007"
// and "7" (int), "1.50" and "1.5" (numeric), "1.0" and "1" (float), upper
// and lower case UUIDs, "true" and "t", and the same instant written with
// different offsets all give one key. Keys are only compared within one
// column, so different types never meet.

// keyScratch is the size of the stack buffer callers pass to appendKey; a
// key longer than this (only a numeric with many digits) makes the append
// allocate.
const keyScratch = 128

// appendKey returns the canonical key of v, a value of type t. For text and
// bytea the key is v.b itself, so it may alias the row; other keys are
// appended to dst.
func appendKey(dst []byte, t colType, v *value) []byte {
	switch t {
	case tInt, tBool, tDate, tTimestamp, tTimestamptz:
		return binary.BigEndian.AppendUint64(dst, uint64(v.i))
	case tUUID:
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.i))
		return binary.BigEndian.AppendUint64(dst, v.u)
	case tFloat4, tFloat8:
		f := v.f
		switch {
		case f == 0:
			f = 0 // -0 equals 0
		case math.IsNaN(f):
			f = math.NaN() // every NaN equals every other
		}
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
	case tNumeric:
		return appendDecimalKey(dst, &v.d)
	}
	return v.b
}
