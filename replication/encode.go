package replication

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
	"unsafe"

	"github.com/jackc/pgx/v5/pgtype"
)

// EncodeOptions adjusts the JSON rendering of values.
type EncodeOptions struct {
	// Int8AsString renders int8 values (and int8[] elements) as JSON strings,
	// for JavaScript clients that would round integers above 2^53.
	Int8AsString bool
	// NumericAsString renders numeric values as JSON strings, for clients
	// that would parse them into a float64.
	NumericAsString bool
}

// AppendValue appends the JSON rendering of one non-NULL value, given its
// Postgres text output, to dst and returns the extended slice.
//
// The text is expected in the form the replication session produces
// (DateStyle=ISO, TimeZone=UTC, bytea_output=hex, IntervalStyle=postgres).
// Whatever the input, the result is one valid JSON value in valid UTF-8,
// without line breaks: text that does not have the shape its codec expects
// is rendered as a JSON string.
func AppendValue(dst []byte, c Codec, text []byte, opt EncodeOptions) []byte {
	if c.Array {
		return appendArray(dst, c, text, opt)
	}
	return appendScalar(dst, c, text, opt)
}

func appendScalar(dst []byte, c Codec, text []byte, opt EncodeOptions) []byte {
	switch c.Kind {
	case CodecInt:
		return appendNumber(dst, text, opt.Int8AsString && c.BaseOID == pgtype.Int8OID)
	case CodecFloat:
		return appendNumber(dst, text, false)
	case CodecNumeric:
		return appendNumber(dst, text, opt.NumericAsString)
	case CodecBool:
		if len(text) == 1 {
			switch text[0] {
			case 't':
				return append(dst, "true"...)
			case 'f':
				return append(dst, "false"...)
			}
		}
	case CodecJSON:
		return appendJSON(dst, text)
	case CodecBytea:
		return appendBytea(dst, text)
	case CodecTimestamp:
		return appendTimestamp(dst, text, false)
	case CodecTimestamptz:
		return appendTimestamp(dst, text, true)
	}
	return appendString(dst, text)
}

// appendNumber copies a number verbatim: Postgres prints integers, numerics
// and (with extra_float_digits > 0) floats in a form that is also a JSON
// number, so no parsing is needed. NaN and ±Infinity fail the check and
// become the strings "NaN", "Infinity" and "-Infinity".
func appendNumber(dst, text []byte, quoted bool) []byte {
	if !isJSONNumber(text) {
		return appendString(dst, text)
	}
	if quoted {
		dst = append(dst, '"')
		dst = append(dst, text...)
		return append(dst, '"')
	}
	return append(dst, text...)
}

// isJSONNumber reports whether b is exactly one JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(b []byte) bool {
	return len(b) > 0 && scanNumber(b, 0) == len(b)
}

// scanNumber returns the end of the JSON number starting at b[i], or -1.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// appendJSON copies json and jsonb text verbatim (key order, duplicate keys
// and big numbers survive, which a decode/encode round trip would lose). The
// text is validated first because a payload broken by one bad value would
// break every subscriber's stream.
//
// Line breaks become spaces: in valid JSON they can only be whitespace
// between tokens, and an encoded change must stay on one line for
// line-oriented consumers (SSE data lines, walcast tail).
func appendJSON(dst, text []byte) []byte {
	text = trimJSONSpace(text)
	if !validJSON(text) {
		return appendString(dst, text)
	}
	start := len(dst)
	dst = append(dst, text...)
	if bytes.IndexByte(text, '\n') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
		for i := start; i < len(dst); i++ {
			if dst[i] == '\n' || dst[i] == '\r' {
				dst[i] = ' '
			}
		}
	}
	return dst
}

