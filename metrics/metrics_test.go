package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/transport"
)

type fakeServer struct{ s transport.Stats }

func (f *fakeServer) Stats() transport.Stats { return f.s }

type fakeStream struct{ s replication.Stats }

func (f *fakeStream) Stats() replication.Stats { return f.s }

type fakeChanges struct{ s changes.Stats }

func (f *fakeChanges) Stats() changes.Stats { return f.s }

// fakeDB answers the slot query with fixed values, or an error.
type fakeDB struct {
	lag, retained *float64
	active        bool
	err           error
}

func (f *fakeDB) QueryRow(context.Context, string, ...any) pgx.Row { return f }
func (f *fakeDB) Scan(dest ...any) error {
	if f.err != nil {
		return f.err
	}
	*dest[0].(**float64), *dest[1].(**float64), *dest[2].(*bool) = f.lag, f.retained, f.active
	return nil
}

func ptr(f float64) *float64 { return &f }

// TestCollect: every sample follows its source from scrape to scrape.
func TestCollect(t *testing.T) {
	srv := &fakeServer{}
	stream := &fakeStream{}
	ch := &fakeChanges{}
	db := &fakeDB{err: errors.New("no slot")}
	m := New(Config{Server: srv, Stream: stream, Changes: ch, DB: db, Slot: "s"})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if body := scrape(); !strings.Contains(body, "walcast_replication_slot_scrape_ok 0") || strings.Contains(body, "walcast_replication_lag_bytes") {
		t.Fatalf("before the slot exists:\n%s", body)
	}

	srv.s = transport.Stats{Connections: 3, Accepted: 5, Rejected: 2, SlowConsumers: 1, Channels: 4, QueuedBytes: 1024,
		JoinsOK: 4, JoinsRefused: 1, RateLimited: 7, MessagesIn: map[string]uint64{"phx_join": 5, "other": 2}, BytesIn: 900}
	commit := time.Unix(1_800_000_000, 0)
	stream.s = replication.Stats{Streaming: true, Changes: 10, Transactions: 4, Reconnects: 1, LastCommit: commit, LastCommitDelay: 3 * time.Millisecond}
	ch.s = changes.Stats{Sinks: 2, Bindings: 3, Deliveries: 20, Oversized: 1}
	*db = fakeDB{lag: ptr(4096), retained: ptr(1 << 20), active: true}
	m.ObserveCommit(replication.Commit{}, 2*time.Millisecond)
	m.ObserveCommit(replication.Commit{}, 40*time.Millisecond)

	body := scrape()
	for _, want := range []string{
		"walcast_connections 3",
		"walcast_connections_accepted_total 5",
		"walcast_connections_refused_total 2",
		`walcast_connection_closes_total{reason="slow_consumer"} 1`,
		"walcast_channels 4",
		"walcast_queued_bytes 1024",
		`walcast_joins_total{result="ok"} 4`,
		`walcast_joins_total{result="refused"} 1`,
		"walcast_rate_limited_total 7",
		`walcast_messages_received_total{event="phx_join"} 5`,
		`walcast_messages_received_total{event="other"} 2`,
		"walcast_received_bytes_total 900",
		"walcast_replication_streaming 1",
		"walcast_replication_reconnects_total 1",
		"walcast_changes_decoded_total 10",
		"walcast_transactions_total 4",
		"walcast_replication_last_commit_timestamp_seconds 1.8e+09",
		"walcast_replication_commit_delay_seconds 0.003",
		"walcast_change_deliveries_total 20",
		"walcast_changes_oversized_total 1",
		"walcast_postgres_changes_channels 2",
		"walcast_postgres_changes_bindings 3",
		"walcast_replication_slot_scrape_ok 1",
		"walcast_replication_slot_active 1",
		"walcast_replication_lag_bytes 4096",
		"walcast_replication_slot_retained_bytes 1.048576e+06",
		"walcast_commit_to_dispatch_seconds_count 2",
		`walcast_commit_to_dispatch_seconds_bucket{le="0.002"} 1`,
		`walcast_commit_to_dispatch_seconds_bucket{le="0.064"} 2`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// TestLint checks names, help and units the Prometheus way.
func TestLint(t *testing.T) {
	m := New(Config{Server: &fakeServer{}, Stream: &fakeStream{s: replication.Stats{LastCommit: time.Now()}}, Changes: &fakeChanges{},
		DB: &fakeDB{lag: ptr(1), retained: ptr(1)}, Slot: "s"})
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "walcast_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
