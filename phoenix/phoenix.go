package phoenix

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the Phoenix serializer a socket asked for with its vsn query
// parameter.
type Version uint8

const (
	V1 Version = 1 // vsn=1.0.0: every frame is a JSON object
	V2 Version = 2 // vsn=2.0.0: JSON arrays, plus binary broadcast frames
)

func (v Version) String() string {
	switch v {
	case V1:
		return "1.0.0"
	case V2:
		return "2.0.0"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// ParseVersion maps the vsn query parameter to a Version. "" is V1, as in
// Phoenix. Like Phoenix's "~> 1.0.0" / "~> 2.0.0" requirements, any patch
// level is accepted ("2.0.3"); realtime-js itself only sends 1.0.0 or 2.0.0.
func ParseVersion(s string) (Version, error) {
	var v Version
	switch {
	case s == "":
		return V1, nil
	case strings.HasPrefix(s, "1.0."):
		v = V1
	case strings.HasPrefix(s, "2.0."):
		v = V2
	default:
		return 0, fmt.Errorf("unsupported vsn %q (want 1.0.0 or 2.0.0)", s)
	}
	patch := s[len("1.0."):]
	if patch == "" || strings.Trim(patch, "0123456789") != "" {
		return 0, fmt.Errorf("unsupported vsn %q (want 1.0.0 or 2.0.0)", s)
	}
	return v, nil
}

// Message is one Phoenix message, decoded from or to be encoded as a frame.
//
// Decoded messages alias the input: Payload, Metadata and Data are views of
// the bytes given to DecodeText or DecodeBinary (strings are copies). A
// caller that reuses its read buffer must copy them before the next read.
type Message struct {
	JoinRef, Ref string // "" encodes as null
	Topic, Event string
	Payload      json.RawMessage // text messages; empty encodes as {}

	// Set for a binary kind-3 user broadcast (V2 only). Event is then
	// "broadcast" and Payload is empty.
	Binary      bool
	UserEvent   string
	Metadata    json.RawMessage // empty, or a JSON object
	JSONPayload bool            // payload_encoding 1 (JSON) vs 0 (raw bytes)
	Data        []byte          // the user payload of a kind-3 frame
}

// DecodeText decodes a text frame sent by a client.
//
// V2 frames are arrays [join_ref, ref, topic, event, payload, ...]: extra
// elements are ignored, as Phoenix does. V1 frames are objects with keys
// topic, event, payload, ref and join_ref; unknown keys are ignored, ref and
// join_ref may be missing. Refs may be strings, numbers (kept as their JSON
// text) or null (""). Topic and event must be strings; the payload may be
// any JSON value and is returned as sent.
//
// JSON may nest DefaultMaxJSONDepth deep, the frame's array or object
// included (DecodeTextDepth sets another limit).
//
// The error names what was wrong; DecodeText never panics. When the
// envelope was read but the payload is not acceptable (not JSON, nested too
// deeply), the error is a *PayloadError and the Message holds the refs,
// topic and event (no payload), so that the caller can answer the client.
func DecodeText(v Version, data []byte) (Message, error) {
	return DecodeTextDepth(v, data, DefaultMaxJSONDepth)
}

// DecodeTextDepth is DecodeText with JSON nested at most maxDepth deep.
func DecodeTextDepth(v Version, data []byte, maxDepth int) (Message, error) {
	if maxDepth < 2 {
		maxDepth = 2 // the envelope and a payload object
	}
	switch v {
	case V1:
		return decodeTextV1(data, maxDepth-1)
	case V2:
		return decodeTextV2(data, maxDepth-1)
	}
	return Message{}, fmt.Errorf("decode frame: unknown serializer %v", v)
}

// PayloadError is the error of a frame whose envelope (refs, topic,
// event) decoded but whose payload cannot be accepted. DecodeText and
// DecodeBinary return the envelope with it.
type PayloadError struct{ Err error }

func (e *PayloadError) Error() string { return e.Err.Error() }
func (e *PayloadError) Unwrap() error { return e.Err }

var phxFieldNames = [5]string{"join_ref", "ref", "topic", "event", "payload"}

func decodeTextV2(data []byte, left int) (Message, error) {
	var m Message
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return m, errors.New("decode v2 frame: not a JSON array")
	}
	i = skipJSONSpace(data, i+1)
	n := 0
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for ; ; n++ {
			start := i
			end, err := scanJSONValue(data, i, left)
			if err != nil {
				if n == 4 {
					// The envelope is read: say what is wrong with the payload.
					m.Payload = nil
					return m, &PayloadError{fmt.Errorf("decode v2 frame: payload: %w", err)}
				}
				return Message{}, fmt.Errorf("decode v2 frame: %w", err)
			}
			if n < len(phxFieldNames) {
				if err := m.setField(n, data[start:end]); err != nil {
					return Message{}, fmt.Errorf("decode v2 frame: %w", err)
				}
			}
			i = skipJSONSpace(data, end)
			if i < len(data) && data[i] == ',' {
				i = skipJSONSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == ']' {
				i++
				n++
				break
			}
			return Message{}, fmt.Errorf("decode v2 frame: %w", &jsonSyntaxError{i, "want ',' or ']'"})
		}
	}
	if skipJSONSpace(data, i) != len(data) {
		return Message{}, fmt.Errorf("decode v2 frame: %w", &jsonSyntaxError{i, "data after the array"})
	}
	if n < len(phxFieldNames) {
		return Message{}, fmt.Errorf("decode v2 frame: %d elements, want at least 5 (join_ref, ref, topic, event, payload)", n)
	}
	return m, nil
}

func decodeTextV1(data []byte, left int) (Message, error) {
	var m Message
	var payloadErr error // a payload too deep, skipped to read the rest
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return m, errors.New("decode v1 frame: not a JSON object")
	}
	var seen [len(phxFieldNames)]bool
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return Message{}, fmt.Errorf("decode v1 frame: %w", &jsonSyntaxError{i, "want an object key"})
			}
			kstart := i
			kend, slow, err := scanJSONString(data, i)
			if err != nil {
				return Message{}, fmt.Errorf("decode v1 frame: %w", err)
			}
			if i = skipJSONSpace(data, kend); i >= len(data) || data[i] != ':' {
				return Message{}, fmt.Errorf("decode v1 frame: %w", &jsonSyntaxError{i, "want ':' after an object key"})
			}
			i = skipJSONSpace(data, i+1)
			vstart := i
			f := phxFieldIndex(data[kstart:kend], slow)
			vend, err := scanJSONValue(data, i, left)
			if err != nil && f == 4 && i < len(data) && (data[i] == '{' || data[i] == '[') {
				// A payload too deep or broken inside: skip it
				// unvalidated, to read the refs that may follow, and
				// answer with what was wrong.
				if end, ok := skipJSONComposite(data, i); ok {
					payloadErr = fmt.Errorf("decode v1 frame: payload: %w", err)
					vend, err = end, nil
				}
			}
			if err != nil {
				return Message{}, fmt.Errorf("decode v1 frame: %w", err)
			}
			if f >= 0 {
				// Later duplicates win, as with encoding/json.
				if err := m.setField(f, data[vstart:vend]); err != nil {
					return Message{}, fmt.Errorf("decode v1 frame: %w", err)
				}
				seen[f] = true
			}
			i = skipJSONSpace(data, vend)
			if i < len(data) && data[i] == ',' {
				i = skipJSONSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			return Message{}, fmt.Errorf("decode v1 frame: %w", &jsonSyntaxError{i, "want ',' or '}'"})
		}
	}
	if skipJSONSpace(data, i) != len(data) {
		return Message{}, fmt.Errorf("decode v1 frame: %w", &jsonSyntaxError{i, "data after the object"})
	}
	for _, f := range [...]int{2, 3, 4} {
		if !seen[f] {
			return Message{}, fmt.Errorf("decode v1 frame: missing %q", phxFieldNames[f])
		}
	}
	if payloadErr != nil {
		m.Payload = nil
		return m, &PayloadError{payloadErr}
	}
	return m, nil
}

