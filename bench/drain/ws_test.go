package drain

import (
	"fmt"
	"strings"
	"testing"
)

func drainChangeFrame(id int64) []byte {
	return fmt.Appendf(nil, `[null,null,"realtime:drain","postgres_changes",{"ids":[7],"data":{"schema":"public","table":"items","type":"INSERT",`+
		`"commit_timestamp":"2026-01-01T00:00:00.000Z","columns":[{"name":"id","type":"int8","primary_key":true}],"record":{"id":%d,"meta":{"id":1}},"errors":null}}]`, id)
}

func TestRowSubscriberCounts(t *testing.T) {
	s := &rowSubscriber{firstID: 10, joined: make(chan struct{})}
	s.handle([]byte(`["1","1","realtime:drain","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":7}]}}]`), 1)
	if !isClosed(s.joined) || s.joinErr != nil {
		t.Fatalf("join reply not taken: closed %v, err %v", isClosed(s.joined), s.joinErr)
	}
	for id := int64(10); id < 13; id++ {
		s.handle(drainChangeFrame(id), id)
	}
	s.handle([]byte(`[null,"h","phoenix","phx_reply",{"status":"ok","response":{}}]`), 20)
	if err := s.check(3); err != nil {
		t.Fatal(err)
	}
	if s.lastAt.Load() != 12 {
		t.Errorf("last arrival %d, want 12", s.lastAt.Load())
	}
	if err := s.check(4); err == nil || !strings.Contains(err.Error(), "3 of 4") {
		t.Errorf("check(4) = %v, want a missing row", err)
	}
}

func TestRowSubscriberGap(t *testing.T) {
	s := &rowSubscriber{firstID: 1, joined: make(chan struct{})}
	for _, id := range []int64{1, 3, 4} {
		s.handle(drainChangeFrame(id), 1)
	}
	if err := s.check(3); err == nil || !strings.Contains(err.Error(), "row 2 has id 3, want 2") {
		t.Errorf("check = %v, want the gap at row 2", err)
	}
}

func TestRowSubscriberJoinRefused(t *testing.T) {
	s := &rowSubscriber{joined: make(chan struct{})}
	s.handle([]byte(`["1","1","realtime:drain","phx_reply",{"status":"error","response":{"reason":"no"}}]`), 1)
	if !isClosed(s.joined) || s.joinErr == nil {
		t.Fatalf("refused join not reported: closed %v, err %v", isClosed(s.joined), s.joinErr)
	}
}
