package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/walcast/walcast/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestCreateTable: the first call creates the table with its three rows
// and full replica identity; a second call leaves the table and its rows
// as they are.
func TestCreateTable(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	if err := CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "DELETE FROM public.demo_items WHERE name = 'pear'"); err != nil {
		t.Fatal(err)
	}
	if err := CreateTable(ctx, db); err != nil {
		t.Fatalf("second call: %v", err)
	}
	var names string
	var identity string
	err := db.QueryRow(ctx, `SELECT string_agg(name, ',' ORDER BY id), (SELECT relreplident::text FROM pg_class WHERE oid = 'public.demo_items'::regclass)
		FROM public.demo_items`).Scan(&names, &identity)
	if err != nil {
		t.Fatal(err)
	}
	if names != "apple,plum" || identity != "f" {
		t.Errorf("rows %q, replica identity %q; want apple,plum (pear deleted, not seeded again) and f (full)", names, identity)
	}
}

// TestHandler: the page, its assets, config and rows, and what is not
// served.
func TestHandler(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	if err := CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO public.demo_items (name, qty) VALUES ('kiwi', 5)"); err != nil {
		t.Fatal(err)
	}
	h := Handler(Config{AnonKey: "the-anon-key", DatabaseURL: "postgres://db", DB: db})
	tests := []struct {
		method, path string
		code         int
		ctype        string
		body         string // a part of the body
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/demo/app.js">`},
		{"GET", "/demo/app.js", 200, "text/javascript", "postgres_changes"},
		{"GET", "/demo/app.css", 200, "text/css", "#messages"},
		{"GET", "/demo/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/demo/config.json", 200, "application/json", `{"anonKey":"the-anon-key","databaseUrl":"postgres://db","schema":"public","table":"demo_items"}`},
		{"GET", "/demo/rows.json", 200, "application/json", `"name":"kiwi","qty":5`},
		{"GET", "/demo/nope.js", 404, "", ""},
		{"GET", "/index.html", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"GET", "/realtime/v1/websocket", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body does not contain %q:\n%.400s", tc.body, rec.Body)
			}
			if rec.Header().Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
}

// TestRows: rows.json is the table newest first, in the shape of a
// postgres_changes record, at most MaxRows.
func TestRows(t *testing.T) {
	db := connect(t)
	ctx := context.Background()
	if err := CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO public.demo_items (name, qty) SELECT 'n' || i, i FROM generate_series(1, $1) i", MaxRows); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	Handler(Config{DB: db}).ServeHTTP(rec, httptest.NewRequest("GET", "/demo/rows.json", nil))
	var rows []struct {
		ID        int64     `json:"id"`
		Name      string    `json:"name"`
		Qty       int       `json:"qty"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil {
		t.Fatalf("rows.json: %v: %s", err, rec.Body)
	}
	if len(rows) != MaxRows {
		t.Fatalf("%d rows, want %d", len(rows), MaxRows)
	}
	first, last := rows[0], rows[len(rows)-1]
	if first.ID != MaxRows+3 || first.Name != "n200" || first.Qty != 200 || first.UpdatedAt.IsZero() || last.ID != 4 {
		t.Errorf("first %+v, last %+v; want ids %d down to 4", first, last, MaxRows+3)
	}
}

// TestRowsError: without the table, rows.json is a 503 that says what
// failed, and the failure is logged.
func TestRowsError(t *testing.T) {
	db := connect(t)
	var log bytes.Buffer
	rec := httptest.NewRecorder()
	Handler(Config{DB: db, Logger: slog.New(slog.NewTextHandler(&log, nil))}).ServeHTTP(rec, httptest.NewRequest("GET", "/demo/rows.json", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cannot read public.demo_items") {
		t.Errorf("status %d, body %s; want 503 naming the table", rec.Code, rec.Body)
	}
	if !strings.Contains(log.String(), "demo_items") {
		t.Errorf("log %q does not report the failure", log.String())
	}
}
