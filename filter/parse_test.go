package filter

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Condition
	}{
		{"empty", "", nil},
		{"blank", "  \t ", nil},
		{"eq", "id=eq.5", []Condition{{Column: "id", Op: OpEq, Value: "5"}}},
		{"every op", "a=neq.1,b=lt.2,c=lte.3,d=gt.4,e=gte.5,f=like.x%,g=ilike._y,h=match.^a,i=imatch.b$,j=isdistinct.7",
			[]Condition{
				{Column: "a", Op: OpNeq, Value: "1"}, {Column: "b", Op: OpLt, Value: "2"},
				{Column: "c", Op: OpLte, Value: "3"}, {Column: "d", Op: OpGt, Value: "4"},
				{Column: "e", Op: OpGte, Value: "5"}, {Column: "f", Op: OpLike, Value: "x%"},
				{Column: "g", Op: OpIlike, Value: "_y"}, {Column: "h", Op: OpMatch, Value: "^a"},
				{Column: "i", Op: OpImatch, Value: "b$"}, {Column: "j", Op: OpIsDistinct, Value: "7"},
			}},
		{"not", "age=not.eq.5", []Condition{{Column: "age", Not: true, Op: OpEq, Value: "5"}}},
		{"value with dots", "v=eq.1.5.x", []Condition{{Column: "v", Op: OpEq, Value: "1.5.x"}}},
		{"empty value", "name=eq.", []Condition{{Column: "name", Op: OpEq, Value: ""}}},
		{"quoted comma", `name=eq."a,b"`, []Condition{{Column: "name", Op: OpEq, Value: "a,b"}}},
		{"quoted escapes", `name=eq."say \"hi\" \\o/"`, []Condition{{Column: "name", Op: OpEq, Value: `say "hi" \o/`}}},
		{"quoted spaces", `name=eq." x "`, []Condition{{Column: "name", Op: OpEq, Value: " x "}}},
		{"unquoted backslash", `p=like.a\%`, []Condition{{Column: "p", Op: OpLike, Value: `a\%`}}},
		{"segment whitespace", " a=eq.1 , b=eq.2 ", []Condition{{Column: "a", Op: OpEq, Value: "1"}, {Column: "b", Op: OpEq, Value: "2"}}},
		{"in", `id=in.(1,2,3)`, []Condition{{Column: "id", Op: OpIn, List: []string{"1", "2", "3"}}}},
		{"in quoted", `name=in.(a, "c,d" ,"e)",  f )`, []Condition{{Column: "name", Op: OpIn, List: []string{"a", "c,d", "e)", "f"}}}},
		{"in null", `x=not.in.(1,NULL,"null")`, []Condition{{Column: "x", Not: true, Op: OpIn, List: []string{"1", "null"}, ListNull: true}}},
		{"in empty", `x=in.()`, []Condition{{Column: "x", Op: OpIn}}},
		{"in then more", `id=in.(1,2),name=eq.x`, []Condition{{Column: "id", Op: OpIn, List: []string{"1", "2"}}, {Column: "name", Op: OpEq, Value: "x"}}},
		{"is", "a=is.NULL,b=not.is.true,c=is.unknown", []Condition{
			{Column: "a", Op: OpIs, Value: "null"}, {Column: "b", Not: true, Op: OpIs, Value: "true"}, {Column: "c", Op: OpIs, Value: "unknown"}}},
		{"builder output", `name=eq."a,b",id=in.(1,2,3),status=not.in.(x,y),deleted=is.null`, []Condition{
			{Column: "name", Op: OpEq, Value: "a,b"}, {Column: "id", Op: OpIn, List: []string{"1", "2", "3"}},
			{Column: "status", Not: true, Op: OpIn, List: []string{"x", "y"}}, {Column: "deleted", Op: OpIs, Value: "null"}}},
		{"parens in value", "f=eq.g(x)", []Condition{{Column: "f", Op: OpEq, Value: "g(x)"}}},
		{"column with space", "my col=eq.1", []Condition{{Column: "my col", Op: OpEq, Value: "1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
			// Rendering and parsing again gives the same conditions.
			again, err := Parse(Format(got))
			if err != nil {
				t.Fatalf("Parse(Format(...)) = %q: %v", Format(got), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Fatalf("round trip through %q (-first +second):\n%s", Format(got), diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	many := "id=in.(" + strings.Repeat("1,", MaxInValues) + "1)"
	tests := []struct {
		name, in, want string
	}{
		{"empty segment", "a=eq.1,,b=eq.2", `filter "a=eq.1,,b=eq.2": condition 2 is empty`},
		{"trailing comma", "a=eq.1,", "condition 2 is empty"},
		{"no equals", "abc", `filter "abc": missing "="`},
		{"no column", "=eq.1", "missing column"},
		{"quote in column", `"a"=eq.1`, "invalid column name"},
		{"unknown op", "age=foo.5", `filter "age=foo.5": unknown operator "foo" for column "age"; want one of eq, neq, lt, lte, gt, gte, in, like, ilike, match, imatch, is, isdistinct`},
		{"upper-case op", "age=EQ.5", `unknown operator "EQ"`},
		{"undefined", "undefined", `missing "="`},
		{"no value", "age=eq", `missing value after operator "eq" for column "age"; want age=eq.<value>`},
		{"not only", "age=not", `unknown operator "not"`},
		{"double not", "age=not.not.eq.1", `unknown operator "not"`},
		{"unterminated quote", `name=eq."abc`, "unterminated double quote"},
		{"text after quote", `name=eq."a"b`, `unexpected text "b" after the closing quote`},
		{"stray quote", `name=eq.a"b"`, `unexpected '"' in unquoted value`},
		{"unbalanced open", "id=in.(1,2", "unbalanced '('"},
		{"unbalanced close", "id=eq.1)", "unbalanced ')'"},
		{"in without parens", "id=in.1,2", "want a parenthesised list"},
		{"in empty element", "id=in.(1,,2)", "empty value at position 2"},
		{"in nested parens", "id=in.((1),2)", "quote values containing parentheses"},
		{"in too many", many, "too many values for `in` filter. Maximum 100"},
		{"is bad value", "a=is.maybe", `invalid value for is filter: "maybe"; want null, true, false or unknown`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error containing %q", tc.in, got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) error:\n got %q\nwant it to contain %q", tc.in, err, tc.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, want *Error", err)
			}
		})
	}
	// Exactly MaxInValues values are fine.
	ok := "id=in.(" + strings.Repeat("1,", MaxInValues-1) + "1)"
	if _, err := Parse(ok); err != nil {
		t.Fatalf("Parse of %d values: %v", MaxInValues, err)
	}
}
