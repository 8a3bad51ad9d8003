package filter

import (
	"fmt"
	"testing"
	"time"

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
