package transport

import (
	"bytes"
	"encoding/json"

	"github.com/walcast/walcast/phoenix"

	"github.com/walcast/walcast/broadcast"
)

// Every broadcast is encoded once per serializer, into fresh slices that the
// hub hands to every receiving socket: nothing is encoded per receiver, and
// nothing aliases the sender's read buffer or the replication stream's.

// encodeClientText encodes a client's text broadcast push for topic (the
// receivers' join topic, realtime:<sub>). The client's payload map,
// {"type":"broadcast","event":…,"payload":…}, is forwarded verbatim, as
// Supabase does, so whatever else the client put there arrives too.
func encodeClientText(topic string, payload json.RawMessage) *broadcast.Message {
	var msg broadcast.Message
	for k, v := range [broadcast.Kinds]phoenix.Version{kindV1: phoenix.V1, kindV2: phoenix.V2} {
		msg.Frames[k].Body = appendTextFrame(v, topic, evBroadcast, func(dst []byte) []byte {
			return append(dst, payload...)
		}, len(payload))
	}
	return &msg
}

// userBroadcast is a broadcast whose text form realtime-js would build from
// a kind-4 frame: {"type":"broadcast","event":event,"payload":…,"meta":meta}.
type userBroadcast struct {
	event   string
	meta    json.RawMessage // a JSON object, or empty
	payload []byte          // JSON text when json is set, else raw bytes
	json    bool
	// binary sends a kind-4 frame to vsn 2.0.0 sockets; otherwise they get
	// text, like vsn 1.0.0 ones.
	binary bool
}

// encodeUserBroadcast encodes b for topic. vsn 2.0.0 sockets get a kind-4
// frame when b.binary is set and the header strings fit one (255 bytes
// each), else text. vsn 1.0.0 sockets get text; a raw-bytes payload has no
// text form, so it reaches vsn 2.0.0 sockets only, and no one when it does
// not fit a kind-4 frame.
func encodeUserBroadcast(topic string, b userBroadcast) *broadcast.Message {
	var msg broadcast.Message
	var text []byte // the text payload, built once for whoever needs it
	textFor := func(v phoenix.Version) []byte {
		n := len(b.payload) + len(b.event) + len(b.meta) + 48
		return appendTextFrame(v, topic, evBroadcast, func(dst []byte) []byte {
			if text != nil {
				return append(dst, text...)
			}
			start := len(dst)
			dst = phoenix.AppendBroadcastPayload(dst, b.event, b.meta, b.payload)
			text = dst[start:len(dst):len(dst)]
			return dst
		}, n)
	}
	if b.binary && phoenix.BroadcastBinaryFits(topic, b.event, b.meta) {
		n := phoenix.BroadcastHeaderLen + len(topic) + len(b.event) + len(b.meta) + len(b.payload)
		msg.Frames[kindV2] = broadcast.Frame{
			Binary: true,
			Body:   phoenix.AppendBroadcastBinary(make([]byte, 0, n), topic, b.event, b.meta, b.json, b.payload),
		}
	} else if b.json {
		msg.Frames[kindV2].Body = textFor(phoenix.V2)
	}
	if b.json {
		msg.Frames[kindV1].Body = textFor(phoenix.V1)
	}
	return &msg
}

// appendTextFrame returns a new server→client text frame of event on topic
// whose payload appendPayload writes (about payloadLen bytes). The framing
// comes from AppendText, so it always matches the other frames.
func appendTextFrame(v phoenix.Version, topic, event string, appendPayload func([]byte) []byte, payloadLen int) []byte {
	// AppendText escapes control characters in topic and event, so the only
	// NUL byte of this frame is the placeholder payload.
	var scratch [128]byte
	frame := phoenix.AppendText(scratch[:0], v, phoenix.Message{Topic: topic, Event: event, Payload: json.RawMessage{0}})
	i := bytes.IndexByte(frame, 0)
	dst := make([]byte, 0, len(frame)-1+payloadLen)
	dst = append(dst, frame[:i]...)
	dst = appendPayload(dst)
	return append(dst, frame[i+1:]...)
}
