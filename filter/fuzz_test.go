package filter

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/walcast/walcast/replication"
)

var fuzzFilters = []string{
	"", "id=eq.5", "age=not.lt.18,name=like.a%", `name=eq."a,b",id=in.(1,2,3),status=not.in.(x,y),deleted=is.null`,
	`x=in.(1,NULL,"null","a\"b")`, "a=eq.1,,b=eq.2", `t=match."(a|b)+"`, "b=is.unknown", "f=isdistinct.7",
	"i4=eq.007", "num=eq.1.50", "num=gt.1e-3", "f8=eq.NaN", "u=eq.{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
	"tstz=eq.2024-05-06T03:38:09.5+02:00", "d=lt.0044-03-15 BC", "by=eq.\\x0a1b", "bp=eq.ab  ", "txt=ilike.%A_",
	"txt=in.()", "i4=not.in.(1,null)", "mood=eq.happy", "b=not.is.true",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzFilters {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := Parse(s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %T, want *Error", s, err)
			}
			return
		}
		text := Format(conds)
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, but its rendering %q fails: %v", s, text, err)
		}
		if diff := cmp.Diff(conds, again); diff != "" {
			t.Fatalf("Parse(%q) then %q (-first +second):\n%s", s, text, diff)
		}
		if Format(again) != text {
			t.Fatalf("rendering is not stable: %q then %q", text, Format(again))
		}
	})
}

// FuzzMatch compiles a condition on a column of every supported type with
// an arbitrary constant, and matches a row whose every column holds the
// same arbitrary bytes. Nothing may panic, and the index must agree with
// the predicate, which checks that canonical keys collide exactly when
// values compare equal.
func FuzzMatch(f *testing.F) {
	values := []string{"7", "1.50", "NaN", "t", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-05-06 01:38:09.5+00",
		"0044-03-15 BC", "\\x0a1b", "ab  ", "", "-0", "Infinity", "1e+300", "happy", "{1,2}", "2024-05-06"}
	for i, v := range values {
		for op := OpEq; op <= OpIsDistinct; op++ {
			col := uint8((i + int(op)) % len(testCols))
			f.Add(col, uint8(op), op%3 == 0, values[(i+1)%len(values)]+"|"+v, []byte(v), byte(replication.ValueText))
		}
	}
	f.Add(uint8(7), uint8(OpEq), false, "1.5", []byte("1.50"), byte(replication.ValueText))
	f.Add(uint8(8), uint8(OpIs), true, "null", []byte(nil), byte(replication.ValueNull))
	f.Add(uint8(8), uint8(OpLike), false, "a%", []byte(nil), byte(replication.ValueUnchanged))
	rel := testRelation()
	states := []byte{replication.ValueText, replication.ValueNull, replication.ValueUnchanged, replication.ValueAbsent}
	f.Fuzz(func(t *testing.T, col, op uint8, not bool, constant string, data []byte, state byte) {
		c := Condition{Column: testCols[int(col)%len(testCols)].name, Op: Op(int(op)%int(OpIsDistinct) + 1), Not: not, Value: constant}
		if c.Op == OpIn {
			c.List, c.Value = strings.Split(constant, "|"), ""
			c.ListNull = len(c.List) > 3
		}
		pred, err := Compile(rel, []Condition{c})
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%s) error %T, want *Error", c, err)
			}
			return
		}
		v := replication.Value{State: states[int(state)%len(states)], Data: data}
		row := make([]replication.Value, len(rel.Columns))
		for i := range row {
			row[i] = v
		}
		want := pred.Match(row)

		ix := NewIndex()
		if err := ix.Add(Subscription{ID: 1, Events: EventAll, Table: "t", Filter: c.String()}, rel); err != nil {
			t.Fatalf("Add(%s): %v", c, err)
		}
		ch := &replication.Change{Relation: rel, Kind: replication.Insert, New: row}
		got := ix.Match(ch, nil)
		if slices.Contains(got, 1) != want {
			t.Fatalf("%s on %q (state %q): Predicate.Match = %v, Index.Match = %v", c, data, v.State, want, got)
		}
		// A budget that is never reached changes nothing.
		got, over := ix.MatchBudget(ch, nil, nil, time.Hour)
		if slices.Contains(got, 1) != want || len(over) != 0 {
			t.Fatalf("%s on %q (state %q): Predicate.Match = %v, Index.MatchBudget = %v, over %v", c, data, v.State, want, got, over)
		}
	})
}