// appendBytea renders hex output (\xdeadbeef) as "deadbeef". Escape-format
// output (bytea_output=escape) is kept as a string of its text.
func appendBytea(dst, text []byte) []byte {
	if len(text) < 2 || text[0] != '\\' || text[1] != 'x' {
		return appendString(dst, text)
	}
	for _, c := range text[2:] {
		if !isHex(c) {
			return appendString(dst, text)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, text[2:]...)
	return append(dst, '"')
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// appendTimestamp turns ISO output ("2024-05-06 01:38:09.5+00") into ISO 8601
// ("2024-05-06T01:38:09.5Z"). A zero offset becomes Z, "+05" becomes
// "+05:00" and "+05:30" is kept. Values without an ISO 8601 form (infinity,
// BC dates, offsets with seconds) keep their Postgres text.
func appendTimestamp(dst, text []byte, tz bool) []byte {
	date := skipDigits(text, 0) // years can have more than 4 digits
	clock := date + len("-MM-DD ")
	end := clock + len("HH:MM:SS")
	if date < 4 || end > len(text) ||
		!matchDigits(text[date:end], "-00-00 00:00:00") {
		return appendString(dst, text)
	}
	if end < len(text) && text[end] == '.' {
		j := skipDigits(text, end+1)
		if j == end+1 {
			return appendString(dst, text)
		}
		end = j
	}
	zone := text[end:]
	if tz {
		// +HH or +HH:MM; the session time zone is UTC, so normally +00.
		// Offsets with seconds (+05:53:28, local mean time) have no ISO 8601
		// form and keep their text.
		if len(zone) < 3 || (zone[0] != '+' && zone[0] != '-') ||
			!(matchDigits(zone[1:], "00") || matchDigits(zone[1:], "00:00")) {
			return appendString(dst, text)
		}
	} else if len(zone) != 0 {
		return appendString(dst, text)
	}
	dst = append(dst, '"')
	dst = append(dst, text[:clock-1]...)
	dst = append(dst, 'T')
	dst = append(dst, text[clock:end]...)
	if tz {
		switch {
		case len(zone) == 3 && zone[1] == '0' && zone[2] == '0':
			dst = append(dst, 'Z')
		case len(zone) == 3:
			dst = append(dst, zone...)
			dst = append(dst, ":00"...)
		default:
			dst = append(dst, zone...)
		}
	}
	return append(dst, '"')
}

// matchDigits reports whether b has the shape of pattern, where '0' stands
// for any digit and other bytes must match exactly.
func matchDigits(b []byte, pattern string) bool {
	if len(b) != len(pattern) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if pattern[i] == '0' {
			if !isDigit(b[i]) {
				return false
			}
		} else if b[i] != pattern[i] {
			return false
		}
	}
	return true
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainWord reports whether none of the 8 bytes of w needs attention inside
// a JSON string: no control character, quote, backslash or non-ASCII byte.
// Checking a word at a time keeps long ASCII text at memcpy-like speed.
func plainWord(w uint64) bool {
	q := w ^ '"'*lsb  // zero byte where w has '"'
	b := w ^ '\\'*lsb // zero byte where w has '\\'
	// x-lsb&^x has the high bit of some byte set iff x has a byte below 1
	// (exact as a yes/no answer; per-byte positions may be off).
	return ((w-0x20*lsb)&^w|(q-lsb)&^q|(b-lsb)&^b|w)&msb == 0
}

// plainByte[c] is true for bytes that need no attention in a JSON string:
// ASCII other than control characters, quote and backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the index of the first byte of s at or after i that is
// not plain, or len(s).
func skipPlain(s []byte, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if !plainWord(binary.LittleEndian.Uint64(s[i:])) {
			break
		}
	}
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	return i
}

// appendString appends s as a JSON string. Quotes, backslashes and control
// characters are escaped; invalid UTF-8 becomes U+FFFD so the output stays
// valid in a WebSocket text frame. <, > and & are not escaped: the output is
// not meant to be embedded in HTML.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := skipPlain(s, 0); i < len(s); i = skipPlain(s, i) {
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + 1
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
}

// appendStringText is appendString for a Go string (names), without the
// copy a []byte conversion would make; appendString only reads its input.
func appendStringText(dst []byte, s string) []byte {
	return AppendJSONString(dst, s)
}

// AppendJSONString appends s as a JSON string, escaped as the change encoder
// escapes values: control characters, quotes and backslashes escaped, invalid
// UTF-8 as \ufffd, and <, > and & left alone (nothing here is embedded in
// HTML). It does not allocate.
func AppendJSONString(dst []byte, s string) []byte {
	return appendString(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// maxFastJSONDepth is how deep validJSON tracks nesting in its fixed-size
// stack; deeper documents go to encoding/json (which stops at 10000 levels).
const maxFastJSONDepth = 1024

// validJSON reports whether b is one JSON value in valid UTF-8: what
// json.Valid checks, plus UTF-8 inside strings. It does not allocate.
func validJSON(b []byte) bool {
	var objects [maxFastJSONDepth / 64]uint64 // bit set: that level is an object
	depth := 0
	i := skipJSONSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxFastJSONDepth {
				return json.Valid(b) && utf8.Valid(b)
			}
			word, bit := depth/64, uint64(1)<<(depth%64)
			objects[word] &^= bit
			if c == '{' {
				objects[word] |= bit
			}
			depth++
			i = skipJSONSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' and ']' follow '{' and '[' by 2
				depth--
				i++
				break
			}
			if c == '{' {
				if i = scanMember(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			i = scanJSONString(b, i)
		case c == '-' || isDigit(c):
			i = scanNumber(b, i)
		case c == 't':
			i = scanLiteral(b, i, "true")
		case c == 'f':
			i = scanLiteral(b, i, "false")
		case c == 'n':
			i = scanLiteral(b, i, "null")
		default:
			return false
		}
		// A value ended at b[i]: close containers, or go on to the next value.
		for {
			if i < 0 {
				return false
			}
			i = skipJSONSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			object := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch {
			case b[i] == ',':
				i = skipJSONSpace(b, i+1)
				if object {
					i = scanMember(b, i)
				}
			case b[i] == '}' && object, b[i] == ']' && !object:
				depth--
				i++
				continue
			default:
				return false
			}
			break
		}
		if i < 0 {
			return false
		}
	}
}

// scanMember checks `"key" :` at b[i] and returns the index of the value.
func scanMember(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanJSONString(b, i); i < 0 {
		return -1
	}
	i = skipJSONSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipJSONSpace(b, i+1)
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanJSONString returns the index after the JSON string starting at b[i]
// (a '"'), or -1.
func scanJSONString(b []byte, i int) int {
	for i++; ; {
		if i = skipPlain(b, i); i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < utf8.RuneSelf: // a control character
			return -1
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size
		}
	}
}
