package filter

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/walcast/walcast/replication"
)

// countEvaluations is the number of groups Match evaluates for ch.
func countEvaluations(ix *Index, ch *replication.Change) int {
	rv, _ := viewOf(ch)
	n := 0
	ix.rels[ch.Relation.ID].candidates(&rv, func(*group) { n++ })
	return n
}

// anchorOf describes how a group is found: by the keys of a column, by
// an interval of a column, or scanned.
func anchorOf(ri *relIndex, g *group) string {
	switch {
	case g.ranged != nil:
		return "range on " + ri.rel.Columns[g.ranged.col].Name
	case g.anchor != nil:
		return fmt.Sprintf("%d keys on %s", len(g.keys), ri.rel.Columns[g.anchor.col].Name)
	}
	return "scanned"
}

// The mixed benchmark's four filter shapes must each be found by sub, so
// that a row evaluates the one group it is for and no other.
func TestIndexMixedEvaluations(t *testing.T) {
	const subs = 1000
	rel := mixedRelation()
	ix := mixedIndex(t, rel, subs, true)
	ri := ix.rels[rel.ID]
	for v := range 8 {
		p, err := Compile(rel, mustParse(t, mixedFilter(v, subs)))
		if err != nil {
			t.Fatal(err)
		}
		g := ri.groups[p.key]
		if got := anchorOf(ri, g); !strings.HasSuffix(got, " on sub") {
			t.Errorf("shape %d (%s): %s, want anchored on sub", v%4, mixedFilter(v, subs), got)
		}
	}
	for j := range 2 * subs {
		ch := mixedRow(rel, j, subs)
		if n := countEvaluations(ix, ch); n != 1 {
			t.Fatalf("row %d (sub %d, shape %d) evaluates %d groups, want 1", j, j%subs, j%subs%4, n)
		}
		if got := matchIDs(ix, ch); !slices.Equal(got, []uint64{uint64(j%subs + 1)}) {
			t.Fatalf("row %d matched %v", j, got)
		}
	}
}

// Which condition anchors a group.
func TestIndexAnchorChoice(t *testing.T) {
	rel := testRelation()
	tests := []struct{ filter, want string }{
		{"i4=gt.4,i4=lt.6,i2=in.(1,2,3,4,5,6,7)", "range on i4"},
		{"i4=gt.4,i4=lt.6,i2=eq.1", "1 keys on i2"},                   // an eq is as narrow, and first
		{"i4=gte.1,i4=lte.3,i2=in.(1,2)", "2 keys on i2"},             // 2 keys against 3 integers
		{"i4=gte.1,i4=lte.100,i2=in.(1,2,3,4,5,6,7)", "7 keys on i2"}, // 100 integers
		{"f8=gt.0,f8=lt.1,i2=in.(1,2,3,4,5,6,7)", "7 keys on i2"},     // a float span counts as 32 values
		{"f8=gt.0,f8=lt.1,txt=like.a%", "range on f8"},
		{"i4=gt.0,i2=in.(1,2,3,4,5,6,7)", "7 keys on i2"}, // an open end only as a last resort
		{"i4=gt.0,txt=like.a%", "range on i4"},
		{"i4=gt.0,i4=not.gte.9,f8=lt.1", "range on i4"}, // not.gte is lt: both ends
		{"i4=neq.5,txt=like.a%", "scanned"},
		{"", "scanned"},
	}
	for _, tc := range tests {
		ix := NewIndex()
		mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: tc.filter}, rel)
		ri := ix.rels[rel.ID]
		for _, g := range ri.groups {
			if got := anchorOf(ri, g); got != tc.want {
				t.Errorf("%q: %s, want %s", tc.filter, got, tc.want)
			}
		}
	}
	// Crowding counts: once a range holds many groups, an in list with
	// fewer keys than the groups its range overlaps is preferred.
	ix := NewIndex()
	for id := range uint64(10) {
		mustAdd(t, ix, Subscription{ID: id + 1, Events: EventAll, Table: "t", Filter: fmt.Sprintf("i4=gte.0,i4=lte.3,i8=neq.%d", id)}, rel)
	}
	mustAdd(t, ix, Subscription{ID: 100, Events: EventAll, Table: "t", Filter: "i4=gte.1,i4=lte.2,i2=in.(1,2,3)"}, rel)
	mustAdd(t, ix, Subscription{ID: 101, Events: EventAll, Table: "t", Filter: "i4=gte.5,i4=lte.6,i2=in.(1,2,3)"}, rel)
	ri := ix.rels[rel.ID]
	if got := anchorOf(ri, ix.subs[1].groups[rel.ID]); got != "range on i4" {
		t.Errorf("first group: %s, want range on i4", got)
	}
	if got := anchorOf(ri, ix.subs[100].groups[rel.ID]); got != "3 keys on i2" {
		t.Errorf("crowded range: %s, want 3 keys on i2", got)
	}
	if got := anchorOf(ri, ix.subs[101].groups[rel.ID]); got != "range on i4" {
		t.Errorf("range clear of the others: %s, want range on i4", got)
	}
}

