package replication

import (
	"sort"
	"testing"
)

func TestCursorText(t *testing.T) {
	tests := []struct {
		c    Cursor
		want string
	}{
		{Cursor{}, "0000000000000000-00000000"},
		{Cursor{LSN: 0x1A2B3C8, Ordinal: 1}, "0000000001A2B3C8-00000001"},
		{Cursor{LSN: ^LSN(0), Ordinal: 99999999}, "FFFFFFFFFFFFFFFF-99999999"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.c, got, tc.want)
		}
		back, err := ParseCursor(tc.want)
		if err != nil || back != tc.c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", tc.want, back, err, tc.c)
		}
	}
	for _, bad := range []string{"", "0/1A2B", "0000000001A2B3C8_00000001", "000000000000000G-00000001", "0000000001A2B3C8-0000000x"} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) = nil error, want one", bad)
		}
	}
}

// TestCursorOrder checks that the text form sorts like the cursors do.
func TestCursorOrder(t *testing.T) {
	cs := []Cursor{{LSN: 0x10, Ordinal: 2}, {LSN: 0x9, Ordinal: 10}, {LSN: 0x10, Ordinal: 1}, {LSN: 0x100, Ordinal: 1}}
	texts := make([]string, len(cs))
	for i, c := range cs {
		texts[i] = c.String()
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Less(cs[j]) })
	sort.Strings(texts)
	for i := range cs {
		if cs[i].String() != texts[i] {
			t.Errorf("position %d: cursor order %v, text order %v", i, cs[i], texts[i])
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, s := range []string{"insert", "UPDATE", "Delete", "truncate"} {
		if k, ok := ParseKind(s); !ok || !equalFoldASCII(k.String(), s) {
			t.Errorf("ParseKind(%q) = %v, %v", s, k, ok)
		}
	}
	if _, ok := ParseKind("upsert"); ok {
		t.Error("ParseKind(upsert) accepted")
	}
}
