package filter

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/replication"
)

// TestMatchBudget: a group whose filter outlasts the budget on a change is
// reported in over, all its members, and matches nothing; cheap groups and
// costly ones that finish in time match as usual.
func TestMatchBudget(t *testing.T) {
	rel := testRelation()
	ix := NewIndexLimits(Limits{MaxPatternBytes: -1, MaxRegexpInsts: -1, MaxFilterBytes: -1})
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: "id=eq.1"}, rel)
	mustAdd(t, ix, Subscription{ID: 2, Events: EventAll, Table: "t", Filter: "txt=like.%b%"}, rel)
	// Seconds of RE2 work on 500 KB: a program of ~1000 instructions that
	// never lets the engine skip ahead.
	slow := "txt=match.[ab]{990}c"
	mustAdd(t, ix, Subscription{ID: 3, Events: EventInsert, Table: "t", Filter: slow}, rel)
	mustAdd(t, ix, Subscription{ID: 4, Events: EventDelete, Table: "t", Filter: slow}, rel) // same group
	mustAdd(t, ix, Subscription{ID: 5, Events: EventAll, Table: "t", Filter: "id=eq.1,txt=match.[ab]{990}d"}, rel)

	big := strings.Repeat("a", 500_000) + "b"
	ch := change(rel, replication.Insert, map[string]string{"id": "1", "txt": big}, nil)
	dst, over := ix.MatchBudget(ch, nil, nil, time.Millisecond)
	slices.Sort(dst)
	slices.Sort(over)
	if !slices.Equal(dst, []uint64{1, 2}) || !slices.Equal(over, []uint64{3, 4, 5}) {
		t.Fatalf("MatchBudget = matched %v, over %v; want [1 2], [3 4 5]", dst, over)
	}

	// A small value stays within any budget, and without a budget nothing
	// is over.
	small := change(rel, replication.Insert, map[string]string{"id": "1", "txt": strings.Repeat("ab", 600) + "c"}, nil)
	dst, over = ix.MatchBudget(small, nil, nil, time.Second)
	slices.Sort(dst)
	if !slices.Equal(dst, []uint64{1, 2, 3}) || len(over) != 0 {
		t.Fatalf("small value: matched %v, over %v; want [1 2 3], []", dst, over)
	}
	want := ix.Match(small, nil)
	slices.Sort(want)
	if !slices.Equal(dst, want) {
		t.Fatalf("MatchBudget %v, Match %v", dst, want)
	}
}

// TestRegexpStopsAtDeadline: past the deadline, match and imatch stop
// reading the value at the next clock check instead of scanning it all.
func TestRegexpStopsAtDeadline(t *testing.T) {
	rel := testRelation()
	p, err := Compile(rel, []Condition{{Column: "txt", Op: OpMatch, Value: "[ab]{990}c"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &p.conds[0]
	data := []byte(strings.Repeat("a", 500_000))
	lim := &evalLimit{deadline: time.Now().Add(-time.Second)}
	if c.matchRegexp(&rowView{limit: lim}, data) {
		t.Fatal("matched")
	}
	if !lim.over {
		t.Fatal("the deadline passed, but the evaluation is not marked over")
	}
	if read, every := lim.reader.i, lim.reader.every; read > every {
		t.Fatalf("read %d of %d bytes after the deadline; clock checked every %d", read, len(data), every)
	}
}

// TestMatchBudgetRegexpReader: under a budget, match and imatch read a large
// value through the clock-checking reader, with the same results as on the
// bytes.
func TestMatchBudgetRegexpReader(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	filters := []string{"txt=match.ab$", "txt=imatch.AB$", "txt=match.ac$", "txt=match.^a+b$", "txt=not.match.é"}
	for i, f := range filters {
		mustAdd(t, ix, Subscription{ID: uint64(i + 1), Events: EventAll, Table: "t", Filter: f}, rel)
	}
	big := strings.Repeat("a", 500_000) + "b" // 500 KB × a few instructions: over regexpDirectCost
	ch := change(rel, replication.Insert, map[string]string{"txt": big}, nil)
	dst, over := ix.MatchBudget(ch, nil, nil, time.Minute)
	want := ix.Match(ch, nil)
	slices.Sort(dst)
	slices.Sort(want)
	if !slices.Equal(dst, []uint64{1, 2, 4, 5}) || !slices.Equal(want, dst) || len(over) != 0 {
		t.Fatalf("MatchBudget = %v (over %v), Match = %v; want [1 2 4 5] from both", dst, over, want)
	}
}
