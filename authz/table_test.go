package authz

import (
	"context"
	"errors"
	"slices"
	"testing"
)

var accessSchema = []string{
	createRole,
	`CREATE TABLE open (id int PRIMARY KEY, a text, secret text)`,
	`GRANT SELECT (id, a) ON open TO anon`,
	`GRANT SELECT ON open TO authenticated`,
	`CREATE TABLE nopk (x int)`,
	`GRANT SELECT ON nopk TO anon`,
	`CREATE TABLE hiddenpk (id int PRIMARY KEY, a text)`,
	`GRANT SELECT (a) ON hiddenpk TO anon`,
	`CREATE TABLE rls (org int, id int, body text, PRIMARY KEY (org, id))`,
	`ALTER TABLE rls ENABLE ROW LEVEL SECURITY`,
	`GRANT SELECT ON rls TO anon, authenticated, service_role`,
	`CREATE TABLE owned (id int PRIMARY KEY)`,
	`ALTER TABLE owned ENABLE ROW LEVEL SECURITY`,
	`ALTER TABLE owned OWNER TO authenticated`,
	`CREATE TABLE forced (id int PRIMARY KEY)`,
	`ALTER TABLE forced ENABLE ROW LEVEL SECURITY`,
	`ALTER TABLE forced FORCE ROW LEVEL SECURITY`,
	`ALTER TABLE forced OWNER TO authenticated`,
	`CREATE SCHEMA "odd ""schema"""`,
	`CREATE TABLE "odd ""schema"""."Mixed Case" ("Key" text PRIMARY KEY)`,
	`GRANT USAGE ON SCHEMA "odd ""schema""" TO anon`,
	`GRANT SELECT ON "odd ""schema"""."Mixed Case" TO anon`,
}

func TestTableAccess(t *testing.T) {
	a, _ := newDB(t, accessSchema...)
	tbl := func(name string) Table { return Table{"public", name} }
	tests := []struct {
		role  string
		table Table
		want  TableAccess
		err   string
	}{
		{"anon", tbl("open"), TableAccess{CanSelect: true, Columns: []string{"id", "a"}, PrimaryKey: []string{"id"}, PrimaryKeyReadable: true}, ""},
		{"authenticated", tbl("open"), TableAccess{CanSelect: true, Columns: []string{"id", "a", "secret"}, PrimaryKey: []string{"id"}, PrimaryKeyReadable: true}, ""},
		{"walcast_test_nogrant", tbl("open"), TableAccess{Columns: []string{}, PrimaryKey: []string{"id"}}, "Error 401: Unauthorized"},
		{"anon", tbl("nopk"), TableAccess{CanSelect: true, Columns: []string{"x"}, PrimaryKey: []string{}}, "Error 400: Bad Request, no primary key"},
		{"anon", tbl("hiddenpk"), TableAccess{CanSelect: true, Columns: []string{"a"}, PrimaryKey: []string{"id"}}, "Error 401: Unauthorized"},
		{"anon", tbl("rls"), TableAccess{CanSelect: true, Columns: []string{"org", "id", "body"}, PrimaryKey: []string{"org", "id"}, PrimaryKeyReadable: true, RowSecurity: true}, ""},
		{"service_role", tbl("rls"), TableAccess{CanSelect: true, Columns: []string{"org", "id", "body"}, PrimaryKey: []string{"org", "id"}, PrimaryKeyReadable: true, RowSecurity: true, Bypass: true}, ""},
		{"postgres", tbl("rls"), TableAccess{CanSelect: true, Columns: []string{"org", "id", "body"}, PrimaryKey: []string{"org", "id"}, PrimaryKeyReadable: true, RowSecurity: true, Bypass: true}, ""},
		{"authenticated", tbl("owned"), TableAccess{CanSelect: true, Columns: []string{"id"}, PrimaryKey: []string{"id"}, PrimaryKeyReadable: true, RowSecurity: true, Bypass: true}, ""},
		{"authenticated", tbl("forced"), TableAccess{CanSelect: true, Columns: []string{"id"}, PrimaryKey: []string{"id"}, PrimaryKeyReadable: true, RowSecurity: true, ForceRowSecurity: true}, ""},
		{"anon", Table{`odd "schema"`, "Mixed Case"}, TableAccess{CanSelect: true, Columns: []string{"Key"}, PrimaryKey: []string{"Key"}, PrimaryKeyReadable: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.role+"/"+tc.table.String(), func(t *testing.T) {
			got, err := a.TableAccess(context.Background(), tc.role, []Table{tc.table})
			if err != nil {
				t.Fatal(err)
			}
			g, w := got[0], tc.want
			w.Table = tc.table
			if g.Table != w.Table || g.CanSelect != w.CanSelect || !slices.Equal(g.Columns, w.Columns) || !slices.Equal(g.PrimaryKey, w.PrimaryKey) ||
				g.PrimaryKeyReadable != w.PrimaryKeyReadable || g.RowSecurity != w.RowSecurity || g.ForceRowSecurity != w.ForceRowSecurity || g.Bypass != w.Bypass {
				t.Errorf("TableAccess =\n %+v, want\n %+v", g, w)
			}
			if e := errString(g.Err()); e != tc.err && !(tc.err == "" && e == "<nil>") {
				t.Errorf("Err() = %q, want %q", e, tc.err)
			}
			if want := w.RowSecurity && !w.Bypass; g.RowChecked() != want {
				t.Errorf("RowChecked() = %v, want %v", g.RowChecked(), want)
			}
		})
	}
}

func TestTableAccessMany(t *testing.T) {
	a, _ := newDB(t, accessSchema...)
	tables := []Table{{"public", "rls"}, {"public", "open"}, {"public", "nopk"}}
	got, err := a.TableAccess(context.Background(), "anon", tables)
	if err != nil {
		t.Fatal(err)
	}
	for i, ta := range got {
		if ta.Table != tables[i] {
			t.Errorf("result %d is %s, want %s (the order of the request)", i, ta.Table, tables[i])
		}
	}
}

func TestTableAccessErrors(t *testing.T) {
	a, _ := newDB(t, accessSchema...)
	ctx := context.Background()
	_, err := a.TableAccess(ctx, "no_such_role", []Table{{"public", "open"}})
	var re *RoleError
	if !errors.As(err, &re) || !errors.Is(err, ErrUnknownRole) || re.Role != "no_such_role" {
		t.Errorf("unknown role: %v", err)
	}
	_, err = a.TableAccess(ctx, "anon", []Table{{"public", "open"}, {"public", "missing"}})
	if !errors.Is(err, ErrUnknownTable) {
		t.Errorf("unknown table: %v", err)
	}
	// A view is not a table.
	if _, err := a.cfg.Pool.Exec(ctx, "CREATE VIEW v AS SELECT 1 AS id"); err != nil {
		t.Fatal(err)
	}
	if _, err = a.TableAccess(ctx, "anon", []Table{{"public", "v"}}); !errors.Is(err, ErrUnknownTable) {
		t.Errorf("view: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
