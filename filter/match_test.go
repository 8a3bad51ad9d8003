package filter

import (
	"fmt"
	"testing"

	"github.com/walcast/walcast/replication"
)

func TestMatch(t *testing.T) {
	rel := testRelation()
	type r = map[string]string
	tests := []struct {
		filter string
		row    r
		want   bool
	}{
		// eq, neq and NULL.
		{"i4=eq.7", r{"i4": "7"}, true},
		{"i4=eq.007", r{"i4": "7"}, true},
		{"i4=eq.7", r{"i4": "8"}, false},
		{"i4=eq.7", r{"i4": null}, false},
		{"i4=not.eq.7", r{"i4": null}, false}, // NOT NULL is NULL
		{"i4=not.eq.7", r{"i4": "8"}, true},
		{"i4=neq.7", r{"i4": "8"}, true},
		{"i4=neq.7", r{"i4": null}, false},
		{"i4=not.neq.7", r{"i4": "7"}, true},
		{"i4=eq.7", r{"i4": toast}, false},
		{"i4=not.eq.7", r{"i4": toast}, false},
		{"i4=eq.7", r{}, false}, // absent
		{"i4=not.eq.7", r{}, false},
		{"i8=eq.-9223372036854775808", r{"i8": "-9223372036854775808"}, true},
		{"o=eq.-1", r{"o": "4294967295"}, true},
		// Ordering.
		{"i4=lt.10", r{"i4": "9"}, true},
		{"i4=lt.10", r{"i4": "10"}, false},
		{"i4=lte.10", r{"i4": "10"}, true},
		{"i4=gt.-1", r{"i4": "0"}, true},
		{"i4=gte.0", r{"i4": "-1"}, false},
		{"i4=not.gt.5", r{"i4": "5"}, true},
		{"i4=not.gt.5", r{"i4": null}, false},
		// Floats: NaN equals NaN and sorts last; -0 equals 0.
		{"f8=eq.NaN", r{"f8": "NaN"}, true},
		{"f8=gt.Infinity", r{"f8": "NaN"}, true},
		{"f8=lt.NaN", r{"f8": "Infinity"}, true},
		{"f8=eq.0", r{"f8": "-0"}, true},
		{"f8=eq.0.1", r{"f8": "0.1"}, true},
		{"f8=gt.1e300", r{"f8": "1e+301"}, true},
		{"f4=eq.1.1", r{"f4": "1.1"}, true},
		{"f4=eq.0.1", r{"f4": "0.1"}, true},
		// Numeric: exact.
		{"num=eq.1.5", r{"num": "1.50"}, true},
		{"num=eq.0.1", r{"num": "0.1000"}, true},
		{"num=gt.0.30000000000000000001", r{"num": "0.3"}, false},
		{"num=lt.0.30000000000000000001", r{"num": "0.3"}, true},
		{"num=eq.12345678901234567890.123456789", r{"num": "12345678901234567890.1234567890"}, true},
		{"num=lt.-1.5", r{"num": "-2"}, true},
		{"num=lt.-1.5", r{"num": "-1.49"}, false},
		{"num=gt.-0.5", r{"num": "0"}, true},
		{"num=eq.NaN", r{"num": "NaN"}, true},
		{"num=gt.Infinity", r{"num": "NaN"}, true},
		{"num=lt.-1e100", r{"num": "-Infinity"}, true},
		{"num=eq.1e3", r{"num": "1000.00"}, true},
		// Bool.
		{"b=eq.yes", r{"b": "t"}, true},
		{"b=lt.true", r{"b": "f"}, true},
		{"b=is.true", r{"b": "t"}, true},
		{"b=is.true", r{"b": null}, false},
		{"b=not.is.true", r{"b": null}, true},
		{"b=not.is.true", r{"b": "f"}, true},
		{"b=is.false", r{"b": "f"}, true},
		{"b=is.unknown", r{"b": null}, true},
		{"b=not.is.unknown", r{"b": "t"}, true},
		{"b=not.is.unknown", r{}, false},
		// is null.
		{"txt=is.null", r{"txt": null}, true},
		{"txt=is.null", r{"txt": ""}, false},
		{"txt=not.is.null", r{"txt": ""}, true},
		{"txt=not.is.null", r{"txt": null}, false},
		{"txt=is.null", r{"txt": toast}, false}, // TOASTed values are never NULL
		{"txt=not.is.null", r{"txt": toast}, true},
		{"txt=is.null", r{}, false},
		{"txt=not.is.null", r{}, false},
		{"js=is.null", r{"js": "{}"}, false},
		// isdistinct.
		{"i4=isdistinct.7", r{"i4": null}, true},
		{"i4=isdistinct.7", r{"i4": "7"}, false},
		{"i4=isdistinct.7", r{"i4": "8"}, true},
		{"i4=not.isdistinct.7", r{"i4": "7"}, true},
		{"i4=not.isdistinct.7", r{"i4": null}, false},
		{"i4=isdistinct.7", r{}, false},
		{"i4=not.isdistinct.7", r{}, false},
		// in.
		{"i4=in.(1,2,3)", r{"i4": "2"}, true},
		{"i4=in.(1,2,3)", r{"i4": "4"}, false},
		{"i4=not.in.(1,2,3)", r{"i4": "4"}, true},
		{"i4=not.in.(1,2,3)", r{"i4": null}, false},
		{"i4=in.(1,null)", r{"i4": "1"}, true},
		{"i4=in.(1,null)", r{"i4": "2"}, false},
		{"i4=not.in.(1,null)", r{"i4": "2"}, false}, // NOT NULL
		{"i4=in.()", r{"i4": "1"}, false},
		{"i4=not.in.()", r{"i4": "1"}, true},
		{"i4=not.in.()", r{"i4": null}, true}, // NULL = ANY('{}') is false
		{"txt=in.(a,\"b,c\")", r{"txt": "b,c"}, true},
		// Text: byte order, bpchar padding.
		{"txt=eq.abc", r{"txt": "abc"}, true},
		{"txt=eq.abc", r{"txt": "ABC"}, false},
		{"txt=lt.a", r{"txt": "B"}, true},
		{"txt=lt.é", r{"txt": "z"}, true},
		{"txt=gt.ab", r{"txt": "abc"}, true},
		{"txt=eq.", r{"txt": ""}, true},
		{"bp=eq.ab", r{"bp": "ab  "}, true},
		{"bp=like.ab", r{"bp": "ab  "}, false},
		{"bp=like.ab%", r{"bp": "ab  "}, true},
		{"vc=eq.x", r{"vc": "x"}, true},
		{"nm=eq.pg_class", r{"nm": "pg_class"}, true},
		{"mood=eq.happy", r{"mood": "happy"}, true},
		{"mood=eq.Happy", r{"mood": "happy"}, false},
		// like / ilike.
		{"txt=like.a%", r{"txt": "abc"}, true},
		{"txt=like.a%", r{"txt": "Abc"}, false},
		{"txt=ilike.a%", r{"txt": "Abc"}, true},
		{"txt=like.a_c", r{"txt": "aéc"}, true},
		{"txt=like.a_c", r{"txt": "abbc"}, false},
		{"txt=like.%b%b%", r{"txt": "abcbd"}, true},
		{"txt=like.%b%b%", r{"txt": "abcd"}, false},
		{"txt=like.a\\%", r{"txt": "a%"}, true},
		{"txt=like.a\\%", r{"txt": "ab"}, false},
		{"txt=like.a\\_", r{"txt": "a_"}, true},
		{"txt=like.%", r{"txt": ""}, true},
		{"txt=like.%", r{"txt": null}, false},
		{"txt=not.like.a%", r{"txt": "b"}, true},
		{"txt=not.like.a%", r{"txt": null}, false},
		{"txt=like.", r{"txt": ""}, true},
		{"txt=like.abc", r{"txt": "abcd"}, false},
		{"txt=ilike.É", r{"txt": "é"}, false}, // ASCII folding only
		// match / imatch.
		{"txt=match.^a.c$", r{"txt": "a\nc"}, true}, // . matches newline
		{"txt=match.b", r{"txt": "abc"}, true},      // unanchored
		{"txt=match.^b", r{"txt": "abc"}, false},
		{"txt=match.^(ab|cd)+$", r{"txt": "abcdab"}, true},
		{"txt=match.^[a-c]*$", r{"txt": "abd"}, false},
		{"txt=imatch.^ABC$", r{"txt": "abc"}, true},
		{"txt=not.match.x", r{"txt": "abc"}, true},
		{"txt=not.match.x", r{"txt": null}, false},
		// Dates and timestamps.
		{"d=eq.2024-5-6", r{"d": "2024-05-06"}, true},
		{"d=lt.2024-05-06", r{"d": "0044-03-15 BC"}, true},
		{"d=gt.2024-05-06", r{"d": "infinity"}, true},
		{"d=lt.0001-01-01", r{"d": "0001-12-31 BC"}, true},
		{"d=eq.0001-12-31 BC", r{"d": "0001-12-31 BC"}, true},
		{"tstz=eq.2024-05-06T03:38:09.5+02:00", r{"tstz": "2024-05-06 01:38:09.5+00"}, true},
		{"tstz=eq.2024-05-06 01:38:09.5", r{"tstz": "2024-05-06 01:38:09.5+00"}, true},
		{"tstz=gt.2024-05-06 01:38:09.5", r{"tstz": "2024-05-06 01:38:09.500001+00"}, true},
		{"tstz=lt.2024-05-06", r{"tstz": "2024-05-05 23:59:59.999999+00"}, true},
		{"tstz=lt.2024-05-06", r{"tstz": "-infinity"}, true},
		{"tstz=eq.2024-05-06 05:38:09+05:30", r{"tstz": "2024-05-06 00:08:09+00"}, true},
		{"tstz=lt.0001-01-01", r{"tstz": "0044-03-15 12:00:00+00 BC"}, true},
		{"ts=eq.2024-05-06 01:38:09+05", r{"ts": "2024-05-06 01:38:09"}, true}, // offset ignored
		{"ts=eq.2024-05-06T01:38:09.1234575", r{"ts": "2024-05-06 01:38:09.123458"}, true},
		{"ts=eq.2024-01-01 24:00", r{"ts": "2024-01-02 00:00:00"}, true},
		// uuid, bytea.
		{"u=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", r{"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, true},
		{"u=lt.b0000000-0000-0000-0000-000000000000", r{"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, true},
		{"u=gt.7fffffff-ffff-ffff-ffff-ffffffffffff", r{"u": "80000000-0000-0000-0000-000000000000"}, true}, // unsigned
		{"by=eq.\\x0A1B", r{"by": "\\x0a1b"}, true},
		{"by=lt.\\x0a1b", r{"by": "\\x0a"}, true},
		{"by=eq.a", r{"by": "\\x61"}, true},
		// Several conditions: AND.
		{"i4=eq.1,txt=eq.a", r{"i4": "1", "txt": "a"}, true},
		{"i4=eq.1,txt=eq.a", r{"i4": "1", "txt": "b"}, false},
		{"i4=eq.1,txt=is.null", r{"i4": "1", "txt": null}, true},
		{"", r{}, true},
		// Malformed row text is unknown.
		{"i4=eq.1", r{"i4": "one"}, false},
		{"i4=not.eq.1", r{"i4": "one"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v", tc.filter, tc.row), func(t *testing.T) {
			p, err := Compile(rel, mustParse(t, tc.filter))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(row(rel, tc.row)); got != tc.want {
				t.Fatalf("Match(%v) with %q = %v, want %v", tc.row, tc.filter, got, tc.want)
			}
		})
	}
}

// An UPDATE's unchanged TOASTed value is read from the old row when present.
func TestMatchToastFromOld(t *testing.T) {
	rel := testRelation()
	p, err := Compile(rel, mustParse(t, "txt=eq.big"))
	if err != nil {
		t.Fatal(err)
	}
	newRow := row(rel, map[string]string{"txt": toast})
	if p.Match(newRow) {
		t.Fatal("matched an unchanged TOASTed value without the old row")
	}
	upd := &replication.Change{Relation: rel, Kind: replication.Update, New: newRow, Old: row(rel, map[string]string{"txt": "big"})}
	if !p.MatchChange(upd) {
		t.Fatal("did not take the TOASTed value from the old row")
	}
}

func TestMatchChange(t *testing.T) {
	rel := testRelation()
	p, err := Compile(rel, mustParse(t, "i4=eq.7,txt=is.null"))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Compile(rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	withOld := func(ch *replication.Change, keyOnly bool) *replication.Change {
		ch.OldKeyOnly = keyOnly
		return ch
	}
	hit := map[string]string{"id": "1", "i4": "7", "txt": null}
	miss := map[string]string{"id": "1", "i4": "8", "txt": null}
	tests := []struct {
		name string
		p    *Predicate
		ch   *replication.Change
		want bool
	}{
		{"insert", p, change(rel, replication.Insert, hit, nil), true},
		{"update reads new", p, change(rel, replication.Update, hit, miss), true},
		{"update ignores old", p, change(rel, replication.Update, miss, hit), false},
		{"delete reads old", p, change(rel, replication.Delete, nil, hit), true},
		{"delete key-only: NULL means not sent", p, withOld(change(rel, replication.Delete, nil, hit), true), false},
		{"truncate, filter", p, &replication.Change{Relation: rel, Kind: replication.Truncate}, false},
		{"truncate, no filter", empty, &replication.Change{Relation: rel, Kind: replication.Truncate}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.MatchChange(tc.ch); got != tc.want {
				t.Fatalf("MatchChange = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchShortRow(t *testing.T) {
	rel := testRelation()
	p, err := Compile(rel, mustParse(t, "iv=is.null"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Match([]replication.Value{{State: replication.ValueNull}}) {
		t.Fatal("matched a column beyond the row")
	}
}

func TestPredicateMatchAllocs(t *testing.T) {
	rel := testRelation()
	p, err := Compile(rel, mustParse(t,
		"i4=gt.1,f8=lt.10,num=eq.1.5,txt=like.a%b,vc=match.^x+$,b=is.true,u=in.(a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11),d=gte.2024-01-01,tstz=lt.2030-01-01,bp=ilike.AB%,by=neq.\\x00"))
	if err != nil {
		t.Fatal(err)
	}
	r := row(rel, map[string]string{
		"i4": "5", "f8": "1.25", "num": "1.50", "txt": "axxb", "vc": "xxx", "b": "t",
		"u": "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "d": "2024-05-06", "tstz": "2024-05-06 01:38:09.5+00",
		"bp": "abc  ", "by": "\\x0102",
	})
	if !p.Match(r) {
		t.Fatal("row does not match")
	}
	if n := testing.AllocsPerRun(1000, func() { p.Match(r) }); n != 0 {
		t.Fatalf("Predicate.Match allocates %v times per call, want 0", n)
	}
}
