package main

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/demo"
	"github.com/walcast/walcast/replication"
)

// setupDemo creates the demo table of local mode and makes sure it is
// published when --tables names other tables (the default publishes all).
func setupDemo(ctx context.Context, cfg *serveConfig, pool *pgxpool.Pool) error {
	if err := demo.CreateTable(ctx, pool); err != nil {
		return err
	}
	if len(cfg.stream.Tables) > 0 {
		cfg.stream.Tables = append(cfg.stream.Tables, replication.TableSpec{Schema: demo.Schema, Table: demo.Table})
	}
	return nil
}

// withDemo serves the demo page at / and under /demo/, in front of the
// realtime API, handing the page the local mode's anon key.
func withDemo(api http.Handler, cfg *serveConfig, pool *pgxpool.Pool) http.Handler {
	anon, err := localAnonKey(cfg)
	if err != nil {
		cfg.log.Error("demo page: sign anon key", "error", err)
	}
	page := demo.Handler(demo.Config{AnonKey: anon, DatabaseURL: cfg.dbURL, DB: pool, Logger: cfg.log})
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("GET /{$}", page)
	mux.Handle("/demo/", page)
	return mux
}
