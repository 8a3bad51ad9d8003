package latency

import (
	"fmt"
	"testing"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// changeFrame is a postgres_changes frame of topic for a row of t.
func changeFrame(topic string, id, k, sub int) []byte {
	return fmt.Appendf(nil, `[null,null,%q,"postgres_changes",{"ids":[1],"data":{"schema":"public","table":"t","type":"INSERT",`+
		`"columns":[{"name":"id","type":"int8"},{"name":"k","type":"int4"},{"name":"sub","type":"int4"}],`+
		`"record":{"id":%d,"k":%d,"sub":%d,"sent_at":"2024-05-06 01:38:09.123456+00","payload":"x"},"errors":null}}]`, topic, id, k, sub)
}

// TestFilteredClientChecks feeds an eq-filtered receiver its own, another
// subscriber's, another run's and a repeated row.
func TestFilteredClientChecks(t *testing.T) {
	c := &wsClient{marker: 3, filtered: true, sub: 2}
	c.handle(changeFrame(harness.BenchTopic, 7, 3, 2), 0)
	c.handle(changeFrame(harness.BenchTopic, 7, 3, 2), 0) // the same row again
	c.handle(changeFrame(harness.BenchTopic, 8, 3, 5), 0) // another subscriber's row
	c.handle(changeFrame(harness.BenchTopic, 9, 4, 2), 0) // another run's row
	if got, mis, dup := c.Recv.Load(), c.misrouted.Load(), stats.Duplicates(c.ids); got != 2 || mis != 1 || dup != 1 {
		t.Errorf("received %d, misrouted %d, duplicates %d; want 2, 1, 1", got, mis, dup)
	}
}
