package presence

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseMeta feeds ParseMeta untrusted track payloads. It must never
// panic; what it accepts must be a JSON object holding the input's members
// (less the server's keys); and its output must be a fixed point, so that
// "the same payload again" is stable.
func FuzzParseMeta(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"online_at":"2026-01-01T00:00:00Z","user_id":42}`, `{"a":{"b":[1,2.5,-3e10,true,null]}}`,
		`{"phx_ref":"x","phx_ref_prev":"y"}`, `{"a":1,"a":2}`, `{"k":"\u2028<>&\ud800"}`, "{\"\xff\":1}",
		`[]`, `null`, `"s"`, `{`, `{} {}`, ` {"a" : 1 } `, `{"n":123456789012345678901234567890}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseMeta(in)
		if err != nil {
			var v any
			d := json.NewDecoder(bytes.NewReader(in))
			if d.Decode(&v) == nil && !d.More() {
				if _, ok := v.(map[string]any); ok && json.Valid(in) {
					t.Fatalf("rejected the object %q: %v", in, err)
				}
			}
			return
		}
		out := m.AppendJSON(nil)
		var got, want map[string]any
		if err := unmarshal(out, &got); err != nil {
			t.Fatalf("%q gave invalid JSON %s: %v", in, out, err)
		}
		if err := unmarshal(in, &want); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", in, err)
		}
		delete(want, refKey)
		delete(want, prevRefKey)
		if !jsonSame(got, want) {
			t.Fatalf("%q became %s", in, out)
		}
		again, err := ParseMeta(out)
		if err != nil || again != m {
			t.Fatalf("not canonical: %s reparses as %s, %v", out, again, err)
		}
		// The meta as clients get it is valid JSON with the server's ref.
		e := Entry{Key: string(in), Ref: "r", PrevRef: "p", Meta: m}
		d := Diff{Joins: []Entry{e}, Leaves: []Entry{e}}
		var diff struct {
			Joins map[string]struct{ Metas []map[string]any }
		}
		if err := unmarshal(d.AppendJSON(nil), &diff); err != nil {
			t.Fatalf("diff of %q is invalid JSON: %v", in, err)
		}
		for _, g := range diff.Joins {
			if mt := g.Metas[0]; mt[refKey] != "r" || mt[prevRefKey] != "p" {
				t.Fatalf("diff of %q lost the server refs: %v", in, mt)
			}
		}
	})
}

// unmarshal keeps numbers as written: 1E700 is JSON, though no float64.
func unmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func jsonSame(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
