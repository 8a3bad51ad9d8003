package filter

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walcast/walcast/replication"
)

// BenchmarkIndexMatch matches one change against n eq subscriptions on
// distinct values of one table, one of which matches: ns/op must not grow
// with n.
func BenchmarkIndexMatch(b *testing.B) {
	rel := testRelation()
	for _, n := range []int{1, 1_000, 100_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			ix := NewIndex()
			for id := 1; id <= n; id++ {
				sub := Subscription{ID: uint64(id), Events: EventAll, Table: "t", Filter: fmt.Sprintf("i8=eq.%d", id)}
				if err := ix.Add(sub, rel); err != nil {
					b.Fatal(err)
				}
			}
			ch := change(rel, replication.Update, map[string]string{
				"id": "1", "i8": fmt.Sprint((n + 1) / 2), "txt": "hello", "num": "12.50", "tstz": "2024-05-06 01:38:09.5+00",
			}, nil)
			benchMatchOne(b, ix, ch)
		})
	}
}

// BenchmarkIndexMatchTypes is BenchmarkIndexMatch keyed on columns whose
// values need parsing to find their key.
func BenchmarkIndexMatchTypes(b *testing.B) {
	rel := testRelation()
	cases := []struct{ col, format, value string }{
		{"num", "num=eq.%d.50", "50000.5"},
		{"txt", "txt=eq.user-%d", "user-50000"},
		{"u", "u=eq.00000000-0000-0000-0000-%012d", "00000000-0000-0000-0000-000000050000"},
		{"tstz", "tstz=eq.%s", "2024-05-06 13:53:20+00"},
	}
	for _, tc := range cases {
		b.Run(tc.col, func(b *testing.B) {
			ix := NewIndex()
			for id := 1; id <= 100_000; id++ {
				filter := fmt.Sprintf(tc.format, id)
				if tc.col == "tstz" {
					at := time.Date(2024, 5, 6, 0, 0, id, 0, time.UTC)
					filter = fmt.Sprintf(tc.format, at.Format(time.RFC3339))
				}
				if err := ix.Add(Subscription{ID: uint64(id), Events: EventAll, Table: "t", Filter: filter}, rel); err != nil {
					b.Fatal(err)
				}
			}
			ch := change(rel, replication.Insert, map[string]string{tc.col: tc.value}, nil)
			benchMatchOne(b, ix, ch)
		})
	}
}

// BenchmarkIndexMatchScanned shows the cost of filters without an eq or in
// condition, which every change evaluates.
func BenchmarkIndexMatchScanned(b *testing.B) {
	rel := testRelation()
	ix := NewIndex()
	for id := 1; id <= 1_000; id++ {
		if err := ix.Add(Subscription{ID: uint64(id), Events: EventAll, Table: "t", Filter: fmt.Sprintf("i8=gt.%d", id)}, rel); err != nil {
			b.Fatal(err)
		}
	}
	ch := change(rel, replication.Insert, map[string]string{"i8": "10"}, nil)
	dst := make([]uint64, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = ix.Match(ch, dst[:0])
	}
}

func BenchmarkPredicateMatch(b *testing.B) {
	rel := testRelation()
	r := row(rel, map[string]string{
		"i4": "42", "num": "1234.5678", "txt": "hello world", "tstz": "2024-05-06 01:38:09.5+00",
		"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "b": "t",
	})
	cases := []struct{ name, filter string }{
		{"int eq", "i4=eq.42"},
		{"numeric gt", "num=gt.1000.25"},
		{"text like", "txt=like.hello%"},
		{"text match", "txt=match.^h.*d$"},
		{"in 100", "i4=in.(" + seq(100) + ")"},
		{"four conditions", "i4=gte.40,tstz=lt.2025-01-01,u=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,b=is.true"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			p, err := Compile(rel, mustParse(b, tc.filter))
			if err != nil {
				b.Fatal(err)
			}
			if !p.Match(r) {
				b.Fatal("no match")
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Match(r)
			}
		})
	}
}

func seq(n int) string {
	s := ""
	for i := 1; i <= n; i++ {
		if i > 1 {
			s += ","
		}
		s += fmt.Sprint(i)
	}
	return s
}

