package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/health"
	"github.com/walcast/walcast/replication"
)

// routes puts /readyz and /metrics beside the transport's routes (which
// include /healthz), or on the admin listener's handler when there is one.
func routes(app, ready, metrics http.Handler, separateAdmin bool) (main, admin http.Handler) {
	mux := http.NewServeMux()
	mux.Handle("/", app)
	adminMux := mux
	if separateAdmin {
		adminMux = http.NewServeMux()
		adminMux.Handle("GET /healthz", app)
	}
	adminMux.Handle("GET /readyz", ready)
	adminMux.Handle("GET /metrics", metrics)
	return mux, adminMux
}

// readiness is ready while replication streams and the database answers.
func readiness(stream *replication.Stream, pool *pgxpool.Pool) *health.Readiness {
	r := new(health.Readiness)
	r.Add("replication", func(context.Context) error {
		if !stream.Stats().Streaming {
			return errors.New("replication is not streaming: see the server log for why")
		}
		return nil
	})
	r.Add("database", func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return errors.New("database unreachable: " + err.Error())
		}
		return nil
	})
	return r
}