// Edge values of ranges: each filter is anchored by its range, and the
// index must match exactly as the predicate does, which must say want.
func TestIndexRangeEdges(t *testing.T) {
	rel := testRelation()
	tests := []struct {
		filter, col, val string
		want             bool
	}{
		{"i4=gt.5", "i4", "5", false},
		{"i4=gte.5", "i4", "5", true},
		{"i4=lt.5", "i4", "5", false},
		{"i4=lte.5", "i4", "5", true},
		{"i4=gte.5,i4=lte.5", "i4", "005", true},
		{"i4=gte.5,i4=lte.5", "i4", " +5 ", true},
		{"i4=gt.5,i4=lt.6", "i4", "5", false}, // no integer between
		{"i4=gt.5,i4=lt.5", "i4", "5", false},
		{"i4=gt.-3,i4=lt.-1", "i4", "-2", true},
		{"i4=gt.-3,i4=lt.-1", "i4", "-1", false},
		{"i4=gt.-3,i4=lt.-1", "i4", "-3", false},
		{"i4=gt.-3,i4=lt.-1,i4=gt.-2", "i4", "-2", false}, // the tighter lower bound wins
		{"i4=gte.-3,i4=gt.-3", "i4", "-3", false},         // gt is tighter than gte at the same value
		{"i4=lte.-3,i4=lt.-3", "i4", "-3", false},
		{"i4=not.lt.5", "i4", "5", true},
		{"i4=not.lt.5", "i4", "4", false},
		{"i4=not.lte.5", "i4", "5", false},
		{"i4=not.gt.5", "i4", "5", true},
		{"i4=not.gte.5", "i4", "5", false},
		{"i4=not.gte.5,i4=gt.1", "i4", "4", true},
		{"i4=gt.5", "i4", null, false},
		{"i4=not.gt.5", "i4", null, false},
		{"i4=lt.5", "i4", toast, false}, // unchanged, and no old row to say what it is
		{"i4=lt.5", "i4", "", false},
		{"i4=lt.5", "i4", "abc", false},
		{"i4=lt.5", "i4", "99999999999999999999", false},
		{"i2=gt.1,i2=lt.3", "i2", "2", true},
		{"i8=gt.-9223372036854775808", "i8", "-9223372036854775808", false},
		{"i8=gte.-9223372036854775808,i8=lt.-9223372036854775807", "i8", "-9223372036854775808", true},
		{"i8=lte.9223372036854775807,i8=gt.9223372036854775806", "i8", "9223372036854775807", true},
		{"i8=gt.9223372036854775807", "i8", "9223372036854775807", false},
		{"o=gt.-1", "o", "4294967295", false}, // oid -1 is 4294967295
		{"o=gte.-1,o=gt.4294967294", "o", "4294967295", true},
		{"f8=gt.1e308", "f8", "Infinity", true},
		{"f8=lt.Infinity", "f8", "NaN", false},
		{"f8=gt.Infinity", "f8", "NaN", true}, // NaN sorts above every float
		{"f8=gte.NaN,f8=lte.NaN", "f8", "NaN", true},
		{"f8=lt.NaN", "f8", "Infinity", true},
		{"f8=gt.-Infinity", "f8", "-Infinity", false},
		{"f8=gte.-Infinity,f8=lt.-1e308", "f8", "-Infinity", true},
		{"f8=gt.-1,f8=lt.1", "f8", "-0", true},
		{"f8=gt.0", "f8", "-0", false}, // -0 equals 0
		{"f8=gte.0,f8=lte.-0", "f8", "0", true},
		{"f8=gt.1.5,f8=lt.2.5", "f8", "2.5", false},
		{"f8=gt.1.5,f8=lte.2.5", "f8", "2.50", true},
		{"f8=gt.1.5,f8=lte.2.5", "f8", "1e400", false}, // out of range: not a value
		{"f4=gt.0.1", "f4", "0.1", false},
		{"f4=gte.0.1,f4=lt.0.2", "f4", "0.1", true},
		{"num=gt.1.5,num=lt.1.51", "num", "1.505", true},
		{"num=gt.1.50", "num", "1.5", false},
		{"num=gte.1.50,num=lte.1.5", "num", "1.5000", true},
		{"num=gt.Infinity", "num", "NaN", true},
		{"num=lt.-Infinity", "num", "-Infinity", false},
		{"num=lte.-Infinity", "num", "-Infinity", true},
		{"num=gt.-0.001,num=lt.0.001", "num", "0", true},
		{"num=gt.-0.001,num=lt.0.001", "num", "-0.0", true},
		{"num=lt.NaN,num=gt.1e1000", "num", "Infinity", true},
		{"num=gt.99999999999999999999", "num", "100000000000000000000", true},
		{"num=gt.-2,num=lt.-1", "num", "-1.5", true},
		{"num=gt.-2,num=lt.-1", "num", "-2.5", false},
		{"txt=gte.a,txt=lt.b", "txt", "a", true},
		{"txt=gte.a,txt=lt.b", "txt", "az", true},
		{"txt=gte.a,txt=lt.b", "txt", "b", false},
		{"txt=gte.a,txt=lt.b", "txt", "B", false}, // byte order: B before a
		{"txt=gt.a", "txt", "", false},
		{"txt=gte.", "txt", "", true},
		{"txt=gt.é", "txt", "f", false},
		{"txt=lt.é", "txt", "z", true},
		{"vc=gt.a,vc=lt.c", "vc", "b", true},
		{"nm=lte.m", "nm", "n", false},
		{"bp=gt.ab", "bp", "ab  ", false}, // char(n): trailing spaces do not count
		{"bp=gte.ab ,bp=lt.ac", "bp", "ab", true},
		{"bp=lte.ab", "bp", "ab   ", true},
		{"b=gt.false", "b", "t", true},
		{"b=gt.false", "b", "f", false},
		{"b=lt.true,b=gte.no", "b", "f", true},
		{"u=gt.00000000-0000-0000-0000-000000000001,u=lt.00000000-0000-0000-0000-000000000003", "u", "00000000-0000-0000-0000-000000000002", true},
		{"u=gt.7fffffff-ffff-ffff-ffff-ffffffffffff", "u", "80000000-0000-0000-0000-000000000000", true},
		{"u=lt.7FFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "u", "80000000-0000-0000-0000-000000000000", false},
		{"d=gte.2024-01-01,d=lt.2024-02-01", "d", "2024-01-31", true},
		{"d=gte.2024-01-01,d=lt.2024-02-01", "d", "2024-02-01", false},
		{"d=gt.infinity", "d", "infinity", false},
		{"d=gte.infinity", "d", "infinity", true},
		{"d=lt.-infinity", "d", "-infinity", false},
		{"d=lt.0044-03-15 BC", "d", "0044-03-14 BC", true},
		{"tstz=gt.2024-05-06T03:38:09+02:00", "tstz", "2024-05-06 01:38:09+00", false},
		{"tstz=gte.2024-05-06T03:38:09+02:00,tstz=lt.2024-05-07", "tstz", "2024-05-06 01:38:09+00", true},
		{"tstz=gt.2024-05-06 01:38:09", "tstz", "2024-05-06 01:38:09.000001+00", true},
		{"ts=lt.infinity", "ts", "infinity", false},
		{"ts=gte.2024-01-01,ts=lt.2024-01-01 00:00:00.000001", "ts", "2024-01-01 00:00:00", true},
		{`by=gt.\x0a`, "by", `\x0a00`, true},
		{`by=lt.\x0a`, "by", `\x`, true},
		{`by=lt.\x0a`, "by", `\x0A`, false}, // not bytea output: not a value
	}
	for _, tc := range tests {
		ix := NewIndex()
		mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: tc.filter}, rel)
		ri := ix.rels[rel.ID]
		if len(ri.scan) != 0 || len(ri.hashed) != 0 || len(ri.ranged) != 1 {
			t.Errorf("%s: not anchored by its range", tc.filter)
		}
		p, err := Compile(rel, mustParse(t, tc.filter))
		if err != nil {
			t.Fatal(err)
		}
		ch := change(rel, replication.Update, map[string]string{tc.col: tc.val}, nil)
		if got := p.Match(ch.New); got != tc.want {
			t.Errorf("%s on %q: Predicate.Match = %v, want %v", tc.filter, tc.val, got, tc.want)
		}
		if got := len(ix.Match(ch, nil)) == 1; got != tc.want {
			t.Errorf("%s on %q: Index.Match = %v, want %v", tc.filter, tc.val, got, tc.want)
		}
	}
}

