package phoenix

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Binary frames exist only under vsn 2.0.0. Every header length is one
// unsigned byte, so each header string is at most 255 bytes.
const (
	// kindUserBroadcastPush (client→server):
	//   3 | len(join_ref) | len(ref) | len(topic) | len(user_event) | len(metadata) | encoding |
	//   join_ref | ref | topic | user_event | metadata | payload…
	kindUserBroadcastPush = 3
	// KindUserBroadcast (server→client), the only binary kind realtime-js decodes:
	//   4 | len(topic) | len(user_event) | len(metadata) | encoding | topic | user_event | metadata | payload…
	KindUserBroadcast = 4

	pushHeaderLen = 7
	// BroadcastHeaderLen is the fixed part of a kind-4 frame's header.
	BroadcastHeaderLen = 5
	maxHeaderString    = 255

	// EncodingRaw and EncodingJSON are a binary broadcast's payload
	// encodings: raw bytes, or a JSON value.
	EncodingRaw  = 0
	EncodingJSON = 1
)

// AppendBroadcastPush appends a kind-3 frame, a client's binary broadcast
// push, as realtime-js builds it. Each header string must fit in 255 bytes
// (see BroadcastBinaryFits); clients and tests use it, the server only
// decodes such frames.
func AppendBroadcastPush(dst []byte, joinRef, ref, topic, userEvent string, metadata json.RawMessage, jsonPayload bool, payload []byte) []byte {
	enc := byte(EncodingRaw)
	if jsonPayload {
		enc = EncodingJSON
	}
	dst = append(dst, kindUserBroadcastPush, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(userEvent)), byte(len(metadata)), enc)
	dst = append(dst, joinRef...)
	dst = append(dst, ref...)
	dst = append(dst, topic...)
	dst = append(dst, userEvent...)
	dst = append(dst, metadata...)
	return append(dst, payload...)
}

// DecodeBinary decodes a binary frame sent by a client. Only kind 3 (a user
// broadcast push) exists; the result has Binary set, Event "broadcast", and
// the user event, metadata and payload in UserEvent, Metadata and Data
// (views of data).
//
// What vsn 1.0.0 receivers get of it as text must be valid for them, so the
// topic, user event and metadata must be UTF-8, metadata (when present) a
// JSON object, and a JSON payload (encoding 1) valid UTF-8 JSON, nested at
// most DefaultMaxJSONDepth deep. When the header decoded but one of these
// does not hold, the error is a *PayloadError and the Message holds the
// refs and topic, so that the caller can answer the client.
func DecodeBinary(data []byte) (Message, error) {
	return DecodeBinaryDepth(data, DefaultMaxJSONDepth)
}

// DecodeBinaryDepth is DecodeBinary with JSON nested at most maxDepth deep.
func DecodeBinaryDepth(data []byte, maxDepth int) (Message, error) {
	if len(data) == 0 {
		return Message{}, errors.New("decode binary frame: empty")
	}
	if data[0] != kindUserBroadcastPush {
		return Message{}, fmt.Errorf("decode binary frame: kind %d, want %d (user broadcast push)", data[0], kindUserBroadcastPush)
	}
	if len(data) < pushHeaderLen {
		return Message{}, fmt.Errorf("decode binary frame: %d bytes, shorter than the %d-byte header", len(data), pushHeaderLen)
	}
	enc := data[6]
	if enc != EncodingRaw && enc != EncodingJSON {
		return Message{}, fmt.Errorf("decode binary frame: payload encoding %d, want 0 (binary) or 1 (JSON)", enc)
	}
	off := pushHeaderLen
	var fields [5][]byte // join_ref, ref, topic, user_event, metadata
	for k := range fields {
		n := int(data[1+k])
		if len(data)-off < n {
			return Message{}, fmt.Errorf("decode binary frame: truncated in %s (%d bytes declared, %d left)",
				pushFieldNames[k], n, len(data)-off)
		}
		fields[k] = data[off : off+n]
		off += n
	}
	m := Message{
		JoinRef:     string(fields[0]),
		Ref:         string(fields[1]),
		Topic:       string(fields[2]),
		Event:       "broadcast",
		Binary:      true,
		UserEvent:   string(fields[3]),
		JSONPayload: enc == EncodingJSON,
		Data:        data[off:],
	}
	if err := checkBinaryPush(fields[2], fields[3], fields[4], m.Data, m.JSONPayload, maxDepth); err != nil {
		m.UserEvent, m.Data = "", nil
		return m, &PayloadError{fmt.Errorf("decode binary frame: %w", err)}
	}
	if len(fields[4]) > 0 {
		m.Metadata = fields[4]
	}
	return m, nil
}

