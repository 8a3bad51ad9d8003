package demo

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// Schema and Table name the demo table.
const (
	Schema = "public"
	Table  = "demo_items"
)

// MaxRows bounds /demo/rows.json: the page loads at most this many rows,
// newest first, then follows changes.
const MaxRows = 200

//go:embed static
var static embed.FS

// Querier runs the query behind /demo/rows.json; a *pgxpool.Pool is one.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Config is what the page gets from the server.
type Config struct {
	// AnonKey is the apikey the page connects with.
	AnonKey string
	// DatabaseURL, when set, is shown in the page's psql hint.
	DatabaseURL string
	// DB reads the rows the page starts from.
	DB Querier
	// Logger reports failed row reads; nil logs nothing.
	Logger *slog.Logger
}

// pageConfig is /demo/config.json.
type pageConfig struct {
	AnonKey     string `json:"anonKey"`
	DatabaseURL string `json:"databaseUrl,omitempty"`
	Schema      string `json:"schema"`
	Table       string `json:"table"`
}

// Handler serves the page at / and its assets, config and rows under
// /demo/. Any other path is not found: the caller routes only / and
// /demo/ here.
func Handler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	conf, err := json.Marshal(pageConfig{AnonKey: cfg.AnonKey, DatabaseURL: cfg.DatabaseURL, Schema: Schema, Table: Table})
	if err != nil {
		panic(err) // strings always marshal
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})
	mux.HandleFunc("GET /demo/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(conf)
	})
	mux.HandleFunc("GET /demo/rows.json", func(w http.ResponseWriter, r *http.Request) {
		serveRows(w, r, cfg)
	})
	mux.Handle("GET /demo/", http.StripPrefix("/demo/", http.FileServerFS(files)))
	return headers(mux)
}

// rowsQuery returns the newest MaxRows rows as one JSON array, in the
// shape postgres_changes records have (column names as keys).
const rowsQuery = `SELECT coalesce(json_agg(r ORDER BY r.id DESC), '[]')::text
FROM (SELECT id, name, qty, updated_at FROM public.demo_items ORDER BY id DESC LIMIT $1) r`

func serveRows(w http.ResponseWriter, r *http.Request, cfg Config) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var rows string
	if err := cfg.DB.QueryRow(ctx, rowsQuery, MaxRows).Scan(&rows); err != nil {
		cfg.Logger.Warn("demo: read demo_items", "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "cannot read public.demo_items: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(rows))
}

// headers keeps the page to its own origin and makes browsers revalidate
// the assets, which change whenever the bundle is rebuilt.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}
