package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestReadiness(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("replication is not streaming") }
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name       string
		checks     map[string]Check
		wantStatus int
		wantReason map[string]bool
	}{
		{"all pass", map[string]Check{"a": ok, "b": ok}, 200, nil},
		{"one fails", map[string]Check{"database": ok, "replication": down}, 503, map[string]bool{"replication": true}},
		{"one hangs", map[string]Check{"database": hang}, 503, map[string]bool{"database": true}},
		{"no checks", nil, 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Readiness{Timeout: 100 * time.Millisecond}
			for name, c := range tc.checks {
				r.Add(name, c)
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			var res Result
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Reasons) != len(tc.wantReason) {
				t.Fatalf("reasons %v, want %v", res.Reasons, tc.wantReason)
			}
			for name := range tc.wantReason {
				if res.Reasons[name] == "" {
					t.Errorf("no reason for %s in %v", name, res.Reasons)
				}
			}
		})
	}
}
