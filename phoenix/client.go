package phoenix

import (
	"errors"
	"fmt"
)

// The two codecs a client needs beyond the server's: the client's own form
// of a text push (vsn 1.0.0 objects carry join_ref from clients, never to
// them) and the decoder of the kind-4 binary broadcasts servers send.

// AppendPush appends m as a client→server text frame, as realtime-js writes
// it, and returns the extended buffer.
//
// V2 is the same array AppendText writes. V1 is an object with topic,
// event, payload, ref and, when m.JoinRef is set, join_ref (heartbeats have
// none). Empty refs are null; an empty Payload is {}; the payload is copied
// verbatim and must be valid JSON.
func AppendPush(dst []byte, v Version, m Message) []byte {
	if v != V1 {
		return AppendText(dst, V2, m)
	}
	payload := m.Payload
	if len(payload) == 0 {
		payload = emptyJSONObject
	}
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, m.Topic)
	dst = append(dst, `,"event":`...)
	dst = appendJSONString(dst, m.Event)
	dst = append(dst, `,"payload":`...)
	dst = append(dst, payload...)
	dst = append(dst, `,"ref":`...)
	dst = appendPhxRef(dst, m.Ref)
	if m.JoinRef != "" {
		dst = append(dst, `,"join_ref":`...)
		dst = appendPhxRef(dst, m.JoinRef)
	}
	return append(dst, '}')
}

// DecodeBroadcast decodes a binary frame sent by a server: a kind-4 user
// broadcast, the only binary kind servers send. The result has Binary set,
// Event "broadcast", no refs, and the user event, metadata and payload in
// UserEvent, Metadata and Data (views of data). As with DecodeBinary, a
// JSON payload must be valid JSON and metadata, when present, a JSON
// object; header strings are taken as bytes, unvalidated. It never panics.
func DecodeBroadcast(data []byte) (Message, error) {
	if len(data) == 0 {
		return Message{}, errors.New("decode binary frame: empty")
	}
	if data[0] != KindUserBroadcast {
		return Message{}, fmt.Errorf("decode binary frame: kind %d, want %d (user broadcast)", data[0], KindUserBroadcast)
	}
	if len(data) < BroadcastHeaderLen {
		return Message{}, fmt.Errorf("decode binary frame: %d bytes, shorter than the %d-byte header", len(data), BroadcastHeaderLen)
	}
	enc := data[4]
	if enc != EncodingRaw && enc != EncodingJSON {
		return Message{}, fmt.Errorf("decode binary frame: payload encoding %d, want 0 (binary) or 1 (JSON)", enc)
	}
	off := BroadcastHeaderLen
	var fields [3][]byte // topic, user_event, metadata
	for k := range fields {
		n := int(data[1+k])
		if len(data)-off < n {
			return Message{}, fmt.Errorf("decode binary frame: truncated in %s (%d bytes declared, %d left)",
				broadcastFieldNames[k], n, len(data)-off)
		}
		fields[k] = data[off : off+n]
		off += n
	}
	m := Message{
		Topic:       string(fields[0]),
		Event:       "broadcast",
		Binary:      true,
		UserEvent:   string(fields[1]),
		JSONPayload: enc == EncodingJSON,
		Data:        data[off:],
	}
	if meta := fields[2]; len(meta) > 0 {
		if !validJSONObject(meta) {
			return Message{}, errors.New("decode binary frame: metadata is not a JSON object")
		}
		m.Metadata = meta
	}
	if m.JSONPayload && !ValidJSONValue(m.Data) {
		return Message{}, errors.New("decode binary frame: payload encoding is JSON but the payload is not valid JSON")
	}
	return m, nil
}

var broadcastFieldNames = [3]string{"topic", "user_event", "metadata"}
