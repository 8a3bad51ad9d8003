package drain

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

func TestParseDrainFlagsLoads(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		families []string
		wideRows int
		err      string
	}{
		{args: nil, families: allFamilies, wideRows: 4_000},
		{args: []string{"--quick"}, families: allFamilies, wideRows: 500},
		{args: []string{"--loads", "toast, identity,toast"}, families: []string{familyToast, familyIdentity}, wideRows: 4_000},
		{args: []string{"--loads", "rows,blobs"}, err: `unknown family "blobs"`},
		{args: []string{"--toast-size", "1000"}, err: "--toast-size must be"},
		{args: []string{"--toast-size", "2000000"}, err: "--toast-size must be"},
	} {
		opt, err := parseDrainFlags(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if fmt.Sprint(opt.families) != fmt.Sprint(tc.families) || opt.wideRows != tc.wideRows {
			t.Errorf("%v: families %v, wide rows %d; want %v, %d", tc.args, opt.families, opt.wideRows, tc.families, tc.wideRows)
		}
	}
}

// TestQuickDrainRowSizes: the smoke run has one row size, the largest,
// unless --row-sizes is given.
func TestQuickDrainRowSizes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "[100 2000]"},
		{[]string{"--quick"}, "[2000]"},
		{[]string{"--quick", "--row-sizes", "100,500"}, "[100 500]"},
	} {
		opt, err := parseDrainFlags(tc.args)
		if err != nil || fmt.Sprint(opt.rowSizes) != tc.want {
			t.Errorf("%v: row sizes %v, %v; want %s", tc.args, opt.rowSizes, err, tc.want)
		}
	}
}

