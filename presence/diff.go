package presence

import (
	"unicode/utf8"
)

// Entry is one tracked meta as clients see it.
type Entry struct {
	Key     string
	Ref     string // phx_ref
	PrevRef string // phx_ref_prev: the ref this meta replaced, "" if none
	Meta    Meta
}

// AppendJSON appends the entry's meta object as sent to clients:
// {"phx_ref":"…"[,"phx_ref_prev":"…"],…user fields}.
func (e *Entry) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"phx_ref":`...)
	dst = appendString(dst, e.Ref)
	if e.PrevRef != "" {
		dst = append(dst, `,"phx_ref_prev":`...)
		dst = appendString(dst, e.PrevRef)
	}
	if e.Meta.fields != "" {
		dst = append(dst, ',')
		dst = append(dst, e.Meta.fields...)
	}
	return append(dst, '}')
}

// Diff is one presence_diff: metas that joined and metas that left. A
// track adds one join; an update adds the new meta to Joins (with PrevRef
// set) and the old one to Leaves; an untrack adds one leave.
type Diff struct {
	Joins, Leaves []Entry
}

// Empty reports whether the diff changes nothing.
func (d Diff) Empty() bool { return len(d.Joins) == 0 && len(d.Leaves) == 0 }

// AppendJSON appends the presence_diff payload
// {"joins":{…},"leaves":{…}}, with the entries of each side grouped by key.
func (d Diff) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"joins":`...)
	dst = appendGroups(dst, d.Joins)
	dst = append(dst, `,"leaves":`...)
	dst = appendGroups(dst, d.Leaves)
	return append(dst, '}')
}

// appendGroups appends {"<key>":{"metas":[…]},…}, keys in the order of
// their first entry. Entries of one key need not be adjacent: a JSON object
// must not repeat a key (the client would keep only the last).
func appendGroups(dst []byte, entries []Entry) []byte {
	dst = append(dst, '{')
	for i := range entries {
		key := entries[i].Key
		if seenBefore(entries[:i], key) {
			continue
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, key)
		dst = append(dst, `:{"metas":[`...)
		dst = entries[i].AppendJSON(dst)
		for j := i + 1; j < len(entries); j++ {
			if entries[j].Key == key {
				dst = append(dst, ',')
				dst = entries[j].AppendJSON(dst)
			}
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, '}')
}

// seenBefore is a linear scan: diffs hold one or two entries, and a
// batched diff of a shared store a few dozen.
func seenBefore(entries []Entry, key string) bool {
	for i := range entries {
		if entries[i].Key == key {
			return true
		}
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; U+2028 and U+2029 are escaped so the output is
// also valid JavaScript.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
