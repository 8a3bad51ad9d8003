package stats

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(30, 10, 20), 20 * time.Millisecond},
		{ms(40, 10, 30, 20), 25 * time.Millisecond},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("median reordered its input: %v", tc.in)
			}
		}
	}
}

func TestMedianOfFloats(t *testing.T) {
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 1 to 4 = %v, want 2.5", got)
	}
}

func TestGroup(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.6: "1,000", 12345: "12,345", 213675.2: "213,675", 1234567: "1,234,567"} {
		if got := Group(in); got != want {
			t.Errorf("group(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	s := time.Second
	results := []Result{
		{Load: "big", Consumer: "ref", Rows: 1000, Wall: []time.Duration{s, s / 2, 2 * s}, CPU: []time.Duration{s / 4, s / 4, s / 4}},
		{Load: "big", Consumer: "new", Rows: 1000, Wall: []time.Duration{2 * s, 4 * s, 2 * s}, CPU: []time.Duration{s, s, 3 * s / 2}},
	}
	var b strings.Builder
	if err := WriteTable(&b, results, "ref"); err != nil {
		t.Fatal(err)
	}
	want := `| load | consumer | runs | median s | rows/s (median) | min–max rows/s | client CPU s (median) | rows/s ÷ ref |
|---|---|---:|---:|---:|---:|---:|---:|
| big | ref | 3 | 1.000 | 1,000 | 500–2,000 | 0.25 | — |
| big | new | 3 | 2.000 | 500 | 250–500 | 1.00 | 0.50 |
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTableFailedRuns(t *testing.T) {
	s := time.Second
	results := []Result{
		{Load: "big", Consumer: "ref", Rows: 1000, Wall: []time.Duration{s}, CPU: []time.Duration{s}},
		{Load: "big", Consumer: "some", Rows: 1000, Wall: []time.Duration{2 * s}, CPU: []time.Duration{s}, Failed: 1, Failure: "lost"},
		{Load: "big", Consumer: "none", Rows: 1000, Failed: 2, Failure: "lost"},
	}
	var b strings.Builder
	if err := WriteTable(&b, results, "ref"); err != nil {
		t.Fatal(err)
	}
	want := `| big | ref | 1 | 1.000 | 1,000 | 1,000–1,000 | 1.00 | — |
| big | some | 1 (1 failed) | 2.000 | 500 | 500–500 | 1.00 | 0.50 |
| big | none | 0 (2 failed) | — | — | — | — | — |
`
	if _, got, _ := strings.Cut(b.String(), "|---:|\n"); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteRateTableHeader(t *testing.T) {
	var b strings.Builder
	if err := WriteRateTable(&b, nil, "ref", "consumer CPU s (median)"); err != nil {
		t.Fatal(err)
	}
	want := "| load | consumer | runs | median s | rows/s (median) | min–max rows/s | consumer CPU s (median) | rows/s ÷ ref |\n"
	if got, _, _ := strings.Cut(b.String(), "|---"); got != want {
		t.Errorf("header %q, want %q", got, want)
	}
}

// TestWriteRateTableWalsender: the walsender column appears when a result
// carries walsender CPU, and every row, failed or not, has as many cells as
// the header.
func TestWriteRateTableWalsender(t *testing.T) {
	s := time.Second
	results := []Result{
		{Load: "big", Consumer: "ref", Rows: 1000, Wall: []time.Duration{s}, CPU: []time.Duration{s / 2}, Walsender: []time.Duration{s / 4}},
		{Load: "big", Consumer: "new", Rows: 1000, Failed: 1, Failure: "closed"},
	}
	var b strings.Builder
	if err := WriteRateTable(&b, results, "ref", "CPU"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.Contains(lines[0], "| walsender CPU s (median) |") {
		t.Errorf("header without the walsender column: %q", lines[0])
	}
	for _, l := range lines {
		if got, want := strings.Count(l, "|"), strings.Count(lines[0], "|"); got != want {
			t.Errorf("%q has %d cell borders, the header %d", l, got, want)
		}
	}
	if !strings.Contains(lines[2], "| 0.50 | 0.25 |") {
		t.Errorf("row %q lacks CPU 0.50 and walsender 0.25", lines[2])
	}
}
