package phoenix

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// pushFrame builds a kind-3 frame byte by byte, any encoding byte
// included, independently of AppendBroadcastPush.
func pushFrame(joinRef, ref, topic, event, meta string, enc byte, payload []byte) []byte {
	b := []byte{kindUserBroadcastPush, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), byte(len(meta)), enc}
	b = append(b, joinRef+ref+topic+event+meta...)
	return append(b, payload...)
}

func TestAppendBroadcastPush(t *testing.T) {
	for _, jsonPayload := range []bool{false, true} {
		enc := byte(EncodingRaw)
		if jsonPayload {
			enc = EncodingJSON
		}
		want := pushFrame("1", "2", "realtime:r", "ev", `{"a":1}`, enc, []byte(`{"x":1}`))
		got := AppendBroadcastPush(nil, "1", "2", "realtime:r", "ev", json.RawMessage(`{"a":1}`), jsonPayload, []byte(`{"x":1}`))
		if !bytes.Equal(got, want) {
			t.Errorf("AppendBroadcastPush(json=%v) = %q, want %q", jsonPayload, got, want)
		}
	}
}

func TestDecodeBinaryGolden(t *testing.T) {
	tests := []struct {
		file string
		want Message
	}{
		{"v2_broadcast_kind3.bin", Message{JoinRef: "6", Ref: "8", Topic: "realtime:room1", Event: "broadcast", Binary: true,
			UserEvent: "cursor", JSONPayload: true, Data: []byte(`{"x":9,"s":"é"}`)}},
		{"v2_broadcast_kind3_meta_raw.bin", Message{JoinRef: "6", Ref: "8", Topic: "realtime:room1", Event: "broadcast", Binary: true,
			UserEvent: "cursor", Metadata: json.RawMessage(`{"persist":{"ttl":60}}`), Data: []byte{0, 1, 2, 255}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := DecodeBinary(readCodecFrame(t, tc.file))
			if err != nil {
				t.Fatalf("DecodeBinary: %v", err)
			}
			if d := diffMessage(got, tc.want); d != "" {
				t.Errorf("DecodeBinary mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeBinary(t *testing.T) {
	long := strings.Repeat("t", 255)
	tests := []struct {
		name string
		in   []byte
		want Message
	}{
		{"no refs, empty payload", pushFrame("", "", "realtime:a", "e", "", 0, nil),
			Message{Topic: "realtime:a", Event: "broadcast", Binary: true, UserEvent: "e"}},
		{"255-byte topic", pushFrame("1", "2", long, "e", "", 1, []byte(`[1]`)),
			Message{JoinRef: "1", Ref: "2", Topic: long, Event: "broadcast", Binary: true, UserEvent: "e", JSONPayload: true, Data: []byte(`[1]`)}},
		{"metadata with white space", pushFrame("1", "2", "t", "e", ` {"persist":true} `, 1, []byte(` "s" `)),
			Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "broadcast", Binary: true, UserEvent: "e",
				Metadata: json.RawMessage(` {"persist":true} `), JSONPayload: true, Data: []byte(` "s" `)}},
		{"raw payload that is not JSON", pushFrame("1", "2", "t", "e", "", 0, []byte("\x00{")),
			Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "broadcast", Binary: true, UserEvent: "e", Data: []byte("\x00{")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBinary(tc.in)
			if err != nil {
				t.Fatalf("DecodeBinary: %v", err)
			}
			if d := diffMessage(got, tc.want); d != "" {
				t.Errorf("DecodeBinary mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeBinaryErrors(t *testing.T) {
	ok := pushFrame("1", "2", "topic", "ev", `{"a":1}`, 1, []byte(`{}`))
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"empty", nil, "empty"},
		{"kind 0 push", []byte{0, 1, 2}, "kind 0, want 3"},
		{"kind 4 is server to client", []byte{4, 0, 0, 0, 1}, "kind 4, want 3"},
		{"short header", []byte{3, 0, 0, 0}, "shorter than the 7-byte header"},
		{"bad encoding", pushFrame("", "", "t", "e", "", 2, nil), "payload encoding 2"},
		{"truncated join_ref", []byte{3, 5, 0, 0, 0, 0, 0, 'a'}, "truncated in join_ref"},
		{"truncated topic", ok[:7+1+1+3], "truncated in topic"},
		{"truncated metadata", ok[:7+1+1+5+2+3], "truncated in metadata"},
		{"metadata not an object", pushFrame("", "", "t", "e", `[1]`, 1, []byte(`{}`)), "metadata is not a JSON object"},
		{"metadata invalid", pushFrame("", "", "t", "e", `{"a"}`, 1, []byte(`{}`)), "metadata is not a JSON object"},
		{"JSON payload invalid", pushFrame("", "", "t", "e", "", 1, []byte(`{"a":}`)), "payload is not valid JSON"},
		{"JSON payload empty", pushFrame("", "", "t", "e", "", 1, nil), "payload is not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBinary(tc.in)
			if err == nil {
				t.Fatalf("DecodeBinary(%q) = %+v, want an error containing %q", tc.in, got, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("DecodeBinary(%q) error = %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestAppendBroadcastBinary(t *testing.T) {
	long := strings.Repeat("x", 255)
	tests := []struct {
		name        string
		topic, ev   string
		meta        []byte
		jsonPayload bool
		payload     []byte
		want        []byte
	}{
		{"json payload", "realtime:room1", "cursor", nil, true, []byte(`{"x":9}`),
			append([]byte{4, 14, 6, 0, 1}, "realtime:room1cursor{\"x\":9}"...)},
		{"raw payload with metadata", "t", "e", []byte(`{"replayed":true}`), false, []byte{0, 255},
			append([]byte{4, 1, 1, 17, 0}, "te{\"replayed\":true}\x00\xff"...)},
		{"empty everything", "", "", nil, false, nil, []byte{4, 0, 0, 0, 0}},
		{"255-byte strings fit", long, long, []byte(long), true, []byte(`1`),
			append(append([]byte{4, 255, 255, 255, 1}, long+long+long...), '1')},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !BroadcastBinaryFits(tc.topic, tc.ev, tc.meta) {
				t.Fatalf("BroadcastBinaryFits = false, want true")
			}
			got := AppendBroadcastBinary([]byte("pre"), tc.topic, tc.ev, tc.meta, tc.jsonPayload, tc.payload)
			if want := append([]byte("pre"), tc.want...); !bytes.Equal(got, want) {
				t.Errorf("AppendBroadcastBinary =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestAppendBroadcastBinaryTooLong(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name      string
		topic, ev string
		meta      []byte
	}{
		{"topic", long, "e", nil},
		{"user event", "t", long, nil},
		{"metadata", "t", "e", []byte(long)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if BroadcastBinaryFits(tc.topic, tc.ev, tc.meta) {
				t.Errorf("BroadcastBinaryFits = true for a 256-byte %s, want false", tc.name)
			}
			dst := []byte("pre")
			if got := AppendBroadcastBinary(dst, tc.topic, tc.ev, tc.meta, true, []byte(`{}`)); string(got) != "pre" {
				t.Errorf("AppendBroadcastBinary = %q, want dst unchanged", got)
			}
		})
	}
}

// TestBinaryRelay is the server's path: a client's kind-3 push goes out to
// the other V2 clients as kind 4, and to V1 clients as a text broadcast.
func TestBinaryRelay(t *testing.T) {
	in, err := DecodeBinary(readCodecFrame(t, "v2_broadcast_kind3.bin"))
	if err != nil {
		t.Fatal(err)
	}
	got := AppendBroadcastBinary(nil, in.Topic, in.UserEvent, in.Metadata, in.JSONPayload, in.Data)
	want := append([]byte{4, 14, 6, 0, 1}, `realtime:room1cursor{"x":9,"s":"é"}`...)
	if !bytes.Equal(got, want) {
		t.Errorf("kind 4 =\n%q\nwant\n%q", got, want)
	}
	payload := AppendBroadcastPayload(nil, in.UserEvent, in.Metadata, in.Data)
	text := AppendText(nil, V1, Message{Topic: in.Topic, Event: "broadcast", Payload: payload})
	if want := `{"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"cursor","payload":{"x":9,"s":"é"}},"ref":null}`; string(text) != want {
		t.Errorf("v1 text =\n%s\nwant\n%s", text, want)
	}
}

func TestAppendBroadcastPayload(t *testing.T) {
	tests := []struct {
		name          string
		ev            string
		meta, payload json.RawMessage
		want          string
	}{
		{"plain", "cursor", nil, json.RawMessage(`{"x":1}`), `{"type":"broadcast","event":"cursor","payload":{"x":1}}`},
		{"with meta", "e", json.RawMessage(`{"replayed":true,"id":"1"}`), json.RawMessage(`[1]`), `{"type":"broadcast","event":"e","payload":[1],"meta":{"replayed":true,"id":"1"}}`},
		{"empty payload", "e\"", nil, nil, `{"type":"broadcast","event":"e\"","payload":{}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendBroadcastPayload(nil, tc.ev, tc.meta, tc.payload)
			if string(got) != tc.want {
				t.Errorf("AppendBroadcastPayload =\n%s\nwant\n%s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("invalid JSON: %s", got)
			}
		})
	}
}