// benchMatchOne checks that ch matches exactly one subscription of ix, then
// measures matching it.
func benchMatchOne(b *testing.B, ix *Index, ch *replication.Change) {
	dst := make([]uint64, 0, 16)
	if got := ix.Match(ch, dst); len(got) != 1 {
		b.Fatalf("matched %v, want one subscription", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = ix.Match(ch, dst[:0])
	}
}

// mixedRelation is the table of the mixed benchmark (bench/mixed).
func mixedRelation() *replication.Relation {
	return relation(2000, "public", "m", []colDef{
		{"id", "int8", pgtype.Int8OID, false}, {"sub", "int4", pgtype.Int4OID, false}, {"region", "int4", pgtype.Int4OID, false},
		{"score", "int4", pgtype.Int4OID, false}, {"status", "text", pgtype.TextOID, false},
	})
}

// mixedFilter is subscription v's filter in the mixed benchmark
// (bench/mixed): four shapes by v mod 4, each holding for exactly the rows
// with sub = v, whatever their region (0–6), score (0–99) and status.
func mixedFilter(v, subs int) string {
	switch v % 4 {
	case 0:
		return fmt.Sprintf("sub=in.(%d,%d),score=gte.0,status=neq.closed", v, v+subs)
	case 1:
		return fmt.Sprintf("sub=eq.%d,region=neq.-1,score=lt.100", v)
	case 2:
		return fmt.Sprintf("sub=gt.%d,sub=lt.%d,region=in.(0,1,2,3,4,5,6)", v-1, v+1)
	}
	return fmt.Sprintf("region=gt.-1,sub=in.(%d),status=in.(open,held,done)", v)
}

// mixedIndex holds subscriptions 0 to subs-1 (ID v+1), with the mixed
// benchmark's filters or with sub=eq.v.
func mixedIndex(tb testing.TB, rel *replication.Relation, subs int, mixed bool) *Index {
	ix := NewIndex()
	for v := range subs {
		f := fmt.Sprintf("sub=eq.%d", v)
		if mixed {
			f = mixedFilter(v, subs)
		}
		if err := ix.Add(Subscription{ID: uint64(v + 1), Events: EventInsert, Table: "m", Filter: f}, rel); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

// mixedRow is row j of the mixed benchmark's load, for subscription j mod
// subs.
func mixedRow(rel *replication.Relation, j, subs int) *replication.Change {
	return change(rel, replication.Insert, map[string]string{
		"id": fmt.Sprint(j), "sub": fmt.Sprint(j % subs), "region": fmt.Sprint(j % 7), "score": fmt.Sprint(j % 100),
		"status": []string{"open", "held", "done"}[j%3],
	}, nil)
}

// BenchmarkIndexMatchMixed matches the rows of the mixed benchmark against
// 1,000 subscriptions with its filters, and with sub=eq.v for reference;
// each row matches one subscription. evals/op is the number of groups
// evaluated per row.
func BenchmarkIndexMatchMixed(b *testing.B) {
	const subs = 1000
	rel := mixedRelation()
	rows := make([]*replication.Change, 4*subs)
	for j := range rows {
		rows[j] = mixedRow(rel, j, subs)
	}
	for _, mixed := range []bool{false, true} {
		name := "eq"
		if mixed {
			name = "mixed"
		}
		b.Run(name, func(b *testing.B) {
			ix := mixedIndex(b, rel, subs, mixed)
			dst := make([]uint64, 0, 16)
			evals := 0
			for j, ch := range rows {
				if got := ix.Match(ch, dst[:0]); len(got) != 1 || got[0] != uint64(j%subs+1) {
					b.Fatalf("row %d matched %v", j, got)
				}
				evals += countEvaluations(ix, ch)
			}
			b.ReportAllocs()
			b.ResetTimer()
			j := 0
			for b.Loop() {
				dst = ix.Match(rows[j], dst[:0])
				if j++; j == len(rows) {
					j = 0
				}
			}
			b.ReportMetric(float64(evals)/float64(len(rows)), "evals/op")
		})
	}
}

// BenchmarkIndexChurn adds and removes one subscription among 1,000 or
// 100,000 of the mixed benchmark's filters: the cost of subscription
// churn, by the shape of the filter that comes and goes, a filter no other
// subscription has (so a group is placed and unplaced each time).
func BenchmarkIndexChurn(b *testing.B) {
	rel := mixedRelation()
	for _, subs := range []int{1_000, 100_000} {
		ix := mixedIndex(b, rel, subs, true)
		for shape := range 4 {
			b.Run(fmt.Sprintf("subs=%d/shape=%d", subs, shape), func(b *testing.B) {
				v := subs + shape
				id := uint64(subs + 1)
				b.ReportAllocs()
				for b.Loop() {
					if err := ix.Add(Subscription{ID: id, Events: EventInsert, Table: "m", Filter: mixedFilter(v, subs)}, rel); err != nil {
						b.Fatal(err)
					}
					ix.Remove(id)
				}
			})
		}
	}
}
