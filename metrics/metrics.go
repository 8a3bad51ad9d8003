package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/replication"
	"github.com/walcast/walcast/transport"
)

// The sources a Collector reads; each is satisfied by the package's own
// type (and by fakes in tests). A nil source is left out.
type (
	ServerSource   interface{ Stats() transport.Stats }
	StreamSource   interface{ Stats() replication.Stats }
	ChangesSource  interface{ Stats() changes.Stats }
	DatabaseSource interface {
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
)

// Config names the sources.
type Config struct {
	Server  ServerSource
	Stream  StreamSource
	Changes ChangesSource
	// DB and Slot: the slot whose retained WAL and lag are reported.
	DB          DatabaseSource
	Slot        string
	SlotTimeout time.Duration // bound of the slot query per scrape (default 2 s)
}

// Metrics is a registry with walcast's collector, the Go runtime's and the
// process's.
type Metrics struct {
	reg    *prometheus.Registry
	commit prometheus.Histogram
}

// New registers the collectors.
func New(cfg Config) *Metrics {
	if cfg.SlotTimeout <= 0 {
		cfg.SlotTimeout = 2 * time.Second
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "walcast_commit_to_dispatch_seconds",
			Help: "Time from a transaction's commit in Postgres to its last change handed to the subscribed channels' queues.",
			// 0.5 ms to ~16 s.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	m.reg.MustRegister(newCollector(cfg), m.commit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit records a transaction handed over sinceCommit after its
// commit; it has the signature of replication.Config.OnCommit.
func (m *Metrics) ObserveCommit(_ replication.Commit, sinceCommit time.Duration) {
	m.commit.Observe(sinceCommit.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

// Registry is for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
