package presence

import "testing"

func TestApply(t *testing.T) {
	a := Entry{Key: "a", Ref: "refA000000000000", Meta: meta(t, `{"x":1}`)}
	a2 := Entry{Key: "a", Ref: "refA200000000000", PrevRef: a.Ref, Meta: meta(t, `{"x":2}`)}
	b := Entry{Key: "b", Ref: "refB000000000000"}
	tests := []struct {
		name             string
		before, changes  []Change
		wantDiff, wantSt string
		sinkCalls        int
	}{
		{
			name:      "joins keep their refs, one diff",
			changes:   []Change{{Member: 1, Entry: a}, {Member: 2, Entry: b}},
			wantDiff:  `{"joins":{"a":{"metas":[{"phx_ref":"refA000000000000","x":1}]},"b":{"metas":[{"phx_ref":"refB000000000000"}]}},"leaves":{}}`,
			wantSt:    `{"a":{"metas":[{"phx_ref":"refA000000000000","x":1}]},"b":{"metas":[{"phx_ref":"refB000000000000"}]}}`,
			sinkCalls: 1,
		},
		{
			name:      "same entry again is a no-op",
			before:    []Change{{Member: 1, Entry: a}},
			changes:   []Change{{Member: 1, Entry: a}},
			wantDiff:  `{"joins":{},"leaves":{}}`,
			wantSt:    `{"a":{"metas":[{"phx_ref":"refA000000000000","x":1}]}}`,
			sinkCalls: 0,
		},
		{
			name:      "update replaces the old meta",
			before:    []Change{{Member: 1, Entry: a}},
			changes:   []Change{{Member: 1, Entry: a2}},
			wantDiff:  `{"joins":{"a":{"metas":[{"phx_ref":"refA200000000000","phx_ref_prev":"refA000000000000","x":2}]}},"leaves":{"a":{"metas":[{"phx_ref":"refA000000000000","x":1}]}}}`,
			wantSt:    `{"a":{"metas":[{"phx_ref":"refA200000000000","phx_ref_prev":"refA000000000000","x":2}]}}`,
			sinkCalls: 1,
		},
		{
			name:      "all leave in one diff and the room empties",
			before:    []Change{{Member: 1, Entry: a}, {Member: 2, Entry: b}},
			changes:   []Change{{Member: 1, Leave: true}, {Member: 2, Leave: true}, {Member: 3, Leave: true}},
			wantDiff:  `{"joins":{},"leaves":{"a":{"metas":[{"phx_ref":"refA000000000000","x":1}]},"b":{"metas":[{"phx_ref":"refB000000000000"}]}}}`,
			wantSt:    `{}`,
			sinkCalls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			m := NewMemory(func(string, Diff) { calls++ })
			m.Apply("r", tc.before)
			calls = 0
			d := m.Apply("r", tc.changes)
			if got := string(d.AppendJSON(nil)); got != tc.wantDiff {
				t.Errorf("diff\n got %s\nwant %s", got, tc.wantDiff)
			}
			if got := string(m.State("r")); got != tc.wantSt {
				t.Errorf("state\n got %s\nwant %s", got, tc.wantSt)
			}
			if calls != tc.sinkCalls {
				t.Errorf("sink called %d times, want %d", calls, tc.sinkCalls)
			}
		})
	}
}
