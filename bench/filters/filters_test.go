package filters

import (
	"fmt"
	"testing"

	"github.com/walcast/walcast/bench/stats"
)

func TestBurstRowsFor(t *testing.T) {
	for _, c := range []struct{ subs, hot, rows int }{{1, 1, 100}, {1000, 1, 100_000}, {1000, 1000, 100_000}, {100_000, 100, 20_000}, {7, 3, 100}} {
		total := 0
		for v := range c.subs {
			n := burstRowsFor(v, c.hot, c.rows)
			if v >= c.hot && n != 0 {
				t.Errorf("subs %d, hot %d: value %d, which no row carries, expects %d rows", c.subs, c.hot, v, n)
			}
			total += n
		}
		if total != c.rows {
			t.Errorf("subs %d, hot %d, rows %d: shares add up to %d", c.subs, c.hot, c.rows, total)
		}
	}
}

// changeFrame is a postgres_changes frame of topic for a row of t.
func changeFrame(topic string, id, k, sub int) []byte {
	return fmt.Appendf(nil, `[null,null,%q,"postgres_changes",{"ids":[1],"data":{"schema":"public","table":"t","type":"INSERT",`+
		`"columns":[{"name":"id","type":"int8"},{"name":"k","type":"int4"},{"name":"sub","type":"int4"}],`+
		`"record":{"id":%d,"k":%d,"sub":%d,"sent_at":"2024-05-06 01:38:09.123456+00","payload":"x"},"errors":null}}]`, topic, id, k, sub)
}

func TestFilterConnChecks(t *testing.T) {
	c := &filterConn{marker: 3, lo: 100, hi: 200, counts: make([]int32, 100)}
	c.handle(changeFrame(filterTopicPrefix+"150", 1, 3, 150), 0)
	c.handle(changeFrame(filterTopicPrefix+"150", 2, 3, 151), 0) // row of another channel
	c.handle(changeFrame(filterTopicPrefix+"151", 3, 3, 151), 0)
	c.handle(changeFrame(filterTopicPrefix+"151", 3, 3, 151), 0) // the same row again
	if got, mis, dup := c.recv.Load(), c.misrouted.Load(), stats.Duplicates(c.ids); got != 3 || mis != 1 || dup != 1 {
		t.Errorf("received %d, misrouted %d, duplicates %d; want 3, 1, 1", got, mis, dup)
	}
	if c.counts[50] != 1 || c.counts[51] != 2 {
		t.Errorf("counts of channels 150, 151 = %d, %d; want 1, 2", c.counts[50], c.counts[51])
	}
}
