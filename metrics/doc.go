// Package metrics exports walcast's counters in the Prometheus format with
// github.com/prometheus/client_golang.
//
// The counters themselves stay where they are counted (transport.Server,
// replication.Stream, changes.Dispatcher keep atomics behind their Stats
// methods); a Collector reads them through small interfaces on every
// scrape, so the hot paths pay nothing for metrics. The WAL a slot retains
// is asked of Postgres (pg_replication_slots) on the scrape, bounded by a
// timeout. The commit-to-dispatch histogram is observed by ObserveCommit,
// hooked to replication.Config.OnCommit. README.md lists every metric.
package metrics