// A range reads the row Match reads: an unchanged TOASTed value from the
// old row, nothing from a column a key-only old row does not carry.
func TestIndexRangeRowStates(t *testing.T) {
	rel := testRelation()
	ix := NewIndex()
	mustAdd(t, ix, Subscription{ID: 1, Events: EventAll, Table: "t", Filter: "txt=gte.m,txt=lt.n"}, rel)
	mustAdd(t, ix, Subscription{ID: 2, Events: EventAll, Table: "t", Filter: "i4=not.gt.5"}, rel)
	keyOnly := change(rel, replication.Delete, nil, map[string]string{"id": "1", "i4": null, "txt": null})
	keyOnly.OldKeyOnly = true
	tests := []struct {
		name string
		ch   *replication.Change
		want []uint64
	}{
		{"toast from old row", change(rel, replication.Update, map[string]string{"txt": toast, "i4": "1"}, map[string]string{"txt": "mm"}), []uint64{1, 2}},
		{"toast without old row", change(rel, replication.Update, map[string]string{"txt": toast, "i4": toast}, nil), nil},
		{"delete full old row", change(rel, replication.Delete, nil, map[string]string{"txt": "m", "i4": "5"}), []uint64{1, 2}},
		{"delete key-only old row", keyOnly, nil},
		{"absent columns", change(rel, replication.Insert, map[string]string{"id": "1"}, nil), nil},
	}
	for _, tc := range tests {
		if got := matchIDs(ix, tc.ch); !slices.Equal(got, tc.want) {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The treap keeps its order, heap and max invariants through additions and
// removals, and finds exactly the intervals holding a point.
func TestRangeIndexTreap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vals := make([]value, 41)
	for i := range vals {
		vals[i].i = int64(i - 20)
	}
	randBound := func(inf int8) bound {
		if rng.IntN(8) == 0 {
			return bound{inf: inf}
		}
		return bound{v: &vals[rng.IntN(len(vals))], side: int8(rng.IntN(3) - 1)}
	}
	rx := &rangeIndex{typ: tInt}
	live := map[*rangeNode]bool{}
	var order []*rangeNode
	check := func() {
		t.Helper()
		n := 0
		var walk func(x *rangeNode, lo, hi *rangeNode) *bound
		walk = func(x *rangeNode, lo, hi *rangeNode) *bound {
			if x == nil {
				return nil
			}
			n++
			if !live[x] {
				t.Fatal("removed node still in the tree")
			}
			if (lo != nil && !rx.less(lo, x)) || (hi != nil && !rx.less(x, hi)) {
				t.Fatal("order broken")
			}
			for _, c := range []*rangeNode{x.left, x.right} {
				if c != nil && c.prio > x.prio {
					t.Fatal("heap broken")
				}
			}
			m := &x.hi
			for _, sub := range []*bound{walk(x.left, lo, x), walk(x.right, x, hi)} {
				if sub != nil && cmpBound(tInt, sub, m) > 0 {
					m = sub
				}
			}
			if cmpBound(tInt, x.max, m) != 0 {
				t.Fatal("max broken")
			}
			return m
		}
		walk(rx.root, nil, nil)
		if n != len(live) || rx.n != n {
			t.Fatalf("%d nodes, %d live, n = %d", n, len(live), rx.n)
		}
		for range 20 {
			q := bound{v: &vals[rng.IntN(len(vals))], side: int8(rng.IntN(3) - 1)}
			var want, got []*group
			for x := range live {
				if cmpBound(tInt, &x.lo, &q) <= 0 && cmpBound(tInt, &q, &x.hi) <= 0 {
					want = append(want, x.g)
				}
			}
			rx.each(rx.root, &q, func(g *group) { got = append(got, g) })
			byPtr := func(a, b *group) int { return cmp.Compare(fmt.Sprintf("%p", a), fmt.Sprintf("%p", b)) }
			slices.SortFunc(want, byPtr)
			slices.SortFunc(got, byPtr)
			if !slices.Equal(want, got) {
				t.Fatalf("each found %d groups, want %d", len(got), len(want))
			}
			lo, hi := randBound(-1), randBound(1)
			overlap := 0
			for x := range live {
				if cmpBound(tInt, &x.lo, &hi) <= 0 && cmpBound(tInt, &lo, &x.hi) <= 0 {
					overlap++
				}
			}
			if got := rx.overlaps(rx.root, &lo, &hi, 1<<30); got != overlap {
				t.Fatalf("overlaps = %d, want %d", got, overlap)
			}
			if got := rx.overlaps(rx.root, &lo, &hi, 3); got != min(overlap, 3) {
				t.Fatalf("overlaps with limit 3 = %d, want %d", got, min(overlap, 3))
			}
		}
	}
	for step := range 3000 {
		if len(order) > 0 && rng.IntN(5) < 2 {
			i := rng.IntN(len(order))
			x := order[i]
			order = slices.Delete(order, i, i+1)
			delete(live, x)
			rx.remove(x)
		} else {
			x := rx.add(&group{}, randBound(-1), randBound(1))
			live[x] = true
			order = append(order, x)
		}
		if step%50 == 0 || step < 50 {
			check()
		}
	}
	check()
}

// FuzzRangeIndex anchors filters of one or two ordering conditions on a
// column of every ordered type with arbitrary constants, and matches an
// arbitrary value: the index must agree with the predicate.
func FuzzRangeIndex(f *testing.F) {
	seeds := []struct{ lo, hi, v string }{
		{"5", "7", "6"}, {"5", "5", "5"}, {"-3", "-1", "-2"}, {"NaN", "Infinity", "NaN"}, {"-Infinity", "0", "-0"},
		{"1.50", "1.5", "1.5000"}, {"a", "b", "az"}, {"2024-01-01", "2024-02-01", "2024-01-31"},
		{"00000000-0000-0000-0000-000000000001", "80000000-0000-0000-0000-000000000000", "7fffffff-ffff-ffff-ffff-ffffffffffff"},
		{`\x0a`, `\x0b`, `\x0a00`}, {"f", "t", "t"}, {"ab ", "ab", "ab  "}, {"infinity", "-infinity", "infinity"},
	}
	for i, s := range seeds {
		for col := range len(testCols) {
			f.Add(uint8(col), uint8(i), s.lo, s.hi, []byte(s.v), byte(replication.ValueText))
		}
	}
	f.Add(uint8(2), uint8(0), "1", "2", []byte(nil), byte(replication.ValueNull))
	rel := testRelation()
	ordering := []Op{OpLt, OpLte, OpGt, OpGte}
	states := []byte{replication.ValueText, replication.ValueNull, replication.ValueUnchanged}
	f.Fuzz(func(t *testing.T, col, ops uint8, lo, hi string, data []byte, state byte) {
		if len(lo)+len(hi) > 1000 {
			return // within the filter length limit
		}
		name := testCols[int(col)%len(testCols)].name
		c1 := Condition{Column: name, Op: ordering[ops&3], Not: ops&4 != 0, Value: lo}
		c2 := Condition{Column: name, Op: ordering[ops>>3&3], Not: ops&32 != 0, Value: hi}
		filters := [][]Condition{{c1}, {c2}, {c1, c2}}
		if ops&64 != 0 {
			c3 := Condition{Column: "i4", Op: OpIn, List: []string{"1", "2", "3", "4", "5", "6", "7"}}
			filters = append(filters, []Condition{c1, c2, c3})
		}
		ix := NewIndex()
		var preds []*Predicate
		for _, conds := range filters {
			p, err := Compile(rel, conds)
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("Compile(%s) error %T, want *Error", Format(conds), err)
				}
				return
			}
			preds = append(preds, p)
			if err := ix.Add(Subscription{ID: uint64(len(preds)), Events: EventAll, Table: "t", Filter: Format(conds)}, rel); err != nil {
				t.Fatalf("Add(%s): %v", Format(conds), err)
			}
		}
		row := make([]replication.Value, len(rel.Columns))
		for i := range row {
			row[i] = replication.Value{State: states[int(state)%len(states)], Data: data}
		}
		var want []uint64
		for i, p := range preds {
			if p.Match(row) {
				want = append(want, uint64(i+1))
			}
		}
		got := matchIDs(ix, &replication.Change{Relation: rel, Kind: replication.Insert, New: row})
		if !slices.Equal(got, want) {
			t.Fatalf("%v on %q: index matches %v, predicates %v", filters, data, got, want)
		}
	})
}
