package filters

import (
	"strconv"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/pgchanges"
)

// The filters workload's subscriptions: channel "realtime:s<v>" with one
// INSERT binding on public.t filtered by sub=eq.<v>. A connection carries
// the channels of a range of values.
const filterTopicPrefix = "realtime:s"

func filterJoinFrame(v int) []byte {
	ref := strconv.Itoa(v)
	return []byte(`["` + ref + `","` + ref + `","` + filterTopicPrefix + ref + `","phx_join",{"config":{"postgres_changes":[` +
		`{"event":"INSERT","schema":"public","table":"t","filter":"sub=eq.` + ref + `"}]}}]`)
}

// filterSpec is the channels of a measurement: perConn per connection,
// counting the rows of marker and their ids (to find duplicates).
func filterSpec(perConn int, marker int64) pgchanges.Spec {
	return pgchanges.Spec{Topic: filterTopicPrefix, Join: filterJoinFrame, Route: harness.SubKey, Marker: marker, IDs: true,
		PerConn: perConn, Parallel: 32}
}
