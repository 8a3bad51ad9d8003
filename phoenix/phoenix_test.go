package phoenix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// readCodecFrame reads a frame from testdata/frames.
func readCodecFrame(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "frames", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diffMessage compares messages treating nil and empty byte slices alike.
// The cheap comparison goes first: cmp.Diff walks byte slices element by
// element, which would dominate a fuzz run.
func diffMessage(got, want Message) string {
	if got.JoinRef == want.JoinRef && got.Ref == want.Ref && got.Topic == want.Topic && got.Event == want.Event &&
		bytes.Equal(got.Payload, want.Payload) && got.Binary == want.Binary && got.UserEvent == want.UserEvent &&
		bytes.Equal(got.Metadata, want.Metadata) && got.JSONPayload == want.JSONPayload && bytes.Equal(got.Data, want.Data) {
		return ""
	}
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"", V1, false},
		{"1.0.0", V1, false},
		{"2.0.0", V2, false},
		{"2.0.7", V2, false},
		{"1.0.12", V1, false},
		{"3.0.0", 0, true},
		{"2.1.0", 0, true},
		{"2.0", 0, true},
		{"2.0.", 0, true},
		{"2.0.0-rc", 0, true},
		{"v2", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if got, want := V1.String(), "1.0.0"; got != want {
		t.Errorf("V1.String() = %q, want %q", got, want)
	}
	if got, want := V2.String(), "2.0.0"; got != want {
		t.Errorf("V2.String() = %q, want %q", got, want)
	}
}

func TestDecodeTextGolden(t *testing.T) {
	joinPayload := `{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u-self","enabled":true},"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},{"event":"*","schema":"public","table":"todos"}],"private":false}}`
	tests := []struct {
		file string
		v    Version
		want Message
	}{
		{"v2_join.json", V2, Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_join", Payload: json.RawMessage(joinPayload)}},
		{"v1_join.json", V1, Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_join", Payload: json.RawMessage(joinPayload)}},
		{"v2_heartbeat.json", V2, Message{Ref: "12", Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)}},
		{"v1_heartbeat.json", V1, Message{Ref: "12", Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)}},
		{"v2_access_token.json", V2, Message{JoinRef: "6", Ref: "9", Topic: "realtime:room1", Event: "access_token", Payload: json.RawMessage(`{"access_token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}`)}},
		{"v2_leave.json", V2, Message{JoinRef: "6", Ref: "10", Topic: "realtime:room1", Event: "phx_leave", Payload: json.RawMessage(`{}`)}},
		{"v2_presence_track.json", V2, Message{JoinRef: "6", Ref: "7", Topic: "realtime:room1", Event: "presence", Payload: json.RawMessage(`{"type":"presence","event":"track","payload":{"user":"a"}}`)}},
		{"v2_broadcast_text.json", V2, Message{JoinRef: "6", Ref: "11", Topic: "realtime:room1", Event: "broadcast", Payload: json.RawMessage(`{"type":"broadcast","event":{"not":"a string"},"payload":{"x":1}}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := DecodeText(tc.v, readCodecFrame(t, tc.file))
			if err != nil {
				t.Fatalf("DecodeText: %v", err)
			}
			if d := diffMessage(got, tc.want); d != "" {
				t.Errorf("DecodeText mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeTextV2(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"refs as numbers", `[6, 7, "t", "e", {}]`, Message{JoinRef: "6", Ref: "7", Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"negative and decimal refs kept as text", `[-1,1.5e3,"t","e",{}]`, Message{JoinRef: "-1", Ref: "1.5e3", Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"null refs", `[null,null,"t","e",{}]`, Message{Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"extra elements ignored", `["1","2","t","e",{"a":1},"x",[1,{"b":null}]]`, Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`{"a":1}`)}},
		{"white space everywhere", " \n[ \"1\" ,\t\"2\" , \"t\" , \"e\" , { \"a\" : [ 1 , 2 ] } ] \r\n", Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`{ "a" : [ 1 , 2 ] }`)}},
		{"escaped strings", `["\u0031","a\"b","realtime:caf\u00e9","ev\\ent",null]`, Message{JoinRef: "1", Ref: `a"b`, Topic: "realtime:café", Event: `ev\ent`, Payload: json.RawMessage(`null`)}},
		{"payload of any kind", `["1","2","t","e","text"]`, Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`"text"`)}},
		{"payload number", `["1","2","t","e",-0.5E+2]`, Message{JoinRef: "1", Ref: "2", Topic: "t", Event: "e", Payload: json.RawMessage(`-0.5E+2`)}},
		{"empty topic and event", `["","","","",{}]`, Message{Payload: json.RawMessage(`{}`)}},
		{"invalid UTF-8 becomes U+FFFD", "[null,null,\"a\xffb\",\"e\",{}]", Message{Topic: "a\uFFFDb", Event: "e", Payload: json.RawMessage(`{}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeText(V2, []byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeText(%q): %v", tc.in, err)
			}
			if d := diffMessage(got, tc.want); d != "" {
				t.Errorf("DecodeText(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestDecodeTextV1(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"no join_ref (heartbeat)", `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}`, Message{Ref: "3", Topic: "phoenix", Event: "heartbeat", Payload: json.RawMessage(`{}`)}},
		{"no refs at all", `{"topic":"t","event":"e","payload":{}}`, Message{Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"any key order, unknown keys", `{"x":[1,{"y":"}"}],"payload":[1],"join_ref":5,"event":"e","ref":null,"topic":"t"}`, Message{JoinRef: "5", Topic: "t", Event: "e", Payload: json.RawMessage(`[1]`)}},
		{"escaped key", `{"top\u0069c":"t","event":"e","payload":{}}`, Message{Topic: "t", Event: "e", Payload: json.RawMessage(`{}`)}},
		{"duplicate key: last wins", `{"topic":"a","topic":"b","event":"e","payload":1,"payload":2}`, Message{Topic: "b", Event: "e", Payload: json.RawMessage(`2`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeText(V1, []byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeText(%q): %v", tc.in, err)
			}
			if d := diffMessage(got, tc.want); d != "" {
				t.Errorf("DecodeText(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestDecodeTextErrors(t *testing.T) {
	tests := []struct {
		name    string
		v       Version
		in      string
		wantErr string // a substring of the error
	}{
		{"v2 empty", V2, ``, "not a JSON array"},
		{"v2 object", V2, `{"topic":"t","event":"e","payload":{}}`, "not a JSON array"},
		{"v2 empty array", V2, `[]`, "0 elements, want at least 5"},
		{"v2 four elements", V2, `["1","2","t","e"]`, "4 elements, want at least 5"},
		{"v2 topic not string", V2, `["1","2",3,"e",{}]`, "topic: want a string, got a number"},
		{"v2 event null", V2, `["1","2","t",null,{}]`, "event: want a string, got null"},
		{"v2 ref object", V2, `["1",{},"t","e",{}]`, "ref: want a string, number or null, got an object"},
		{"v2 join_ref bool", V2, `[true,"2","t","e",{}]`, "join_ref: want a string, number or null, got a boolean"},
		{"v2 truncated", V2, `["1","2","t","e",{"a":`, "unexpected end of input"},
		{"v2 bad payload", V2, `["1","2","t","e",{"a":tru}]`, "bad literal"},
		{"v2 trailing comma", V2, `["1","2","t","e",{},]`, "unexpected character"},
		{"v2 missing comma", V2, `["1" "2","t","e",{}]`, "want ',' or ']'"},
		{"v2 data after array", V2, `["1","2","t","e",{}] x`, "data after the array"},
		{"v2 two arrays", V2, `["1","2","t","e",{}]["1"]`, "data after the array"},
		{"v2 control char in string", V2, "[\"1\",\"2\",\"a\nb\",\"e\",{}]", "control character"},
		{"v2 bad escape", V2, `["1","2","\x","e",{}]`, "bad escape"},
		{"v2 bad unicode escape", V2, `["1","2","\u12G4","e",{}]`, `bad \u escape`},
		{"v2 unterminated string", V2, `["1","2","t`, "unterminated string"},
		{"v2 bad number", V2, `["1",01,"t","e",{}]`, "want ',' or ']'"},
		{"v2 bad exponent", V2, `["1",1e,"t","e",{}]`, "bad number"},
		{"v2 bad fraction", V2, `["1",1.,"t","e",{}]`, "bad number"},
		{"v2 lone minus", V2, `["1",-,"t","e",{}]`, "bad number"},
		{"v2 object key not string", V2, `["1","2","t","e",{a:1}]`, "want an object key"},
		{"v2 object missing colon", V2, `["1","2","t","e",{"a" 1}]`, "want ':'"},
		{"v2 too deep", V2, `["1","2","t","e",` + strings.Repeat("[", DefaultMaxJSONDepth) + strings.Repeat("]", DefaultMaxJSONDepth) + `]`, "nested too deeply"},
		{"v1 array", V1, `["1","2","t","e",{}]`, "not a JSON object"},
		{"v1 empty object", V1, `{}`, `missing "topic"`},
		{"v1 missing event", V1, `{"topic":"t","payload":{}}`, `missing "event"`},
		{"v1 missing payload", V1, `{"topic":"t","event":"e"}`, `missing "payload"`},
		{"v1 topic number", V1, `{"topic":1,"event":"e","payload":{}}`, "topic: want a string, got a number"},
		{"v1 ref array", V1, `{"topic":"t","event":"e","payload":{},"ref":[1]}`, "ref: want a string, number or null, got an array"},
		{"v1 bad member", V1, `{"topic":"t",}`, "want an object key"},
		{"v1 missing colon", V1, `{"topic" "t"}`, "want ':'"},
		{"v1 missing comma", V1, `{"topic":"t" "event":"e"}`, "want ',' or '}'"},
		{"v1 trailing data", V1, `{"topic":"t","event":"e","payload":{}}}`, "data after the object"},
		{"unknown version", Version(9), `[]`, "unknown serializer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeText(tc.v, []byte(tc.in))
			if err == nil {
				t.Fatalf("DecodeText(%q) = %+v, want an error containing %q", tc.in, got, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("DecodeText(%q) error = %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestAppendText(t *testing.T) {
	payload := json.RawMessage(`{"status":"ok","response":{}}`)
	tests := []struct {
		name string
		v    Version
		m    Message
		want string
	}{
		{"v2 heartbeat reply", V2, Message{Ref: "12", Topic: "phoenix", Event: "phx_reply", Payload: payload},
			`[null,"12","phoenix","phx_reply",{"status":"ok","response":{}}]`},
		{"v1 heartbeat reply", V1, Message{Ref: "12", Topic: "phoenix", Event: "phx_reply", Payload: payload},
			`{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"12"}`},
		{"v2 join reply", V2, Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_reply", Payload: payload},
			`["6","6","realtime:room1","phx_reply",{"status":"ok","response":{}}]`},
		{"v1 drops join_ref", V1, Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_reply", Payload: payload},
			`{"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"6"}`},
		{"v2 push with null refs", V2, Message{Topic: "realtime:room1", Event: "postgres_changes", Payload: json.RawMessage(`{"ids":[1],"data":{}}`)},
			`[null,null,"realtime:room1","postgres_changes",{"ids":[1],"data":{}}]`},
		{"v1 push with null ref", V1, Message{Topic: "realtime:room1", Event: "broadcast", Payload: json.RawMessage(`{}`)},
			`{"topic":"realtime:room1","event":"broadcast","payload":{},"ref":null}`},
		{"v2 phx_close", V2, Message{JoinRef: "6", Ref: "6", Topic: "realtime:room1", Event: "phx_close"},
			`["6","6","realtime:room1","phx_close",{}]`},
		{"escaping", V2, Message{JoinRef: "a\"b", Ref: "\\", Topic: "t\n\x01<&>é", Event: "e\xff", Payload: json.RawMessage(`{}`)},
			`["a\"b","\\","t\n\u0001<&>é","e\ufffd",{}]`},
		{"binary fields ignored", V2, Message{Topic: "t", Event: "broadcast", Binary: true, UserEvent: "u", Data: []byte("x")},
			`[null,null,"t","broadcast",{}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix:")
			got := AppendText(prefix, tc.v, tc.m)
			if want := "prefix:" + tc.want; string(got) != want {
				t.Errorf("AppendText =\n%s\nwant\n%s", got, want)
			}
			if !json.Valid(got[len(prefix):]) {
				t.Errorf("AppendText wrote invalid JSON: %s", got)
			}
		})
	}
}

// TestTextRoundTrip checks that what a client sends comes back unchanged
// through DecodeText and AppendText (V1 loses join_ref by design).
func TestTextRoundTrip(t *testing.T) {
	for _, file := range []string{"v2_join.json", "v2_heartbeat.json", "v2_access_token.json", "v2_leave.json", "v2_presence_track.json", "v2_broadcast_text.json", "v2_rejoin.json"} {
		in := readCodecFrame(t, file)
		m, err := DecodeText(V2, in)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := AppendText(nil, V2, m); !bytes.Equal(got, in) {
			t.Errorf("%s: round trip =\n%s\nwant\n%s", file, got, in)
		}
	}
	in := readCodecFrame(t, "v1_heartbeat.json")
	m, err := DecodeText(V1, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendText(nil, V1, m); !bytes.Equal(got, in) {
		t.Errorf("v1 round trip =\n%s\nwant\n%s", got, in)
	}
}

// TestDecodeTextAliasesInput pins the documented buffer contract: Payload
// is a view of the input, the strings are not.
func TestDecodeTextAliasesInput(t *testing.T) {
	in := []byte(`["1","2","realtime:x","broadcast",{"a":1}]`)
	m, err := DecodeText(V2, in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = ' '
	}
	if m.Topic != "realtime:x" || m.Event != "broadcast" || m.JoinRef != "1" || m.Ref != "2" {
		t.Errorf("strings changed with the input buffer: %+v", m)
	}
	if got, want := string(m.Payload), "       "; got != want {
		t.Errorf("Payload = %q after overwriting the input, want %q (a view)", got, want)
	}
}

func TestDecodeTextAllocs(t *testing.T) {
	heartbeat := readCodecFrame(t, "v2_heartbeat.json")
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeText(V2, heartbeat) }); n > 1 {
		t.Errorf("DecodeText(heartbeat) allocates %v times, want at most 1 (the ref)", n)
	}
	out := make([]byte, 0, 512)
	m := Message{Ref: "12", Topic: "phoenix", Event: "phx_reply", Payload: json.RawMessage(`{"status":"ok","response":{}}`)}
	if n := testing.AllocsPerRun(100, func() { out = AppendText(out[:0], V2, m) }); n != 0 {
		t.Errorf("AppendText allocates %v times with room in dst, want 0", n)
	}
}
