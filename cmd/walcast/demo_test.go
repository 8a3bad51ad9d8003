package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWithDemo: local mode serves the demo page at / and under /demo/, and
// everything else to the realtime API.
func TestWithDemo(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "api") })
	cfg := &serveConfig{jwtSecret: strings.Repeat("s", 32), dbURL: "postgres://local", log: slog.New(slog.DiscardHandler)}
	h := withDemo(api, cfg, nil)
	tests := []struct{ method, path, want string }{
		{"GET", "/", "<title>walcast demo</title>"},
		{"GET", "/demo/config.json", `"anonKey":"ey`},
		{"GET", "/demo/app.js", "postgres_changes"},
		{"GET", "/healthz", "api"},
		{"GET", "/realtime/v1/websocket", "api"},
		{"POST", "/api/broadcast", "api"},
		{"POST", "/", "api"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("%s %s: %d %.200q; want %q", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
		})
	}
}
