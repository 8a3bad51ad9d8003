package filter

import (
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) []Condition {
	t.Helper()
	c, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return c
}

func TestCompileErrors(t *testing.T) {
	rel := testRelation()
	tests := []struct{ in, want string }{
		{"nope=eq.1", `filter "nope=eq.1": invalid column for filter nope: table public.t has no column "nope"`},
		{"i4=eq.abc", `filter "i4=eq.abc": invalid input for column "i4" (int4): want an integer between -2147483648 and 2147483647`},
		{"i2=eq.40000", `invalid input for column "i2" (int2): want an integer between -32768 and 32767 (out of range)`},
		{"i8=eq.9223372036854775808", `(int8)`},
		{"i4=eq.1.5", `want an integer`},
		{"i4=eq.1_000", `want an integer`},
		{"i4=in.(1,x,3)", `filter "i4=in.(1,x,3)": invalid input "x" for column "i4" (int4): want an integer`},
		{"f8=eq.1e400", `(float8): want a floating-point number`},
		{"f8=eq.0x10", `want a floating-point number`},
		{"f8=eq.1e-400", `want a floating-point number`},
		{"num=eq.1.2.3", `(numeric): want a decimal number`},
		{"num=eq.+NaN", `want a decimal number`},
		{"b=eq.maybe", `(bool): want a boolean`},
		{"b=eq.o", `want a boolean`},
		{"u=eq.1234", `(uuid): want a UUID`},
		{"u=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", `want a UUID`},
		{"u=eq.a0eebc999c0b4ef8bb6d6bb9bd380a11-", `want a UUID`},
		{"d=eq.2024-02-30", `(date): want a date`},
		{"d=eq.today", `want a date`},
		{"tstz=eq.2024-05-06 25:00", `(timestamptz): want a timestamp`},
		{"by=eq.\\xabc", `(bytea): want bytes in hex (\x0a1b) or escape format (odd number of hex digits)`},
		{"txt=eq.\xff", `want valid UTF-8 text without NUL bytes (invalid UTF-8)`},
		{"i4=like.1%", `operator like requires a text-compatible column type (text, varchar, char, name); column "i4" is int4`},
		{"u=imatch.a", `operator imatch requires a text-compatible column type`},
		{"mood=like.h%", `operator like requires a text-compatible column type`},
		{"txt=like.a\\", `invalid pattern for like on column "txt": LIKE pattern must not end with escape character`},
		{`txt=match."(a"`, `invalid regular expression for match filter on column "txt": error parsing regexp: missing closing )`},
		{"txt=match.(a)\\1", `invalid regular expression for match filter`},
		{"txt=match.\\bword", `\b means different things`},
		{"i4=is.true", `invalid value for is filter: true needs a boolean column; column "i4" is int4 (use is.null)`},
		{"txt=is.unknown", `invalid value for is filter: unknown needs a boolean column`},
		{"js=eq.{}", `operator eq is not supported on column "js" (jsonb): it is jsonb, whose comparison walcast does not implement; only is.null and not.is.null are`},
		{"arr=eq.{1}", `operator eq is not supported on column "arr" (_int4): it is an array`},
		{"iv=lt.1 day", `operator lt is not supported on column "iv" (interval)`},
		{"mood=lt.happy", `operator lt is not supported on column "mood" (mood): values of this type are compared as exact text, so only eq, neq, in and isdistinct apply`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := Compile(rel, mustParse(t, tc.in))
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error containing %q", tc.in, p, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile(%q) error:\n got %q\nwant it to contain %q", tc.in, err, tc.want)
			}
			if e, ok := err.(*Error); !ok || e.Column == "" {
				t.Fatalf("error is %#v, want *Error naming the column", err)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	rel := testRelation()
	for _, in := range []string{
		"i4=eq. 7 ", "i4=eq.+7", "i4=eq.-2147483648", "o=eq.-1", "o=eq.4294967295",
		"f4=eq.1.5", "f8=eq.-Infinity", "f8=eq.nan", "f8=eq.1e-310",
		"num=eq.1e-3", "num=eq..5", "num=eq.5.", "num=eq.-inf", "num=eq.NaN",
		"b=eq.yes", "b=eq.OFF", "b=eq.1", "b=is.unknown", "b=not.is.false",
		"u=eq.{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", "u=eq.a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
		"d=eq.2024-5-6", "d=eq.0001-01-01 BC", "d=eq.-infinity", "d=eq.2024-02-29",
		"ts=eq.2024-05-06T01:38:09.123456789", "tstz=eq.2024-05-06 01:38:09+05:30", "tstz=eq.2024-05-06T01:38Z", "tstz=eq.2024-05-06 01:38:09 +0200",
		"by=eq.\\x0A 1b", "by=eq.ab\\\\c\\001",
		"mood=eq.happy", "mood=in.(sad,ok)", "js=is.null", "arr=not.is.null", "iv=is.null",
		"txt=like.%a\\%b_", "txt=match.^(a|b)+[[:digit:]]*$", "nm=ilike.PG_%", "bp=like.a%",
		"txt=in.()", "txt=in.(null)",
	} {
		if _, err := Compile(rel, mustParse(t, in)); err != nil {
			t.Errorf("Compile(%q): %v", in, err)
		}
	}
}

func TestCompileNoRelation(t *testing.T) {
	if _, err := Compile(nil, mustParse(t, "a=eq.1")); err == nil {
		t.Fatal("Compile(nil, ...) succeeded")
	}
}

// Filters that mean the same compile to the same key.
func TestCanonicalKey(t *testing.T) {
	rel := testRelation()
	same := [][]string{
		{"i4=eq.7", "i4=eq.007", "i4=eq.+7", "i4=eq. 7", "i4=in.(7)", "i4=in.(7,07)"},
		{"i4=eq.7,txt=eq.a", "txt=eq.a,i4=eq.7", "txt=eq.a,i4=eq.7,i4=eq.07"},
		{"num=eq.1.5", "num=eq.1.50", "num=eq.+1.5", "num=eq.15e-1", "num=eq.0.15E1"},
		{"num=eq.0", "num=eq.-0", "num=eq.0.000", "num=eq.0e5"},
		{"f8=eq.1", "f8=eq.1.0", "f8=eq.1e0", "f8=eq.+1"},
		{"f8=eq.0", "f8=eq.-0"},
		{"f8=eq.NaN", "f8=eq.nan"},
		{"u=eq.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "u=eq.A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "u=eq.{a0eebc999c0b4ef8bb6d6bb9bd380a11}"},
		{"b=eq.true", "b=eq.t", "b=eq.yes", "b=eq.1", "b=eq.on"},
		{"tstz=eq.2024-05-06 01:38:09.5+00", "tstz=eq.2024-05-06T03:38:09.500+02:00", "tstz=eq.2024-05-06T01:38:09.5Z", "tstz=eq.2024-05-06 01:38:09.5"},
		{"d=eq.2024-05-06", "d=eq.2024-5-6"},
		{"by=eq.\\x0a1B", "by=eq.\\x0A 1b", "by=eq.\\012\\033"},
		{"i4=in.(1,2,3)", "i4=in.(3,2,1)", "i4=in.(1,2,3,3)"},
		{"bp=eq.a", "bp=eq.a  "},
	}
	for _, group := range same {
		first, err := Compile(rel, mustParse(t, group[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range group[1:] {
			p, err := Compile(rel, mustParse(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if p.key != first.key {
				t.Errorf("%q and %q compile to different keys", group[0], f)
			}
		}
	}
	different := [][2]string{
		{"i4=eq.7", "i8=eq.7"},
		{"i4=eq.7", "i4=not.eq.7"},
		{"i4=eq.7", "i4=neq.7"},
		{"i4=in.(1,2)", "i4=in.(1,2,null)"},
		{"txt=like.a%", "txt=ilike.a%"},
		{"txt=like.a%", "txt=like.a\\%"},
		{"txt=eq.a", "txt=eq.A"},
		{"num=eq.1.5", "num=eq.1.05"},
		{"f8=eq.NaN", "f8=eq.Infinity"},
		{"tstz=eq.2024-05-06 01:38:09.5+00", "ts=eq.2024-05-06 01:38:09.5+00"},
		{"tstz=eq.2024-05-06 01:38:09.5+00", "tstz=eq.2024-05-06 01:38:09.5+01"},
	}
	for _, d := range different {
		a, err := Compile(rel, mustParse(t, d[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Compile(rel, mustParse(t, d[1]))
		if err != nil {
			t.Fatal(err)
		}
		if a.key == b.key {
			t.Errorf("%q and %q compile to the same key", d[0], d[1])
		}
	}
}
