package filter

import (
	"strings"
	"testing"
)

func TestParseLimits(t *testing.T) {
	long := strings.Repeat("a", 600)
	tests := []struct {
		name   string
		lim    Limits
		filter string
		want   string // "" for accepted
	}{
		{"filter bytes default", Limits{}, "t=eq." + strings.Repeat("x", 4092), "filter of 4097 bytes is longer than the limit of 4096 bytes"},
		{"filter bytes at limit", Limits{}, "t=eq." + strings.Repeat("x", 4091), ""},
		{"filter bytes raised", Limits{MaxFilterBytes: 10_000}, "t=eq." + strings.Repeat("x", 4092), ""},
		{"filter bytes unlimited", Limits{MaxFilterBytes: -1, MaxPatternBytes: -1}, "t=like." + strings.Repeat("x", 100_000), ""},
		{"conditions", Limits{}, strings.Repeat("a=eq.1,", 16) + "a=eq.1", "filter has 17 conditions, more than the limit of 16"},
		{"conditions at limit", Limits{}, strings.Repeat("a=eq.1,", 15) + "a=eq.1", ""},
		{"in values configured", Limits{MaxInValues: 3}, "id=in.(1,2,3,4)", `column "id", operator in: too many values for ` + "`in`" + ` filter. Maximum 3`},
		{"in values raised", Limits{MaxInValues: 200, MaxFilterBytes: -1}, "id=in.(" + strings.Repeat("1,", 150) + "1)", ""},
		{"like pattern", Limits{}, "body=like.%" + long, `column "body", operator like: pattern of 601 bytes is longer than the limit of 512 bytes`},
		{"ilike pattern", Limits{}, "body=not.ilike." + long, `column "body", operator ilike: pattern of 600 bytes`},
		{"match pattern", Limits{}, "body=match." + long, `column "body", operator match: pattern of 600 bytes`},
		{"regexp program", Limits{}, "body=imatch.x{600}y{600}", `column "body", operator imatch: regular expression compiles to`},
		{"regexp program small", Limits{}, "body=match.^(a|b)+c{3}$", ""},
		{"regexp program raised", Limits{MaxRegexpInsts: 10_000}, "body=match.x{600}y{600}", ""},
		{"bad regexp left to Compile", Limits{}, "body=match.[", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLimited(tc.filter, tc.lim)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("accepted, want error containing %q", tc.want)
			case !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
			if err != nil && len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes quotes too much of the filter: %.100s...", len(err.Error()), err)
			}
		})
	}
}

// TestIndexLimits checks that an index applies its own limits, so a
// dispatcher configured with larger ones can register what it accepted.
func TestIndexLimits(t *testing.T) {
	rel := testRelation()
	big := "txt=in.(" + strings.Repeat("x,", 150) + "y)"
	if err := NewIndex().Add(Subscription{ID: 1, Events: EventAll, Table: "t", Filter: big}, rel); err == nil {
		t.Fatal("default index accepted 151 in values")
	}
	ix := NewIndexLimits(Limits{MaxInValues: 200})
	if err := ix.Add(Subscription{ID: 1, Events: EventAll, Table: "t", Filter: big}, rel); err != nil {
		t.Fatalf("index with MaxInValues 200: %v", err)
	}
}
