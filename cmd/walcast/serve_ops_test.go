package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/internal/pgtest"
)

// metric returns the value of the sample named exactly sample (with its
// labels, as printed), or -1 when it is absent.
func metric(t *testing.T, body, sample string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// TestServeMetricsAndReadiness drives traffic through a real server and
// watches /metrics move, then stops Postgres and watches /readyz turn
// not-ready and ready again; /metrics and /readyz are on --admin-port.
func TestServeMetricsAndReadiness(t *testing.T) {
	url, conn := newDB(t, "CREATE TABLE t (id int PRIMARY KEY); "+grantToAnon("t"))
	const secret = "metrics-test-secret"
	p := startServe(t, t.TempDir(), "--database-url", url, "--jwt-secret", secret, "--slot", "metrics_test", "--admin-port", "0")
	if p.adminAddr == "" {
		t.Fatal("no admin_addr logged with --admin-port 0")
	}
	waitStatus(t, p.adminURL("/readyz"), http.StatusOK, time.Minute)
	if code, _ := get(t, p.url("/metrics")); code != http.StatusNotFound {
		t.Errorf("/metrics on the main port with --admin-port: %d, want 404", code)
	}
	if code, _ := get(t, p.url("/healthz")); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	_, before := get(t, p.adminURL("/metrics"))
	if metric(t, before, "walcast_connections") != 0 || metric(t, before, "walcast_replication_streaming") != 1 {
		t.Fatalf("metrics before traffic:\n%s", before)
	}

	// A refused handshake is counted and logged with its reason.
	if code, _ := get(t, p.url("/realtime/v1/websocket?vsn=1.0.0&apikey=not.a.jwt")); code != http.StatusUnauthorized {
		t.Errorf("bad apikey: %d, want 401", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := auth.Sign([]byte(secret), map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?vsn=1.0.0&apikey=%s", p.port, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(s string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"topic":"realtime:rows","event":"phx_join","ref":"1","join_ref":"1","payload":{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"t"}],"postgres_changes_options":{"wait":true}}}}`)
	send(`{"topic":"realtime:","event":"phx_join","ref":"2","join_ref":"2","payload":{}}`) // refused: no topic name
	waitEvent(t, ctx, ws, "phx_reply", 2)
	const rows = 3
	for i := 1; i <= rows; i++ {
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, ctx, ws, "postgres_changes", rows)

	wants := []struct {
		sample string
		min    float64
	}{
		{"walcast_connections", 1},
		{"walcast_channels", 1},
		{`walcast_joins_total{result="ok"}`, 1},
		{`walcast_joins_total{result="refused"}`, 1},
		{`walcast_messages_received_total{event="phx_join"}`, 2},
		{"walcast_connections_refused_total", 1},
		{"walcast_changes_decoded_total", rows},
		{"walcast_transactions_total", rows},
		{"walcast_change_deliveries_total", rows},
		{"walcast_commit_to_dispatch_seconds_count", rows},
		{"walcast_postgres_changes_bindings", 1},
		{"walcast_replication_slot_scrape_ok", 1},
		{"walcast_replication_slot_active", 1},
		{"walcast_replication_slot_retained_bytes", 0},
		{"walcast_received_bytes_total", 100},
	}
	// A commit is counted just after its changes are handed over, so the
	// client may have them a moment before the counters move: scrape
	// until they all have, or a generous while has passed.
	var short []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, after := get(t, p.adminURL("/metrics"))
		short = short[:0]
		for _, want := range wants {
			if got := metric(t, after, want.sample); got < want.min {
				short = append(short, fmt.Sprintf("%s = %v, want at least %v", want.sample, got, want.min))
			}
		}
		if len(short) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range short {
		t.Error(s)
	}
	for _, msg := range []string{"connection refused", "join refused"} {
		if rec := p.logged(msg); rec == nil || rec["reason"] == "" {
			t.Errorf("no %q log with a reason:\n%s", msg, p.logText())
		}
	}

	pgtest.Stop(t)
	body := waitStatus(t, p.adminURL("/readyz"), http.StatusServiceUnavailable, time.Minute)
	var res struct {
		Status  string
		Reasons map[string]string
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Reasons["database"] == "" {
		t.Errorf("/readyz while Postgres is down: %s (%v); want the database named", body, err)
	}
	_, down := get(t, p.adminURL("/metrics"))
	if metric(t, down, "walcast_replication_streaming") != 0 || metric(t, down, "walcast_replication_slot_scrape_ok") != 0 {
		t.Errorf("metrics while Postgres is down:\n%s", down)
	}
	pgtest.Start(t)
	waitStatus(t, p.adminURL("/readyz"), http.StatusOK, time.Minute)
}

// waitEvent reads until n messages of event arrived.
func waitEvent(t *testing.T, ctx context.Context, ws *websocket.Conn, event string, n int) {
	t.Helper()
	for seen := 0; seen < n; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %d %s (have %d): %v", n, event, seen, err)
		}
		var m struct{ Event string }
		if json.Unmarshal(data, &m) == nil && m.Event == event {
			seen++
		}
	}
}