// checkBinaryPush says what of a kind-3 frame could not be relayed as text.
func checkBinaryPush(topic, userEvent, meta, payload []byte, jsonPayload bool, maxDepth int) error {
	switch {
	case !utf8.Valid(topic):
		return errors.New("topic is not valid UTF-8")
	case !utf8.Valid(userEvent):
		return errors.New("user event is not valid UTF-8")
	case !utf8.Valid(meta):
		return errors.New("metadata is not valid UTF-8")
	case len(meta) > 0 && !validJSONObject(meta):
		return errors.New("metadata is not a JSON object")
	}
	if !jsonPayload {
		return nil
	}
	if !utf8.Valid(payload) {
		return errors.New("payload encoding is JSON but the payload is not valid UTF-8")
	}
	i := skipJSONSpace(payload, 0)
	end, err := scanJSONValue(payload, i, maxDepth)
	if err == nil && skipJSONSpace(payload, end) != len(payload) {
		err = &jsonSyntaxError{end, "data after the value"}
	}
	if err != nil {
		return fmt.Errorf("payload encoding is JSON but the payload is not valid JSON: %w", err)
	}
	return nil
}

var pushFieldNames = [5]string{"join_ref", "ref", "topic", "user_event", "metadata"}

// BroadcastBinaryFits reports whether AppendBroadcastBinary can encode a
// broadcast with these header strings: each must be at most 255 bytes.
//
// When it cannot, the caller sends the broadcast as a text frame instead
// (AppendText with a payload from AppendBroadcastPayload), which realtime-js
// handles the same way for JSON payloads; a raw-bytes payload that does not
// fit has no text form and is dropped. Kind-3 frames from clients always fit
// (they have the same limits), so this only matters for broadcasts that
// arrived through other paths (REST, text frames).
func BroadcastBinaryFits(topic, userEvent string, metadata []byte) bool {
	return len(topic) <= maxHeaderString && len(userEvent) <= maxHeaderString && len(metadata) <= maxHeaderString
}

// AppendBroadcastBinary appends a kind-4 user broadcast frame (server→client,
// V2 only) and returns the extended buffer. metadata is empty or a JSON
// object (realtime-js parses it when present); with jsonPayload the payload
// must be JSON text.
//
// If !BroadcastBinaryFits(topic, userEvent, metadata) it appends nothing and
// returns dst unchanged, rather than a frame whose truncated lengths would
// corrupt the client's decoding; callers check BroadcastBinaryFits first.
func AppendBroadcastBinary(dst []byte, topic, userEvent string, metadata []byte, jsonPayload bool, payload []byte) []byte {
	if !BroadcastBinaryFits(topic, userEvent, metadata) {
		return dst
	}
	enc := byte(EncodingRaw)
	if jsonPayload {
		enc = EncodingJSON
	}
	dst = append(dst, KindUserBroadcast, byte(len(topic)), byte(len(userEvent)), byte(len(metadata)), enc)
	dst = append(dst, topic...)
	dst = append(dst, userEvent...)
	dst = append(dst, metadata...)
	return append(dst, payload...)
}

// AppendBroadcastPayload appends the payload of a text "broadcast" event,
// {"type":"broadcast","event":userEvent,"payload":payload}, plus
// "meta":metadata when metadata is not empty: the object realtime-js builds
// from a kind-4 frame, so V1 sockets and oversized headers get the same
// thing in text. payload must be JSON (a raw-bytes payload has no text form).
func AppendBroadcastPayload(dst []byte, userEvent string, metadata, payload json.RawMessage) []byte {
	dst = append(dst, `{"type":"broadcast","event":`...)
	dst = appendJSONString(dst, userEvent)
	dst = append(dst, `,"payload":`...)
	if len(payload) == 0 {
		payload = emptyJSONObject
	}
	dst = append(dst, payload...)
	if len(metadata) > 0 {
		dst = append(dst, `,"meta":`...)
		dst = append(dst, metadata...)
	}
	return append(dst, '}')
}
