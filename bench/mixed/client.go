package mixed

import (
	"fmt"
	"strconv"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/pgchanges"
)

// Subscription v is channel "realtime:m<v>" with one INSERT binding on its
// table with its filter. A connection carries the channels of a range of
// values.
const topicPrefix = "realtime:m"

func joinFrame(v int, table, filter string) []byte {
	ref := strconv.Itoa(v)
	return fmt.Appendf(nil, `["%s","%s","%s%s","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":%q,"filter":%q}]}}]`,
		ref, ref, topicPrefix, ref, table, filter)
}

// spec is the subscriptions of case c: subs channels, perConn per
// connection, counting the rows of marker and their latency.
func spec(c tableCase, subs, perConn int, marker int64) pgchanges.Spec {
	return pgchanges.Spec{Topic: topicPrefix, Route: harness.SubKey, Marker: marker, Latency: true, PerConn: perConn, Parallel: 8,
		Join: func(v int) []byte { return joinFrame(v, c.tableOf(v), c.filterOf(v, subs)) }}
}
