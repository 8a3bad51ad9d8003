package presence

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMeta(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" expects ErrNotObject
	}{
		{"empty object", `{}`, `{}`},
		{"space around", " \n{ } \t", `{}`},
		{"fields", `{"online_at":"now","user":1}`, `{"online_at":"now","user":1}`},
		{"keys sorted", `{"b":1,"a":{"d":[1,{"z":0,"y":0}],"c":null}}`, `{"a":{"c":null,"d":[1,{"y":0,"z":0}]},"b":1}`},
		{"space dropped", `{ "a" : [ 1 , 2 ] }`, `{"a":[1,2]}`},
		{"last duplicate wins", `{"a":1,"a":2}`, `{"a":2}`},
		{"numbers as written", `{"big":12345678901234567890,"f":1.0,"e":1e3}`, `{"big":12345678901234567890,"e":1e3,"f":1.0}`},
		{"html kept", `{"h":"<b>&</b>"}`, `{"h":"<b>&</b>"}`},
		{"escapes normalized", `{"s":"\u0041\/\n"}`, `{"s":"A/\n"}`},
		{"invalid utf8 replaced", "{\"s\":\"a\xffb\"}", "{\"s\":\"a\ufffdb\"}"},
		{"server keys dropped", `{"phx_ref":"x","phx_ref_prev":"y","a":1}`, `{"a":1}`},
		{"only server keys", `{"phx_ref":"x"}`, `{}`},
		{"nested server keys kept", `{"a":{"phx_ref":"x"}}`, `{"a":{"phx_ref":"x"}}`},
		{"array", `[1]`, ""},
		{"string", `"x"`, ""},
		{"number", `1`, ""},
		{"null", `null`, ""},
		{"empty", ``, ""},
		{"truncated", `{"a":`, ""},
		{"trailing value", `{} {}`, ""},
		{"trailing garbage", `{}x`, ""},
		{"trailing brace", `{}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMeta([]byte(tc.in))
			if tc.want == "" {
				if !errors.Is(err, ErrNotObject) {
					t.Fatalf("ParseMeta(%q) = %s, %v; want ErrNotObject", tc.in, m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMeta(%q): %v", tc.in, err)
			}
			if got := m.String(); got != tc.want {
				t.Fatalf("ParseMeta(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if m.Len() != len(tc.want) {
				t.Errorf("Len = %d, want %d", m.Len(), len(tc.want))
			}
		})
	}
}

func TestParseMetaEqual(t *testing.T) {
	a, _ := ParseMeta([]byte(`{"x":1,"y":{"b":2,"a":1}}`))
	b, _ := ParseMeta([]byte(`{ "y": {"a":1, "b":2}, "x": 1 }`))
	c, _ := ParseMeta([]byte(`{"x":1.0,"y":{"b":2,"a":1}}`))
	if a != b {
		t.Errorf("%s != %s: same object, other order", a, b)
	}
	if a == c {
		t.Errorf("%s == %s: 1 and 1.0 differ (Supabase compares them as different terms)", a, c)
	}
}

func TestParseMetaDeep(t *testing.T) {
	// encoding/json refuses absurd depths instead of exhausting the stack.
	deep := `{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	if _, err := ParseMeta([]byte(deep)); !errors.Is(err, ErrNotObject) {
		t.Fatalf("deep payload: %v, want ErrNotObject", err)
	}
}
