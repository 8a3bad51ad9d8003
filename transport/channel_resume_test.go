package transport

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"
)

func resumeJoin(after string) string {
	return `{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"}],"postgres_changes_resume":{"after":"` + after + `"}}}`
}

// A join that resumes after a cursor gets its reply, the status, the kept
// changes after the cursor, then live ones, in that order.
func TestResumeAfterCursor(t *testing.T) {
	e := newEnv(t, Config{})
	e.fake.replay = func(after replication.Cursor) []string {
		return []string{`{"n":1,"after":"` + after.String() + `"}`, `{"n":2}`}
	}
	c := e.dial(t, phoenix.V2)
	const cursor = "00000000016B3A28-00000002"
	checkFrame(t, c.join("realtime:room", "1", resumeJoin(cursor)), "1", "1", "realtime:room", "phx_reply",
		`{"status":"ok","response":{"postgres_changes":[{"event":"*","schema":"public","table":"todos","id":101}],"postgres_changes_resume":{"after":"`+cursor+`"}}}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	checkFrame(t, c.next(), "null", "null", "realtime:room", "postgres_changes", `{"ids":[101],"data":{"n":1,"after":"`+cursor+`"}}`)
	checkFrame(t, c.next(), "null", "null", "realtime:room", "postgres_changes", `{"ids":[101],"data":{"n":2}}`)
	e.fake.deliver(`{"n":3}`, 101)
	checkFrame(t, c.next(), "null", "null", "realtime:room", "postgres_changes", `{"ids":[101],"data":{"n":3}}`)
}

// A resume the server cannot serve says so with a "gap" system message
// after the status; the subscription stays live.
func TestResumeGapMessage(t *testing.T) {
	for _, tc := range []struct{ name, cursor string }{
		{"outside the window", "0000000000000010-00000001"},
		{"unreadable cursor", "yesterday"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, phoenix.V2)
			c.join("realtime:room", "1", resumeJoin(tc.cursor))
			checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
			f := c.next()
			if f.Event != "system" || !strings.Contains(string(f.Payload), `"status":"gap"`) || !strings.Contains(string(f.Payload), `"extension":"postgres_changes"`) {
				t.Fatalf("after the status: %s, want a gap system message", f)
			}
			e.fake.deliver(`{"live":true}`, 101)
			checkFrame(t, c.next(), "null", "null", "realtime:room", "postgres_changes", `{"ids":[101],"data":{"live":true}}`)
		})
	}
}

// The replay waits for the socket: a backlog far bigger than the queue
// reaches a client that reads slowly without closing it as a slow consumer.
func TestResumeReplayIsPaced(t *testing.T) {
	e := newEnv(t, Config{QueueBytes: 64 << 10})
	big := strings.Repeat("x", 1000)
	const n = 2000 // ~2 MB against a 64 KiB queue
	e.fake.replay = func(replication.Cursor) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(`{"i":%d,"pad":%q}`, i, big)
		}
		return out
	}
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", resumeJoin("00000000016B3A28-00000002"))
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	for i := range n {
		f := c.next()
		if f.Event != "postgres_changes" || !strings.Contains(string(f.Payload), fmt.Sprintf(`{"i":%d,`, i)) {
			t.Fatalf("replayed message %d: %.80s", i, f)
		}
	}
}

// A binding the dispatcher drops (its filter ran over its time budget)
// reaches the client as a postgres_changes system error.
func TestBindingsDroppedReachTheClient(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", oneBinding)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	ch := findChannel(t, e, "realtime:room")
	ch.BindingsDropped([]uint64{101}, &changes.BudgetError{Schema: "public", Table: "todos", Budget: 10 * time.Millisecond})
	f := c.next()
	if f.Event != "system" || !strings.Contains(string(f.Payload), `"status":"error"`) || !strings.Contains(string(f.Payload), "took more than 10ms") {
		t.Errorf("after a dropped binding: %s, want a postgres_changes system error saying why", f)
	}
}
