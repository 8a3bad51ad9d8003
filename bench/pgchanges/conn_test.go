package pgchanges

import (
	"fmt"
	"testing"
)

// changeFrame is a postgres_changes frame of topic for a row of t.
func changeFrame(topic string, id, k, sub int) []byte {
	return fmt.Appendf(nil, `[null,null,%q,"postgres_changes",{"ids":[1],"data":{"schema":"public","table":"t","type":"INSERT",`+
		`"columns":[{"name":"id","type":"int8"},{"name":"k","type":"int4"},{"name":"sub","type":"int4"}],`+
		`"record":{"id":%d,"k":%d,"sub":%d,"sent_at":"2024-05-06 01:38:09.123456+00","payload":"x"},"errors":null}}]`, topic, id, k, sub)
}

func TestNumberedChannelChecks(t *testing.T) {
	spec := eqSpec(100, 3)
	c := newConn(&spec, 100, 200)
	c.handle(changeFrame("realtime:s150", 1, 3, 150), 0)
	c.handle(changeFrame("realtime:s150", 2, 3, 151), 0) // row of another channel
	c.handle(changeFrame("realtime:s151", 3, 3, 151), 0)
	c.handle(changeFrame("realtime:s151", 3, 3, 151), 0) // the same row again
	c.handle(changeFrame("realtime:s152", 4, 2, 152), 0) // another marker: not counted
	c.handle(changeFrame("realtime:s250", 5, 3, 250), 0) // a channel of another connection
	got := tally([]*Conn{c}, func(v int) int { return map[int]int{150: 1, 151: 1}[v] })
	if got.Delivered != 3 || got.Misrouted != 2 || got.Duplicates != 1 {
		t.Errorf("delivered %d, misrouted %d, duplicates %d; want 3, 2, 1", got.Delivered, got.Misrouted, got.Duplicates)
	}
	if c.counts[50] != 1 || c.counts[51] != 2 || got.OffCount != 1 {
		t.Errorf("counts of channels 150, 151 = %d, %d, off their count %d; want 1, 2, 1", c.counts[50], c.counts[51], got.OffCount)
	}
}

func TestOneTopicChannel(t *testing.T) {
	spec := Spec{Topic: "realtime:user", OneTopic: true, Route: []byte(`"owner":`), Marker: 9, Latency: true}
	c := newConn(&spec, 3, 4)
	c.handle([]byte(`["1","1","realtime:user","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":1}]}}]`), 0)
	if c.readyClosed {
		t.Fatal("ready before the system message")
	}
	c.handle([]byte(`[null,null,"realtime:user","system",{"message":"Subscribed to PostgreSQL","status":"ok","extension":"postgres_changes","channel":"user"}]`), 0)
	if !c.readyClosed || c.joinErr != nil {
		t.Fatalf("not ready after the reply and system message: %v", c.joinErr)
	}
	row := func(k, owner int) []byte {
		return fmt.Appendf(nil, `[null,null,"realtime:user","postgres_changes",{"ids":[1],"data":{"schema":"public","table":"notes_rls","type":"INSERT","record":{"id":5,"k":%d,"owner":%d,"sent_ns":1000000,"payload":"x"}}}]`, k, owner)
	}
	c.handle(row(9, 3), 3_000_000)
	c.handle(row(8, 3), 4_000_000) // the warm-up: not counted
	c.handle(row(9, 4), 5_000_000) // another user's row
	if c.recv.Load() != 1 || c.misrouted.Load() != 1 || c.last != 3_000_000 || c.hist.Quantile(0.5) < 1900 || c.hist.Quantile(0.5) > 2100 {
		t.Errorf("recv %d misrouted %d last %d p50 %d µs; want 1, 1, 3000000, 2000", c.recv.Load(), c.misrouted.Load(), c.last, c.hist.Quantile(0.5))
	}
	refused := newConn(&spec, 1, 2)
	refused.handle([]byte(`["1","1","realtime:user","phx_reply",{"status":"error","response":{"reason":"Unauthorized"}}]`), 0)
	if !refused.readyClosed || refused.joinErr == nil {
		t.Error("a refused join is not reported")
	}
}