func TestDrainLoadsFamilies(t *testing.T) {
	opt := drainOptions{bigRows: 200, smallRows: 99, identityRows: 50, wideRows: 10, toastSize: 50_000, rowSizes: []int{100, 2000}, families: []string{familyToast, familyIdentity}}
	var got []string
	for _, l := range drainLoads(opt) {
		got = append(got, fmt.Sprintf("%s %s %s %d×%d prefill=%v", l.shape, l.table, l.op, l.rows, l.rowSize, l.prefill))
	}
	want := []string{
		"toast insert docs INSERT 10×50000 prefill=false",
		"toast update, body unchanged docs UPDATE 10×50000 prefill=true",
		"toast update, body changed docs UPDATE 10×50000 prefill=true",
		"replica identity full update items_full UPDATE 50×2000 prefill=true",
		"replica identity full delete items_full DELETE 50×2000 prefill=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("loads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	opt.families = []string{familyRows}
	if ls := drainLoads(opt); len(ls) != 4 || ls[0].table != "items" || ls[3].shape != "small" {
		t.Errorf("rows family: %+v", ls)
	}
}

// TestWideLoadSQL: each statement changes exactly the load's ids.
func TestWideLoadSQL(t *testing.T) {
	b := &drainBench{baseRowBytes: 100}
	for _, l := range wideLoads(drainOptions{wideRows: 5, identityRows: 7, toastSize: 20_000, rowSizes: []int{500}, families: allFamilies}) {
		d := &drainRun{b: b, load: l, firstID: 11}
		sql := d.wideLoadSQL()
		switch l.shape {
		case "toast insert":
			if !strings.Contains(sql, "generate_series(11, 15)") || !strings.Contains(sql, "20000 AS size") {
				t.Errorf("%s: %s", l.shape, sql)
			}
		case "toast update, body changed":
			if sql != "CALL docs_rewrite(11, 5, 20000)" {
				t.Errorf("%s: %s", l.shape, sql)
			}
		case "replica identity full delete":
			if sql != "CALL items_full_delete(11, 7)" {
				t.Errorf("%s: %s", l.shape, sql)
			}
		}
		if l.prefill {
			want := fmt.Sprintf("generate_series(11, %d)", 11+l.rows-1)
			if p := d.prefillSQL(); !strings.Contains(p, want) || !strings.Contains(p, "INSERT INTO "+l.table+" ") {
				t.Errorf("%s prefill: %s, want %s into %s", l.shape, p, want, l.table)
			}
		}
	}
}

func TestCheckLines(t *testing.T) {
	line := func(typ, table string, id int64) string {
		if typ == "DELETE" {
			return fmt.Sprintf(`{"schema":"public","table":%q,"type":"DELETE","old_record":{"id":%d,"qty":1}}`, table, id)
		}
		return fmt.Sprintf(`{"schema":"public","table":%q,"type":%q,"record":{"id":%d},"old_record":{"id":%d}}`, table, typ, id, id)
	}
	del := load{table: "items_full", op: "DELETE", rows: 2}
	upd := load{table: "docs", op: "UPDATE", rows: 2}
	for _, tc := range []struct {
		name  string
		l     load
		lines []string
		err   string
	}{
		{"deletes", del, []string{line("DELETE", "items_full", 5), line("DELETE", "items_full", 6)}, ""},
		{"updates", upd, []string{line("UPDATE", "docs", 5), line("UPDATE", "docs", 6)}, ""},
		{"wrong type", upd, []string{line("UPDATE", "docs", 5), line("INSERT", "docs", 6)}, "line 2: got INSERT public.docs id 6, want UPDATE public.docs id 6"},
		{"wrong table", del, []string{line("DELETE", "items", 5)}, "want DELETE public.items_full id 5"},
		{"gap", upd, []string{line("UPDATE", "docs", 5), line("UPDATE", "docs", 7)}, "line 2: got UPDATE public.docs id 7"},
		{"missing", upd, []string{line("UPDATE", "docs", 5)}, "printed 1 lines, want 2"},
		{"delete without old_record", del, []string{`{"schema":"public","table":"items_full","type":"DELETE"}`}, "no id"},
	} {
		path := filepath.Join(t.TempDir(), "tail.out")
		if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := checkLines(path, tc.l, 5)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func changeFrame(typ string, id int64) []byte {
	rec := fmt.Sprintf(`"record":{"id":%d,"body":"x"},"old_record":{"id":%d}`, id, id)
	if typ == "DELETE" {
		rec = fmt.Sprintf(`"old_record":{"id":%d,"qty":3}`, id)
	}
	return fmt.Appendf(nil, `[null,null,"realtime:drain","postgres_changes",{"ids":[7],"data":{"schema":"public","table":"t","type":%q,`+
		`"commit_timestamp":"2026-01-01T00:00:00.000Z","columns":[{"name":"id","type":"int8","primary_key":true}],%s,"errors":null}}]`, typ, rec)
}

func TestRowSubscriberDeletesAndTypes(t *testing.T) {
	s := &rowSubscriber{firstID: 3, expect: expectOf(load{op: "DELETE"}), joined: make(chan struct{})}
	for id := int64(3); id < 6; id++ {
		s.handle(changeFrame("DELETE", id), id)
	}
	if err := s.check(3); err != nil {
		t.Fatalf("deletes: %v", err)
	}
	s = &rowSubscriber{firstID: 3, expect: expectOf(load{op: "UPDATE"}), joined: make(chan struct{})}
	s.handle(changeFrame("UPDATE", 3), 1)
	s.handle(changeFrame("INSERT", 4), 2)
	if err := s.check(2); err == nil || !strings.Contains(err.Error(), `another type than "type":"UPDATE"`) {
		t.Errorf("an INSERT among updates: %v", err)
	}
}

// TestWideTargets: every wide load has its ratio to pg_recvlogical, and a
// load whose runs all failed is never given a rate from zero rows.
func TestWideTargets(t *testing.T) {
	opt := drainOptions{runs: 1, wideRows: 10, smallRows: 50, toastSize: 50_000, rowSizes: []int{2000}, families: []string{familyToast}}
	var runs []*drainRun
	var measured []stats.Result
	cons := []consumer{{name: "pg_recvlogical", checksEveryRun: true}, {name: "walcast tail", goal: 0.8}}
	for i, l := range wideLoads(opt) {
		runs = append(runs, &drainRun{load: l})
		measured = append(measured, stats.Result{Load: l.name(), Consumer: "pg_recvlogical", Rows: 10, Wall: []time.Duration{time.Second}})
		tail := stats.Result{Load: l.name(), Consumer: "walcast tail", Rows: 10, Wall: []time.Duration{time.Duration(i+1) * time.Second}}
		if i == 2 {
			tail = stats.Result{Load: l.name(), Consumer: "walcast tail", Rows: 10, Failed: 2, Failure: "subscriber received 3 of 10 rows"}
		}
		measured = append(measured, tail)
	}
	ts := drainReport{opt: opt, runs: runs, measured: measured, consumers: cons}.targets()
	want := []report.Target{
		{Name: "WAL drain, 10 inserts of 50 KB TOASTed rows: walcast tail / pg_recvlogical", Ratio: 1, Met: true},
		{Name: "WAL drain, 10 updates leaving a 50 KB TOASTed body unchanged: walcast tail / pg_recvlogical", Ratio: 0.5},
		{Name: "WAL drain, 10 updates writing a new 50 KB TOASTed body: walcast tail / pg_recvlogical", Measured: "no timed run received every row"},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d targets, want %d: %+v", len(ts), len(want), ts)
	}
	for i, w := range want {
		if ts[i].Name != w.Name || ts[i].Ratio != w.Ratio || ts[i].Met != w.Met || w.Measured != "" && ts[i].Measured != w.Measured {
			t.Errorf("target %d: %+v, want %+v", i, ts[i], w)
		}
	}
}
