package sql

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func TestVersions(t *testing.T) {
	got := Versions()
	if len(got) == 0 || got[0] != "0001_realtime_schema" {
		t.Fatalf("Versions() = %q, want 0001_realtime_schema first", got)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("Versions() = %q, not in order", got)
	}
}

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string
		wantErr string
	}{
		{
			name: "ordered by number",
			fsys: fstest.MapFS{"0002_b.sql": file("B"), "0001_a.sql": file("A"), "0010_c.sql": file("C")},
			want: []string{"0001_a", "0002_b", "0010_c"},
		},
		{name: "short number", fsys: fstest.MapFS{"1_a.sql": file("")}, wantErr: "want NNNN_name.sql"},
		{name: "upper case", fsys: fstest.MapFS{"0001_Add.sql": file("")}, wantErr: "want NNNN_name.sql"},
		{name: "not sql", fsys: fstest.MapFS{"0001_a.txt": file("")}, wantErr: "want NNNN_name.sql"},
		{name: "same number", fsys: fstest.MapFS{"0001_a.sql": file(""), "0001_b.sql": file("")}, wantErr: "share number 0001"},
		{name: "empty", fsys: fstest.MapFS{}, wantErr: "no migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			migs, err := load(tc.fsys)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("load() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range migs {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("versions = %q, want %q", got, tc.want)
			}
		})
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func ledger(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT version FROM realtime.schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

func TestApplyIsIdempotent(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	for _, step := range []struct {
		name string
		want []string
	}{
		{name: "fresh database", want: Versions()},
		{name: "second run", want: nil},
	} {
		applied, err := Apply(ctx, conn)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !slices.Equal(applied, step.want) {
			t.Fatalf("%s: applied %q, want %q", step.name, applied, step.want)
		}
	}
	if got := ledger(t, conn); !slices.Equal(got, Versions()) {
		t.Fatalf("recorded %q, want %q", got, Versions())
	}
}

func TestApplyConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 4
	conns := make([]*pgx.Conn, nodes)
	for i := range conns {
		conns[i] = connect(t, url)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
		errs    []error
	)
	for _, conn := range conns {
		wg.Go(func() {
			got, err := Apply(context.Background(), conn)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, got...)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(applied)
	if !slices.Equal(applied, Versions()) {
		t.Fatalf("applied across nodes %q, want each of %q once", applied, Versions())
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	first, err := embedded.ReadFile("migrations/0001_realtime_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()

	broken := fstest.MapFS{
		"0001_realtime_schema.sql": {Data: first},
		"0002_two_steps.sql":       {Data: []byte("CREATE TABLE realtime.half (id int); SELECT * FROM missing_table;")},
	}
	applied, err := apply(ctx, conn, broken)
	if err == nil || !strings.Contains(err.Error(), "0002_two_steps") {
		t.Fatalf("apply() error = %v, want one naming 0002_two_steps", err)
	}
	if !slices.Equal(applied, []string{"0001_realtime_schema"}) {
		t.Fatalf("applied %q, want only 0001_realtime_schema", applied)
	}
	var half bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('realtime.half') IS NOT NULL").Scan(&half); err != nil {
		t.Fatal(err)
	}
	if half {
		t.Fatal("realtime.half exists: the failed migration was not rolled back")
	}

	fixed := fstest.MapFS{
		"0001_realtime_schema.sql": {Data: first},
		"0002_two_steps.sql":       {Data: []byte("CREATE TABLE realtime.half (id int);")},
	}
	applied, err = apply(ctx, conn, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []string{"0002_two_steps"}) {
		t.Fatalf("applied %q after the fix, want 0002_two_steps", applied)
	}
	if got, want := ledger(t, conn), []string{"0001_realtime_schema", "0002_two_steps"}; !slices.Equal(got, want) {
		t.Fatalf("recorded %q, want %q", got, want)
	}
}
