package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthCmd asks a running server whether it is up (/healthz) or ready
// (/readyz) and exits 0 or 1: a container healthcheck for images without
// curl.
func healthCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("health", getenv, stderr)
	url := f.String("url", "http://127.0.0.1:4000/healthz", "the endpoint to check (/healthz: up, /readyz: replication live and database reachable)")
	timeout := f.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	logger := f.logFlags("warn")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := logger(stderr); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageErrorf("health: --url %q: %v", *url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", *url, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return nil
}