// phxFieldIndex maps a raw (quoted) object key to its index in phxFieldNames, or -1.
func phxFieldIndex(rawKey []byte, slow bool) int {
	key := ""
	if slow {
		key = decodeJSONString(rawKey, true)
	}
	for f, name := range phxFieldNames {
		if slow && key == name || !slow && string(rawKey[1:len(rawKey)-1]) == name {
			return f
		}
	}
	return -1
}

// setField stores the scanned value raw as field f (an index in phxFieldNames).
func (m *Message) setField(f int, raw []byte) error {
	switch f {
	case 0, 1:
		s, err := decodePhxRef(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", phxFieldNames[f], err)
		}
		if f == 0 {
			m.JoinRef = s
		} else {
			m.Ref = s
		}
	case 2, 3:
		if raw[0] != '"' {
			return fmt.Errorf("%s: want a string, got %s", phxFieldNames[f], jsonKindOf(raw))
		}
		_, slow, _ := scanJSONString(raw, 0)
		if f == 2 {
			m.Topic = decodeJSONString(raw, slow)
		} else {
			m.Event = decodeJSONString(raw, slow)
		}
	case 4:
		m.Payload = raw
	}
	return nil
}

// decodePhxRef accepts what Phoenix clients put in a ref: a string, a number
// (kept as its JSON text) or null.
func decodePhxRef(raw []byte) (string, error) {
	switch c := raw[0]; {
	case c == '"':
		_, slow, _ := scanJSONString(raw, 0)
		return decodeJSONString(raw, slow), nil
	case c == 'n':
		return "", nil
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("want a string, number or null, got %s", jsonKindOf(raw))
}

// AppendText appends m as a server→client text frame and returns the
// extended buffer.
//
// V2 writes [join_ref,ref,topic,event,payload]; V1 writes
// {"topic":…,"event":…,"payload":…,"ref":…} without join_ref, as Phoenix's
// V1 serializer does. Empty refs are null; an empty Payload is {}. The
// payload is copied verbatim and must be valid JSON: it is the caller's
// (usually already encoded once for many sockets). The binary fields of m
// are ignored, and any Version other than V1 is written as V2.
func AppendText(dst []byte, v Version, m Message) []byte {
	payload := m.Payload
	if len(payload) == 0 {
		payload = emptyJSONObject
	}
	if v == V1 {
		dst = append(dst, `{"topic":`...)
		dst = appendJSONString(dst, m.Topic)
		dst = append(dst, `,"event":`...)
		dst = appendJSONString(dst, m.Event)
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
		dst = append(dst, `,"ref":`...)
		dst = appendPhxRef(dst, m.Ref)
		return append(dst, '}')
	}
	dst = append(dst, '[')
	dst = appendPhxRef(dst, m.JoinRef)
	dst = append(dst, ',')
	dst = appendPhxRef(dst, m.Ref)
	dst = append(dst, ',')
	dst = appendJSONString(dst, m.Topic)
	dst = append(dst, ',')
	dst = appendJSONString(dst, m.Event)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

var emptyJSONObject = json.RawMessage(`{}`)

func appendPhxRef(dst []byte, ref string) []byte {
	if ref == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, ref)
}
