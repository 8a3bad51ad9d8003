package phoenix

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// addFrameSeeds adds every file of testdata/frames whose name ends in ext.
func addFrameSeeds(f *testing.F, ext string, add func([]byte)) {
	names, err := filepath.Glob(filepath.Join("testdata", "frames", "*"+ext))
	if err != nil || len(names) == 0 {
		f.Fatalf("no %s seeds: %v", ext, err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzDecodeText: DecodeText never panics, accepts nothing encoding/json
// calls invalid, refuses nothing for a JSON syntax reason that encoding/json
// accepts, and what it accepts re-encodes to a frame that decodes to the same
// message (V1 output has no join_ref, by design).
func FuzzDecodeText(f *testing.F) {
	addFrameSeeds(f, ".json", func(b []byte) { f.Add(uint8(V1), b); f.Add(uint8(V2), b) })
	for _, s := range []string{
		`[1,2,"t","e",{},3]`, `[null,null,"\u00e9\ud800","e",[]]`, `{"topic":"t","event":"e","payload":null,"x":{}}`,
		`["1","2","t","e",{"a":"\"}\\"}]`, "[\"\xff\",\"2\",\"t\",\"e\",1e-5]",
	} {
		f.Add(uint8(V2), []byte(s))
		f.Add(uint8(V1), []byte(s))
	}
	f.Fuzz(func(t *testing.T, vb uint8, data []byte) {
		v := Version(vb%2 + 1)
		m, err := DecodeText(v, data)
		if err != nil {
			var se *jsonSyntaxError
			if errors.As(err, &se) && json.Valid(data) && !strings.Contains(se.msg, "nested too deeply") {
				t.Fatalf("DecodeText(%v, %q) = %v, but encoding/json finds it valid", v, data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeText(%v, %q) accepted invalid JSON", v, data)
		}
		if !json.Valid(m.Payload) {
			t.Fatalf("payload %q is not valid JSON", m.Payload)
		}
		out := AppendText(nil, v, m)
		if !json.Valid(out) {
			t.Fatalf("AppendText wrote invalid JSON %q for %+v", out, m)
		}
		again, err := DecodeText(v, out)
		if err != nil {
			t.Fatalf("DecodeText(AppendText(%+v)) = %v (frame %q)", m, err, out)
		}
		want := m
		if v == V1 {
			want.JoinRef = ""
		}
		if len(want.Payload) == 0 {
			want.Payload = emptyJSONObject
		}
		if d := diffMessage(again, want); d != "" {
			t.Fatalf("round trip of %q mismatch (-want +got):\n%s", data, d)
		}
	})
}

// decodeKind4 is the client's decoder (realtime-js _decodeUserBroadcast),
// to check what AppendBroadcastBinary writes.
func decodeKind4(b []byte) (topic, event string, meta []byte, jsonPayload bool, payload []byte, ok bool) {
	if len(b) < BroadcastHeaderLen || b[0] != KindUserBroadcast {
		return
	}
	tl, el, ml := int(b[1]), int(b[2]), int(b[3])
	off := BroadcastHeaderLen
	if len(b) < off+tl+el+ml {
		return
	}
	topic = string(b[off : off+tl])
	off += tl
	event = string(b[off : off+el])
	off += el
	meta = b[off : off+ml]
	off += ml
	return topic, event, meta, b[4] == EncodingJSON, b[off:], true
}

// FuzzDecodeBinary: DecodeBinary never panics; what it accepts has valid
// JSON where JSON is promised, re-encodes as kind 4 to the same fields, and
// as a kind-3 frame that decodes to the same message.
func FuzzDecodeBinary(f *testing.F) {
	addFrameSeeds(f, ".bin", func(b []byte) { f.Add(b) })
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0})
	f.Add(pushFrame("1", "2", "t", "e", `{"a":[1]}`, 1, []byte(`"x"`)))
	f.Add([]byte{4, 1, 1, 0, 1, 't', 'e', '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeBinary(data)
		if err != nil {
			return
		}
		if !m.Binary || m.Event != "broadcast" {
			t.Fatalf("accepted frame lacks Binary/Event: %+v", m)
		}
		if len(m.Metadata) > 0 && !json.Valid(m.Metadata) {
			t.Fatalf("metadata %q is not valid JSON", m.Metadata)
		}
		if m.JSONPayload && !json.Valid(m.Data) {
			t.Fatalf("JSON payload %q is not valid JSON", m.Data)
		}
		// What vsn 1.0.0 receivers get as text must be UTF-8.
		if !utf8.ValidString(m.Topic) || !utf8.ValidString(m.UserEvent) || !utf8.Valid(m.Metadata) || m.JSONPayload && !utf8.Valid(m.Data) {
			t.Fatalf("accepted frame with text that is not UTF-8: %+v", m)
		}
		if !BroadcastBinaryFits(m.Topic, m.UserEvent, m.Metadata) {
			t.Fatalf("a decoded kind-3 frame does not fit kind 4: %+v", m)
		}
		out := AppendBroadcastBinary(nil, m.Topic, m.UserEvent, m.Metadata, m.JSONPayload, m.Data)
		topic, event, meta, js, payload, ok := decodeKind4(out)
		if !ok || topic != m.Topic || event != m.UserEvent || !bytes.Equal(meta, m.Metadata) || js != m.JSONPayload || !bytes.Equal(payload, m.Data) {
			t.Fatalf("kind 4 %q does not carry %+v", out, m)
		}
		enc := byte(EncodingRaw)
		if m.JSONPayload {
			enc = EncodingJSON
		}
		again, err := DecodeBinary(pushFrame(m.JoinRef, m.Ref, m.Topic, m.UserEvent, string(m.Metadata), enc, m.Data))
		if err != nil {
			t.Fatalf("re-encoded kind 3 refused: %v", err)
		}
		if d := diffMessage(again, m); d != "" {
			t.Fatalf("kind 3 round trip mismatch (-want +got):\n%s", d)
		}
		if m.JSONPayload {
			if p := AppendBroadcastPayload(nil, m.UserEvent, m.Metadata, m.Data); !json.Valid(p) {
				t.Fatalf("AppendBroadcastPayload wrote invalid JSON %q", p)
			}
		}
	})
}
