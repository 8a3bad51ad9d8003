package presence

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"testing"
)

func meta(t testing.TB, s string) Meta {
	t.Helper()
	m, err := ParseMeta([]byte(s))
	if err != nil {
		t.Fatalf("ParseMeta(%s): %v", s, err)
	}
	return m
}

// refPattern matches the refs newRef makes.
var refPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)

// normalize replaces every phx_ref / phx_ref_prev value in an encoded
// state or diff with R1, R2… in order of first appearance, so tables can
// spell expected output.
func normalize(t testing.TB, b []byte) string {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	names := map[string]string{}
	re := regexp.MustCompile(`"(phx_ref(?:_prev)?)":"([^"]*)"`)
	return re.ReplaceAllStringFunc(string(b), func(s string) string {
		m := re.FindStringSubmatch(s)
		if !refPattern.MatchString(m[2]) {
			t.Errorf("ref %q does not look like a ref", m[2])
		}
		n, ok := names[m[2]]
		if !ok {
			n = fmt.Sprintf("R%d", len(names)+1)
			names[m[2]] = n
		}
		return `"` + m[1] + `":"` + n + `"`
	})
}

// TestMemory runs sequences of operations on one room and checks the diff
// of the last one and the state after it.
func TestMemory(t *testing.T) {
	type op struct {
		untrack bool
		member  MemberID
		key     string
		meta    string
	}
	track := func(m MemberID, key, meta string) op { return op{member: m, key: key, meta: meta} }
	untrack := func(m MemberID) op { return op{untrack: true, member: m} }
	tests := []struct {
		name    string
		ops     []op
		changed bool
		diff    string // of the last op; refs numbered across diff then state
		state   string
	}{
		{
			name:    "first track",
			ops:     []op{track(1, "u1", `{"online_at":"now"}`)},
			changed: true,
			diff:    `{"joins":{"u1":{"metas":[{"phx_ref":"R1","online_at":"now"}]}},"leaves":{}}`,
			state:   `{"u1":{"metas":[{"phx_ref":"R1","online_at":"now"}]}}`,
		},
		{
			name:  "same payload again is a no-op",
			ops:   []op{track(1, "u1", `{"a":1,"b":2}`), track(1, "u1", `{"b":2, "a":1}`)},
			diff:  `{"joins":{},"leaves":{}}`,
			state: `{"u1":{"metas":[{"phx_ref":"R1","a":1,"b":2}]}}`,
		},
		{
			name:    "update",
			ops:     []op{track(1, "u1", `{"s":"away"}`), track(1, "u1", `{"s":"here"}`)},
			changed: true,
			diff:    `{"joins":{"u1":{"metas":[{"phx_ref":"R1","phx_ref_prev":"R2","s":"here"}]}},"leaves":{"u1":{"metas":[{"phx_ref":"R2","s":"away"}]}}}`,
			state:   `{"u1":{"metas":[{"phx_ref":"R1","phx_ref_prev":"R2","s":"here"}]}}`,
		},
		{
			name:    "other key: leave and join, no phx_ref_prev",
			ops:     []op{track(1, "u1", `{}`), track(1, "u2", `{}`)},
			changed: true,
			diff:    `{"joins":{"u2":{"metas":[{"phx_ref":"R1"}]}},"leaves":{"u1":{"metas":[{"phx_ref":"R2"}]}}}`,
			state:   `{"u2":{"metas":[{"phx_ref":"R1"}]}}`,
		},
		{
			name:    "two members share a key",
			ops:     []op{track(1, "u1", `{"tab":1}`), track(2, "u1", `{"tab":2}`)},
			changed: true,
			diff:    `{"joins":{"u1":{"metas":[{"phx_ref":"R1","tab":2}]}},"leaves":{}}`,
			state:   `{"u1":{"metas":[{"phx_ref":"R2","tab":1},{"phx_ref":"R1","tab":2}]}}`,
		},
		{
			name:    "update keeps the member's place",
			ops:     []op{track(1, "k", `{"n":1}`), track(2, "k", `{"n":2}`), track(1, "k", `{"n":3}`)},
			changed: true,
			diff:    `{"joins":{"k":{"metas":[{"phx_ref":"R1","phx_ref_prev":"R2","n":3}]}},"leaves":{"k":{"metas":[{"phx_ref":"R2","n":1}]}}}`,
			state:   `{"k":{"metas":[{"phx_ref":"R1","phx_ref_prev":"R2","n":3},{"phx_ref":"R3","n":2}]}}`,
		},
		{
			name:    "keys sorted in the state",
			ops:     []op{track(1, "b", `{}`), track(2, "a", `{}`), track(3, "c\"\n", `{}`)},
			changed: true,
			diff:    `{"joins":{"c\"\n":{"metas":[{"phx_ref":"R1"}]}},"leaves":{}}`,
			state:   `{"a":{"metas":[{"phx_ref":"R2"}]},"b":{"metas":[{"phx_ref":"R3"}]},"c\"\n":{"metas":[{"phx_ref":"R1"}]}}`,
		},
		{
			name:    "untrack",
			ops:     []op{track(1, "u1", `{"a":1}`), track(2, "u2", `{}`), untrack(1)},
			changed: true,
			diff:    `{"joins":{},"leaves":{"u1":{"metas":[{"phx_ref":"R1","a":1}]}}}`,
			state:   `{"u2":{"metas":[{"phx_ref":"R2"}]}}`,
		},
		{
			name:  "untrack of an untracked member",
			ops:   []op{track(1, "u1", `{}`), untrack(2)},
			diff:  `{"joins":{},"leaves":{}}`,
			state: `{"u1":{"metas":[{"phx_ref":"R1"}]}}`,
		},
		{
			name:    "last untrack empties the room",
			ops:     []op{track(1, "u1", `{}`), untrack(1)},
			changed: true,
			diff:    `{"joins":{},"leaves":{"u1":{"metas":[{"phx_ref":"R1"}]}}}`,
			state:   `{}`,
		},
		{
			name:    "track after untrack gets a new ref",
			ops:     []op{track(1, "u1", `{}`), untrack(1), track(1, "u1", `{}`)},
			changed: true,
			diff:    `{"joins":{"u1":{"metas":[{"phx_ref":"R1"}]}},"leaves":{}}`,
			state:   `{"u1":{"metas":[{"phx_ref":"R1"}]}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sunk []string
			m := NewMemory(func(room string, d Diff) {
				if room != "public:room" {
					t.Errorf("sink got room %q", room)
				}
				if d.Empty() {
					t.Error("sink got an empty diff")
				}
				sunk = append(sunk, string(d.AppendJSON(nil)))
			})
			var d Diff
			var changed bool
			want := 0
			for _, o := range tc.ops {
				if o.untrack {
					d = m.Untrack("public:room", o.member)
					changed = !d.Empty()
				} else {
					d, changed = m.Track("public:room", o.member, o.key, meta(t, o.meta))
				}
				if changed {
					want++
				}
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if len(sunk) != want {
				t.Errorf("sink got %d diffs, want %d", len(sunk), want)
			}
			if changed && sunk[len(sunk)-1] != string(d.AppendJSON(nil)) {
				t.Errorf("sink got %s, Track returned %s", sunk[len(sunk)-1], d.AppendJSON(nil))
			}
			both := `[` + string(d.AppendJSON(nil)) + `,` + string(m.State("public:room")) + `]`
			if got, want := normalize(t, []byte(both)), `[`+tc.diff+`,`+tc.state+`]`; got != want {
				t.Errorf("diff, state =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestMemoryRoomsApart(t *testing.T) {
	m := NewMemory(nil)
	m.Track("public:a", 1, "k", Meta{})
	m.Track("private:a", 1, "k", meta(t, `{"p":true}`))
	if got := normalize(t, m.State("public:a")); got != `{"k":{"metas":[{"phx_ref":"R1"}]}}` {
		t.Errorf("public:a = %s", got)
	}
	if got := normalize(t, m.State("private:a")); got != `{"k":{"metas":[{"phx_ref":"R1","p":true}]}}` {
		t.Errorf("private:a = %s", got)
	}
	if got := string(m.State("public:b")); got != `{}` {
		t.Errorf("unknown room = %s", got)
	}
	m.Untrack("public:a", 1)
	if m.Len("public:a") != 0 || m.Len("private:a") != 1 {
		t.Errorf("Len = %d, %d after untracking public:a", m.Len("public:a"), m.Len("private:a"))
	}
}

func TestRefsUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		r := newRef()
		if !refPattern.MatchString(r) || seen[r] {
			t.Fatalf("ref %q malformed or repeated", r)
		}
		seen[r] = true
	}
}

func TestDiffGroupsKeys(t *testing.T) {
	// A batched diff (as a shared store would send) may hold several metas
	// of one key, not adjacent; the key must appear once per side.
	d := Diff{
		Joins:  []Entry{{Key: "a", Ref: "r1"}, {Key: "b", Ref: "r2"}, {Key: "a", Ref: "r3", PrevRef: "r0", Meta: meta(t, `{"x":1}`)}},
		Leaves: []Entry{{Key: "a", Ref: "r0"}},
	}
	want := `{"joins":{"a":{"metas":[{"phx_ref":"r1"},{"phx_ref":"r3","phx_ref_prev":"r0","x":1}]},"b":{"metas":[{"phx_ref":"r2"}]}},"leaves":{"a":{"metas":[{"phx_ref":"r0"}]}}}`
	if got := string(d.AppendJSON(nil)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\t\r\n", "é中😀", "bad\xff\xfe", "\u2028\u2029", "<&>"} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes as invalid JSON %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s) // encoding/json's replacement of invalid UTF-8
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Errorf("%q round-trips as %q, want %q", s, got, w)
		}
	}
}

// TestMemoryConcurrent tracks, updates and untracks from many goroutines in
// a few rooms while others Sync, and checks that each room's diffs, applied
// in Sink order to the state a Sync saw, reproduce the room's final state.
func TestMemoryConcurrent(t *testing.T) {
	const rooms, workers, rounds = 3, 8, 200
	var mu sync.Mutex
	logs := map[string][]Diff{}
	m := NewMemory(func(room string, d Diff) {
		mu.Lock()
		logs[room] = append(logs[room], d)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				room := fmt.Sprintf("public:%d", i%rooms)
				member := MemberID(w*rounds + i%7)
				switch i % 3 {
				case 0, 1:
					m.Track(room, member, fmt.Sprintf("k%d", member%5), meta(t, fmt.Sprintf(`{"i":%d}`, i%4)))
				case 2:
					m.Untrack(room, member)
				}
				m.Sync(room, func([]byte) {})
			}
		})
	}
	wg.Wait()
	for r := range rooms {
		room := fmt.Sprintf("public:%d", r)
		refs := map[string]bool{}
		for _, d := range logs[room] {
			for _, e := range d.Leaves {
				if !refs[e.Ref] {
					t.Fatalf("%s: leave of %s, which is not in the room", room, e.Ref)
				}
				delete(refs, e.Ref)
			}
			for _, e := range d.Joins {
				refs[e.Ref] = true
			}
		}
		var state map[string]struct{ Metas []map[string]any }
		json.Unmarshal(m.State(room), &state)
		n := 0
		for _, v := range state {
			for _, mt := range v.Metas {
				if !refs[mt["phx_ref"].(string)] {
					t.Errorf("%s: state has %v, which the diffs do not", room, mt)
				}
				n++
			}
		}
		if n != len(refs) || n != m.Len(room) {
			t.Errorf("%s: state has %d metas, diffs leave %d, Len %d", room, n, len(refs), m.Len(room))
		}
	}
}
