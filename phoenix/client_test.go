package phoenix

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendPush(t *testing.T) {
	join := Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_join", Payload: json.RawMessage(`{"config":{}}`)}
	heartbeat := Message{Ref: "7", Topic: "phoenix", Event: "heartbeat"}
	tests := []struct {
		name string
		v    Version
		m    Message
		want string
	}{
		{"v2 join", V2, join, `["6","6","realtime:room1","phx_join",{"config":{}}]`},
		{"v1 join carries join_ref", V1, join, `{"topic":"realtime:room1","event":"phx_join","payload":{"config":{}},"ref":"6","join_ref":"6"}`},
		{"v2 heartbeat", V2, heartbeat, `[null,"7","phoenix","heartbeat",{}]`},
		{"v1 heartbeat has no join_ref", V1, heartbeat, `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}`},
		{"escaped topic", V1, Message{Ref: "1", Topic: "a\"b", Event: "e"}, `{"topic":"a\"b","event":"e","payload":{},"ref":"1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendPush([]byte("pre"), tc.v, tc.m)
			if !bytes.HasPrefix(got, []byte("pre")) || string(got[3:]) != tc.want {
				t.Fatalf("AppendPush = %s, want pre%s", got, tc.want)
			}
			back, err := DecodeText(tc.v, got[3:])
			if err != nil {
				t.Fatal(err)
			}
			want := tc.m
			if len(want.Payload) == 0 {
				want.Payload = emptyJSONObject
			}
			if d := diffMessage(back, want); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeBroadcast(t *testing.T) {
	frame := AppendBroadcastBinary(nil, "realtime:room1", "cursor", []byte(`{"id":"1"}`), true, []byte(`{"x":9}`))
	m, err := DecodeBroadcast(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Topic: "realtime:room1", Event: "broadcast", Binary: true, UserEvent: "cursor",
		Metadata: json.RawMessage(`{"id":"1"}`), JSONPayload: true, Data: []byte(`{"x":9}`)}
	if d := diffMessage(m, want); d != "" {
		t.Errorf("DecodeBroadcast (-want +got):\n%s", d)
	}
	raw, err := DecodeBroadcast(AppendBroadcastBinary(nil, "t", "e", nil, false, []byte{0, 1, 0xff}))
	if err != nil || raw.JSONPayload || !bytes.Equal(raw.Data, []byte{0, 1, 0xff}) || raw.Metadata != nil {
		t.Errorf("raw payload: %+v, %v", raw, err)
	}

	bad := []struct {
		name, frame, err string
	}{
		{"empty", "", "empty"},
		{"kind 3 is client to server", "\x03\x00\x00\x00\x00\x00\x01", "kind 3, want 4"},
		{"short header", "\x04\x00\x00", "shorter than"},
		{"bad encoding", "\x04\x00\x00\x00\x02", "payload encoding 2"},
		{"truncated topic", "\x04\x05\x00\x00\x01abc", "truncated in topic"},
		{"truncated metadata", "\x04\x01\x01\x09\x01te{}", "truncated in metadata"},
		{"metadata not an object", "\x04\x01\x01\x02\x01te[]{}", "metadata is not a JSON object"},
		{"payload not JSON", "\x04\x01\x01\x00\x01te{", "not valid JSON"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeBroadcast([]byte(tc.frame)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("DecodeBroadcast(%q) = %v, want an error with %q", tc.frame, err, tc.err)
			}
		})
	}
}

// FuzzDecodeBroadcast: DecodeBroadcast never panics, agrees with the
// reference decoder (realtime-js's), keeps its JSON promises, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeBroadcast(f *testing.F) {
	f.Add([]byte{4, 1, 1, 0, 1, 't', 'e', '{', '}'})
	f.Add(AppendBroadcastBinary(nil, "realtime:x", "ev", []byte(`{"a":1}`), false, []byte{1, 2}))
	f.Add([]byte{4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeBroadcast(data)
		topic, event, meta, js, payload, ok := decodeKind4(data)
		if err != nil {
			return
		}
		if !ok || topic != m.Topic || event != m.UserEvent || !bytes.Equal(meta, m.Metadata) || js != m.JSONPayload || !bytes.Equal(payload, m.Data) {
			t.Fatalf("DecodeBroadcast(%q) = %+v, reference decoder disagrees", data, m)
		}
		if len(m.Metadata) > 0 && !json.Valid(m.Metadata) || m.JSONPayload && !json.Valid(m.Data) {
			t.Fatalf("accepted invalid JSON: %+v", m)
		}
		if out := AppendBroadcastBinary(nil, m.Topic, m.UserEvent, m.Metadata, m.JSONPayload, m.Data); !bytes.Equal(out, data) {
			t.Fatalf("re-encoded %q, want %q", out, data)
		}
	})
}
