package metrics

import (
	"context"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	// transport
	dConnections = desc("walcast_connections", "Open WebSocket connections.")
	dAccepted    = desc("walcast_connections_accepted_total", "WebSocket upgrades completed.")
	dRefused     = desc("walcast_connections_refused_total", "WebSocket handshakes refused (apikey, vsn, shutting down).")
	dCloses      = desc("walcast_connection_closes_total", "Connections closed by the server, by reason.", "reason")
	dChannels    = desc("walcast_channels", "Joined channels.")
	dJoins       = desc("walcast_joins_total", "phx_join requests by result.", "result")
	dMessagesIn  = desc("walcast_messages_received_total", "Decoded inbound messages by event.", "event")
	dBytesIn     = desc("walcast_received_bytes_total", "Bytes of inbound WebSocket frames.")
	dRowChecked  = desc("walcast_row_checks_total", "postgres_changes deliveries checked against row-level security.")
	dRowDenied   = desc("walcast_row_checks_denied_total", "Deliveries withheld by row-level security (or by a failed check).")
	dRowQueries  = desc("walcast_row_check_queries_total", "Queries the row checks ran (one per claims group, table and round).")
	dRowFailures = desc("walcast_row_check_failures_total", "Claims groups whose row check failed (they got nothing of that round).")
	dMessagesOut = desc("walcast_messages_sent_total", "Messages handed to the WebSockets' writers (replies, changes, broadcasts, presence, system messages).")
	dBytesOut    = desc("walcast_sent_bytes_total", "Payload bytes of the messages handed to the WebSockets' writers.")
	dMalformed   = desc("walcast_malformed_frames_total", "Inbound frames that did not decode (dropped).")
	dQueued      = desc("walcast_queued_bytes", "Outbound bytes queued for all connections.")
	dRateLimited = desc("walcast_rate_limited_total", "Joins, pushes and REST messages refused by a rate limit.")
	// replication
	dStreaming     = desc("walcast_replication_streaming", "1 while the replication connection streams, else 0.")
	dReconnects    = desc("walcast_replication_reconnects_total", "Replication connections lost and retried.")
	dDecoded       = desc("walcast_changes_decoded_total", "Row changes decoded from the WAL and handed to the dispatcher.")
	dTransactions  = desc("walcast_transactions_total", "Committed transactions with changes handed over.")
	dLastCommit    = desc("walcast_replication_last_commit_timestamp_seconds", "Commit time of the last transaction handed over (Unix seconds).")
	dCommitDelay   = desc("walcast_replication_commit_delay_seconds", "How long after its commit the last transaction was handed over.")
	dLagBytes      = desc("walcast_replication_lag_bytes", "WAL written since the slot's confirmed position: what this node has not acknowledged.")
	dRetainedBytes = desc("walcast_replication_slot_retained_bytes", "WAL the slot keeps on the server's disk (since its restart_lsn).")
	dSlotActive    = desc("walcast_replication_slot_active", "1 when a walsender holds the slot, else 0.")
	dSlotScrapeOK  = desc("walcast_replication_slot_scrape_ok", "1 when the slot could be read from pg_replication_slots on this scrape, else 0.")
	// changes
	dDeliveries     = desc("walcast_change_deliveries_total", "Changes handed to a channel (one per matching channel).")
	dOversized      = desc("walcast_changes_oversized_total", "Changes over the record size limit, sent without their large values.")
	dChangeChannels = desc("walcast_postgres_changes_channels", "Channels with postgres_changes bindings.")
	dBindings       = desc("walcast_postgres_changes_bindings", "Registered postgres_changes bindings.")
)

// collector reads the sources' Stats on every scrape.
type collector struct{ cfg Config }

func newCollector(cfg Config) *collector { return &collector{cfg: cfg} }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.cfg.Server != nil {
		s := c.cfg.Server.Stats()
		gauge(ch, dConnections, float64(s.Connections))
		counter(ch, dAccepted, s.Accepted)
		counter(ch, dRefused, s.Rejected)
		counter(ch, dCloses, s.SlowConsumers, "slow_consumer")
		counter(ch, dCloses, s.IdleTimeouts, "idle_timeout")
		counter(ch, dCloses, s.DeadLinks, "dead_link")
		counter(ch, dCloses, s.Shed, "overloaded")
		gauge(ch, dChannels, float64(s.Channels))
		counter(ch, dJoins, s.JoinsOK, "ok")
		counter(ch, dJoins, s.JoinsRefused, "refused")
		for _, event := range slices.Sorted(maps.Keys(s.MessagesIn)) {
			counter(ch, dMessagesIn, s.MessagesIn[event], event)
		}
		counter(ch, dBytesIn, s.BytesIn)
		counter(ch, dMessagesOut, s.MessagesOut)
		counter(ch, dBytesOut, s.BytesOut)
		counter(ch, dMalformed, s.Malformed)
		gauge(ch, dQueued, float64(s.QueuedBytes))
		counter(ch, dRateLimited, s.RateLimited)
	}
	if c.cfg.Stream != nil {
		s := c.cfg.Stream.Stats()
		gauge(ch, dStreaming, b2f(s.Streaming))
		counter(ch, dReconnects, s.Reconnects)
		counter(ch, dDecoded, s.Changes)
		counter(ch, dTransactions, s.Transactions)
		if !s.LastCommit.IsZero() {
			gauge(ch, dLastCommit, float64(s.LastCommit.UnixNano())/1e9)
			gauge(ch, dCommitDelay, s.LastCommitDelay.Seconds())
		}
	}
	if c.cfg.Changes != nil {
		s := c.cfg.Changes.Stats()
		counter(ch, dDeliveries, s.Deliveries)
		counter(ch, dOversized, s.Oversized)
		gauge(ch, dChangeChannels, float64(s.Sinks))
		gauge(ch, dBindings, float64(s.Bindings))
		counter(ch, dRowChecked, s.RowChecked)
		counter(ch, dRowDenied, s.RowDenied)
		counter(ch, dRowQueries, s.RowQueries)
		counter(ch, dRowFailures, s.RowCheckFailures)
	}
	if c.cfg.DB != nil && c.cfg.Slot != "" {
		c.collectSlot(ch)
	}
}

// slotQuery reads the slot's position against the server's current one.
// Both differences are NULL for a slot that was invalidated.
const slotQuery = `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8,
       active
  FROM pg_replication_slots WHERE slot_name = $1`

func (c *collector) collectSlot(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.SlotTimeout)
	defer cancel()
	var lag, retained *float64
	var active bool
	err := c.cfg.DB.QueryRow(ctx, slotQuery, c.cfg.Slot).Scan(&lag, &retained, &active)
	gauge(ch, dSlotScrapeOK, b2f(err == nil))
	if err != nil {
		return // no slot yet, or the database is away: /readyz says which
	}
	gauge(ch, dSlotActive, b2f(active))
	if lag != nil {
		gauge(ch, dLagBytes, *lag)
	}
	if retained != nil {
		gauge(ch, dRetainedBytes, *retained)
	}
}
