package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check reports why a dependency is not ready, or nil.
type Check func(ctx context.Context) error

// Readiness runs its checks on every request, each bounded by Timeout.
type Readiness struct {
	Timeout time.Duration // per request, for all checks together (default 2 s)
	checks  []named
}

type named struct {
	name  string
	check Check
}

// Add registers a check under a name that appears in the reasons.
func (r *Readiness) Add(name string, c Check) { r.checks = append(r.checks, named{name, c}) }

// Result is the answer's body.
type Result struct {
	Status  string            `json:"status"` // "ready" or "not ready"
	Reasons map[string]string `json:"reasons,omitempty"`
}

// Run runs the checks concurrently and returns their result.
func (r *Readiness) Run(ctx context.Context) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i, c := range r.checks {
		wg.Go(func() { errs[i] = c.check(ctx) })
	}
	wg.Wait()
	res := Result{Status: "ready"}
	for i, err := range errs {
		if err != nil {
			if res.Reasons == nil {
				res.Reasons = make(map[string]string)
			}
			res.Status = "not ready"
			res.Reasons[r.checks[i].name] = err.Error()
		}
	}
	return res
}

// ServeHTTP answers 200 {"status":"ready"} or 503 {"status":"not ready",
// "reasons":{name: reason}}.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	res := r.Run(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}
