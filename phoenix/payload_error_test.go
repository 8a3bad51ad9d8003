package phoenix

import (
	"errors"
	"strings"
	"testing"
)

func nested(levels int) string { return strings.Repeat("[", levels) + strings.Repeat("]", levels) }

// A frame whose envelope decodes but whose payload is refused keeps its
// refs, topic and event, so that the server can answer the client.
func TestDecodeTextPayloadError(t *testing.T) {
	deep := nested(DefaultMaxJSONDepth) // one level too many under the envelope
	tests := []struct {
		name    string
		v       Version
		in      string
		wantErr string
	}{
		{"v2 too deep", V2, `["1","2","realtime:t","phx_join",` + deep + `]`, "nested too deeply"},
		{"v2 not JSON", V2, `["1","2","realtime:t","phx_join",{x]`, "payload: invalid JSON"},
		{"v2 bad literal", V2, `["1","2","realtime:t","phx_join",nope]`, "bad literal"},
		{"v1 too deep, refs after the payload", V1, `{"topic":"realtime:t","event":"phx_join","payload":` + deep + `,"ref":"2","join_ref":"1"}`, "nested too deeply"},
		{"v1 broken object, refs after it", V1, `{"topic":"realtime:t","event":"phx_join","payload":{"a" 1},"ref":"2","join_ref":"1"}`, "want ':'"},
		{"v1 too deep with brackets in strings", V1, `{"topic":"realtime:t","event":"phx_join","payload":[` + nested(DefaultMaxJSONDepth) + `,"]]}"],"ref":"2","join_ref":"1"}`, "nested too deeply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeText(tc.v, []byte(tc.in))
			if _, ok := errors.AsType[*PayloadError](err); !ok {
				t.Fatalf("error = %v, want a *PayloadError", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if m.JoinRef != "1" || m.Ref != "2" || m.Topic != "realtime:t" || m.Event != "phx_join" || m.Payload != nil {
				t.Errorf("message = %+v, want the envelope without a payload", m)
			}
		})
	}
}

func TestDecodeTextDepthLimit(t *testing.T) {
	ok := `["1","2","t","e",` + nested(DefaultMaxJSONDepth-1) + `]`
	if _, err := DecodeText(V2, []byte(ok)); err != nil {
		t.Errorf("%d levels with the envelope: %v", DefaultMaxJSONDepth, err)
	}
	if _, err := DecodeTextDepth(V2, []byte(ok), 8); err == nil {
		t.Error("DecodeTextDepth(8) accepted 64 levels")
	}
	if _, err := DecodeTextDepth(V1, []byte(`{"topic":"t","event":"e","payload":`+nested(7)+`}`), 8); err != nil {
		t.Errorf("DecodeTextDepth(8), 8 levels: %v", err)
	}
	// An unterminated deep payload in V1 is no envelope at all.
	_, err := DecodeText(V1, []byte(`{"topic":"t","event":"e","payload":`+strings.Repeat("[", 100)))
	if _, ok := errors.AsType[*PayloadError](err); ok || err == nil {
		t.Errorf("unterminated payload: error %v, want a plain error", err)
	}
}

// What a vsn 1.0.0 receiver would get as text must be valid UTF-8 JSON.
func TestDecodeBinaryRefusesWhatTextCannotCarry(t *testing.T) {
	push := func(topic, event, meta string, json bool, payload string) []byte {
		return AppendBroadcastPush(nil, "1", "2", topic, event, []byte(meta), json, []byte(payload))
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"payload not UTF-8", push("realtime:r", "e", "", true, "{\"s\":\"\xc3\x28\xff\"}"), "not valid UTF-8"},
		{"payload not JSON", push("realtime:r", "e", "", true, `{"s":`), "not valid JSON"},
		{"payload too deep", push("realtime:r", "e", "", true, nested(DefaultMaxJSONDepth+1)), "nested too deeply"},
		{"topic not UTF-8", push("realtime:\xff", "e", "", false, "x"), "topic is not valid UTF-8"},
		{"event not UTF-8", push("realtime:r", "\xc3", "", false, "x"), "user event is not valid UTF-8"},
		{"metadata not UTF-8", push("realtime:r", "e", "{\"a\":\"\xff\"}", false, "x"), "metadata is not valid UTF-8"},
		{"metadata not an object", push("realtime:r", "e", "[]", false, "x"), "metadata is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeBinary(tc.in)
			if _, ok := errors.AsType[*PayloadError](err); !ok {
				t.Fatalf("error = %v, want a *PayloadError", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if m.JoinRef != "1" || m.Ref != "2" || !m.Binary || m.Data != nil {
				t.Errorf("message = %+v, want the refs and no data", m)
			}
		})
	}
	// Raw bytes are never text: anything goes.
	if _, err := DecodeBinary(push("realtime:r", "e", "", false, "\xff\xfe")); err != nil {
		t.Errorf("raw payload: %v", err)
	}
}
