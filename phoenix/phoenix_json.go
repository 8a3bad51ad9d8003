package phoenix

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/walcast/walcast/replication"
)

// A small JSON scanner for the frame envelope. The hot path (heartbeats,
// broadcasts) must not build maps or slices of json.RawMessage, and the
// payload must stay a view of the input, so DecodeText walks the bytes
// itself. Every value it skips is fully validated, payload included: a
// payload echoed verbatim to other clients has to be valid JSON.

// DefaultMaxJSONDepth is how deeply a client's JSON may nest, the frame's
// own array or object included. realtime-js never nests deeper than a
// handful of levels (a join's config is four); applications' payloads are
// documents, not trees of thousands of levels, and every level costs the
// recursive scanner (and encoding/json after it) stack. 64 leaves room for
// any sane document and refuses the rest with an error that says so.
const DefaultMaxJSONDepth = 64

type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// scanJSONValue returns the offset just past the JSON value that starts at
// b[i] (no leading space). left is how many levels of arrays and objects
// the value may still open.
func scanJSONValue(b []byte, i, left int) (int, error) {
	if i >= len(b) {
		return i, &jsonSyntaxError{i, "unexpected end of input"}
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanJSONString(b, i)
		return end, err
	case c == '{' || c == '[':
		if left <= 0 {
			return i, &DepthError{Off: i}
		}
		return scanJSONComposite(b, i, left-1)
	case c == '-' || c >= '0' && c <= '9':
		return scanJSONNumber(b, i)
	case c == 't':
		return scanJSONLiteral(b, i, "true")
	case c == 'f':
		return scanJSONLiteral(b, i, "false")
	case c == 'n':
		return scanJSONLiteral(b, i, "null")
	default:
		return i, &jsonSyntaxError{i, fmt.Sprintf("unexpected character %q", c)}
	}
}

func scanJSONComposite(b []byte, i, left int) (int, error) {
	obj := b[i] == '{'
	close := byte(']')
	if obj {
		close = '}'
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return i + 1, nil
	}
	for {
		var err error
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, &jsonSyntaxError{i, "want an object key"}
			}
			if i, _, err = scanJSONString(b, i); err != nil {
				return i, err
			}
			if i = skipJSONSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, &jsonSyntaxError{i, "want ':' after an object key"}
			}
			i = skipJSONSpace(b, i+1)
		}
		if i, err = scanJSONValue(b, i, left); err != nil {
			return i, err
		}
		i = skipJSONSpace(b, i)
		switch {
		case i >= len(b):
			return i, &jsonSyntaxError{i, "unexpected end of input"}
		case b[i] == ',':
			i = skipJSONSpace(b, i+1)
		case b[i] == close:
			return i + 1, nil
		default:
			return i, &jsonSyntaxError{i, fmt.Sprintf("want ',' or %q", close)}
		}
	}
}

// scanJSONString returns the offset past the closing quote of the string at
// b[i], and whether the decoded text differs from the raw bytes (escapes or
// invalid UTF-8), which sends decodeJSONString to the slow path.
func scanJSONString(b []byte, i int) (end int, slow bool, err error) {
	start := i
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, slow, nil
		case c == '\\':
			slow = true
			if i+1 >= len(b) {
				return i, slow, &jsonSyntaxError{i, "unterminated string"}
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isJSONHex4(b[i+2:i+6]) {
					return i, slow, &jsonSyntaxError{i, `bad \u escape`}
				}
				i += 6
			default:
				return i, slow, &jsonSyntaxError{i, fmt.Sprintf("bad escape %q", b[i+1])}
			}
		case c < 0x20:
			return i, slow, &jsonSyntaxError{i, "control character in string"}
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				slow = true
			}
			i += size
		}
	}
	return start, slow, &jsonSyntaxError{start, "unterminated string"}
}

func isJSONHex4(h []byte) bool {
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func scanJSONNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipJSONDigits(b, i)
	default:
		return i, &jsonSyntaxError{start, "bad number"}
	}
	if i < len(b) && b[i] == '.' {
		if j := skipJSONDigits(b, i+1); j > i+1 {
			i = j
		} else {
			return i, &jsonSyntaxError{start, "bad number"}
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := skipJSONDigits(b, i); j > i {
			i = j
		} else {
			return i, &jsonSyntaxError{start, "bad number"}
		}
	}
	return i, nil
}

func skipJSONDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func scanJSONLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, &jsonSyntaxError{i, "bad literal"}
	}
	return i + len(lit), nil
}

// decodeJSONString returns the text of a scanned JSON string (quotes included
// in raw). Plain strings are one allocation; the few names every frame
// carries are interned and cost none.
func decodeJSONString(raw []byte, slow bool) string {
	body := raw[1 : len(raw)-1]
	if slow {
		var s string
		// Cannot fail: scanJSONString validated the escapes. Invalid UTF-8
		// becomes U+FFFD, as AppendText would write it anyway.
		_ = json.Unmarshal(raw, &s)
		return s
	}
	switch string(body) { // no allocation: the compiler compares in place
	case "phoenix":
		return "phoenix"
	case "heartbeat":
		return "heartbeat"
	case "broadcast":
		return "broadcast"
	case "presence":
		return "presence"
	case "phx_join":
		return "phx_join"
	case "phx_leave":
		return "phx_leave"
	case "access_token":
		return "access_token"
	}
	return string(body)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 as \ufffd so the frame stays valid text.
// It is the escaping the change encoder uses.
func appendJSONString(dst []byte, s string) []byte { return replication.AppendJSONString(dst, s) }

// validJSONObject reports whether b is exactly one JSON object (surrounding
// space allowed).
func validJSONObject(b []byte) bool {
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	end, err := scanJSONValue(b, i, DefaultMaxJSONDepth)
	return err == nil && skipJSONSpace(b, end) == len(b)
}

// ValidJSONValue reports whether b is exactly one JSON value, nested at
// most DefaultMaxJSONDepth deep. It does not check UTF-8 (see ValidText).
func ValidJSONValue(b []byte) bool {
	i := skipJSONSpace(b, 0)
	end, err := scanJSONValue(b, i, DefaultMaxJSONDepth)
	return err == nil && skipJSONSpace(b, end) == len(b)
}

// ValidText reports whether b is exactly one JSON value in valid UTF-8,
// nested at most DefaultMaxJSONDepth deep: what may be copied into a text
// frame for any client.
func ValidText(b []byte) bool { return utf8.Valid(b) && ValidJSONValue(b) }

// DepthError is the error of JSON nested deeper than the decoder allows.
type DepthError struct{ Off int }

func (e *DepthError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: nested too deeply", e.Off)
}

// skipJSONComposite finds the end of the array or object at b[i] without
// recursion and without validating its members: after a DepthError, so
// that the rest of the envelope (a V1 frame's ref) can still be read and
// the client answered. Strings are skipped as strings, so brackets in them
// do not count.
func skipJSONComposite(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, _, err := scanJSONString(b, i)
			if err != nil {
				return i, false
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return i, false
}

func FirstJSONByte(raw []byte) byte {
	if i := skipJSONSpace(raw, 0); i < len(raw) {
		return raw[i]
	}
	return 0
}

func IsJSONNull(raw []byte) bool { return string(TrimJSONSpace(raw)) == "null" }

// jsonKindOf names the kind of the JSON value raw, for error messages.
func jsonKindOf(raw []byte) string {
	raw = TrimJSONSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '"':
		return "a string"
	}
	return "a number"
}

func TrimJSONSpace(b []byte) []byte {
	b = b[skipJSONSpace(b, 0):]
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
