package changes

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/internal/pgtest"
	walcastsql "github.com/walcast/walcast/sql"
)

// newAuthzFixture is newFixture on a migrated database (the roles anon,
// authenticated and service_role, auth.uid() and friends), with a
// dispatcher that authorizes every binding through authz. schema runs as
// the superuser and must create testPublication. The marker table is
// readable by service_role, whose viewer the marker binding has.
func newAuthzFixture(t testing.TB, schema string) *fixture {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := walcastsql.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schema, `CREATE TABLE marker (id int PRIMARY KEY);
		ALTER PUBLICATION ` + testPublication + ` ADD TABLE marker;
		GRANT SELECT ON marker TO service_role`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 4
	checkPool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(checkPool.Close)
	d := New(Config{Pool: pool, Publication: testPublication, Logger: testLogger(t),
		Authz: authz.New(authz.Config{Pool: checkPool, Logger: testLogger(t)})})
	t.Cleanup(d.Close)
	f := &fixture{d: d, pool: pool, marker: &recorder{}}
	startStream(t, url, f.d)
	f.subscribe(t, f.marker, Binding{Event: "INSERT", Schema: "public", Table: "marker", Viewer: serviceViewer})
	return f
}

var serviceViewer = &Viewer{Role: "service_role", Claims: map[string]any{"role": "service_role"}}

// viewer returns the viewer of a token of role with sub (none when "")
// and the extra claims.
func viewer(role, sub string, extra map[string]any) *Viewer {
	c := map[string]any{"role": role}
	if sub != "" {
		c["sub"] = sub
	}
	for k, v := range extra {
		c[k] = v
	}
	return &Viewer{Role: role, Claims: c}
}

// bind gives each binding the viewer v.
func bind(v *Viewer, bs ...Binding) []Binding {
	for i := range bs {
		bs[i].Viewer = v
	}
	return bs
}

// received is a decoded delivery with its record keys.
type received struct {
	Table, Type string
	Record      map[string]any
	OldRecord   map[string]any `json:"old_record"`
	Columns     []struct{ Name string }
}

func (r *recorder) received(t testing.TB) []received {
	t.Helper()
	var out []received
	for _, d := range r.deliveries(t) {
		var x received
		if err := json.Unmarshal(d.data, &x); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// selectAs returns which of ids table's rows role with claims sees, by
// asking Postgres directly (not through authz).
func selectAs(t testing.TB, pool *pgxpool.Pool, v *Viewer, table string, ids []int) map[int]bool {
	t.Helper()
	ctx := context.Background()
	claims, err := json.Marshal(v.Claims)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := v.Claims["sub"].(string)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
		set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true)`, v.Role, string(claims), sub); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT id FROM "+pgx.Identifier{table}.Sanitize()+" WHERE id = ANY($1)", ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int]bool, len(got))
	for _, id := range got {
		out[int(id)] = true
	}
	return out
}

func recordID(t testing.TB, m map[string]any) int {
	t.Helper()
	n, ok := m["id"].(float64)
	if !ok {
		t.Fatalf("record without a numeric id: %v", m)
	}
	return int(n)
}
