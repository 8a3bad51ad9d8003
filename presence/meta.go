package presence

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrNotObject is ParseMeta's error for a payload that is not a JSON object;
// Supabase answers such a track with "Presence track payload must be a map".
var ErrNotObject = errors.New("presence: track payload is not a JSON object")

// Meta is a tracked payload: the members of the client's JSON object in
// canonical form, without the enclosing braces and without the keys the
// server owns. It is immutable and comparable; the zero Meta is {}.
type Meta struct{ fields string }

// Server-owned meta keys: a client's own would shadow the server's (the
// client parses JSON with the last duplicate winning) and break its sync.
const (
	refKey     = "phx_ref"
	prevRefKey = "phx_ref_prev"
)

// ParseMeta reads a track payload. It fails unless payload is exactly one
// JSON object (surrounding space allowed). The result is canonical: keys
// sorted at every depth, duplicates resolved as JavaScript does (the last
// wins), numbers kept as written, strings re-escaped (invalid UTF-8 becomes
// U+FFFD), and no insignificant space; so two payloads that mean the same
// to a client compare equal.
func ParseMeta(payload []byte) (Meta, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber() // keep 2^53+ integers and 1.0 vs 1 exactly as sent
	var v any
	if err := d.Decode(&v); err != nil {
		return Meta{}, ErrNotObject
	}
	if _, err := d.Token(); err != io.EOF {
		return Meta{}, ErrNotObject // trailing data
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Meta{}, ErrNotObject
	}
	delete(obj, refKey)
	delete(obj, prevRefKey)
	if len(obj) == 0 {
		return Meta{}, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays "<": smaller, and what clients sent
	if err := enc.Encode(obj); err != nil {
		// Unreachable: everything decoded re-encodes.
		return Meta{}, ErrNotObject
	}
	b := bytes.TrimSpace(buf.Bytes()) // Encode appends a newline
	return Meta{fields: string(b[1 : len(b)-1])}, nil
}

// AppendJSON appends the meta as a JSON object.
func (m Meta) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = append(dst, m.fields...)
	return append(dst, '}')
}

// String returns the meta as a JSON object.
func (m Meta) String() string { return string(m.AppendJSON(nil)) }

// Len is the size of the meta's JSON encoding.
func (m Meta) Len() int { return len(m.fields) + 2 }
