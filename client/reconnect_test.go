package client

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// statuses collects a channel's status changes.
func statuses(ch *Channel) chan Status {
	got := make(chan Status, 64)
	ch.OnStatus(func(st Status, _ error) { got <- st })
	return got
}

// waitStatus waits for st, skipping others.
func waitStatus(t *testing.T, got chan Status, st Status) {
	t.Helper()
	for recv(t, got, string(st)) != st {
	}
}

// TestReconnectAfterServerRestart: the server shuts down (close 1012) and
// a new one takes its place; the client reconnects, rejoins, asks to
// resume after its last cursor, reports a gap (this server does not
// resume), and receives changes and broadcasts again.
func TestReconnectAfterServerRestart(t *testing.T) {
	e := newEnv(t, true)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{})
	ch := c.Channel("todos", ChannelConfig{})
	changes := make(chan Change, 16)
	gaps := make(chan Gap, 4)
	ch.OnPostgresChanges(PostgresChangesFilter{Event: "INSERT", Table: "todos"}, func(chg Change) { changes <- chg })
	seq := make(chan string, 64) // gaps and statuses, in callback order
	ch.OnGap(func(g Gap) { gaps <- g; seq <- "gap" })
	ch.OnStatus(func(st Status, _ error) { seq <- string(st) })
	st := statuses(ch)
	subscribe(t, ch)
	waitStatus(t, st, StatusSubscribed)
	if got := resumeOf(t, p.joins("realtime:todos")[0]); got != "" {
		t.Errorf("first join resumes after %q, want no resume", got)
	}

	e.exec(`INSERT INTO todos VALUES (1, 'before', 'a')`)
	before := recv(t, changes, "the change before the restart")

	e.restart()
	waitStatus(t, st, StatusChannelError)
	waitStatus(t, st, StatusSubscribed)
	joins := p.joins("realtime:todos")
	if len(joins) < 2 {
		t.Fatalf("%d joins, want a rejoin", len(joins))
	}
	if got := resumeOf(t, joins[len(joins)-1]); got != before.Cursor {
		t.Errorf("rejoin resumes after %q, want the last cursor %q", got, before.Cursor)
	}
	g := recv(t, gaps, "the gap")
	if !g.Unsupported || g.After != before.Cursor {
		t.Errorf("gap = %+v, want Unsupported after %s", g, before.Cursor)
	}
	// The gap comes once the rejoin is complete, right before SUBSCRIBED.
	var order []string
	for subscribed := 0; subscribed < 2; {
		order = append(order, recv(t, seq, "callbacks"))
		if order[len(order)-1] == string(StatusSubscribed) {
			subscribed++
		}
	}
	if want := []string{"SUBSCRIBED", "CHANNEL_ERROR", "gap", "SUBSCRIBED"}; !slices.Equal(order, want) {
		t.Errorf("callbacks %v, want %v", order, want)
	}

	e.exec(`INSERT INTO todos VALUES (2, 'after', 'a')`)
	after := recv(t, changes, "the change after the restart")
	if !strings.Contains(string(after.Record), `"id":2`) || !cursorAfter(before.Cursor, after.Cursor) {
		t.Errorf("after the restart got %s (cursor %s), want id 2 after %s", after.Record, after.Cursor, before.Cursor)
	}

	// Broadcast works on the new connection, both ways.
	other := e.dial("", Options{})
	och := other.Channel("todos", ChannelConfig{})
	heard := make(chan Broadcast, 4)
	ch.OnBroadcast("hello", func(b Broadcast) { heard <- b })
	subscribe(t, och)
	awaitRoom(t, och, ch)
	if err := och.Send(testCtx(t), "hello", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if b := recv(t, heard, "hello"); string(b.Payload) != `{"n":1}` {
		t.Errorf("heard %+v", b)
	}
}

// TestHeartbeatTimeout: when heartbeat replies stop coming (a dead link),
// the client closes the connection by itself and reconnects.
func TestHeartbeatTimeout(t *testing.T) {
	e := newEnv(t, false)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{HeartbeatInterval: 100 * time.Millisecond})
	ch := c.Channel("room", ChannelConfig{})
	st := statuses(ch)
	subscribe(t, ch)
	waitStatus(t, st, StatusSubscribed)
	time.Sleep(350 * time.Millisecond) // replies come: no reconnect
	if n := p.dialCount(); n != 1 {
		t.Fatalf("%d connections while heartbeats were answered, want 1", n)
	}
	p.mu.Lock()
	p.dropHeartbeatReplies = true
	p.mu.Unlock()
	waitStatus(t, st, StatusChannelError)
	p.mu.Lock()
	p.dropHeartbeatReplies = false
	p.mu.Unlock()
	waitStatus(t, st, StatusSubscribed)
	if n := p.dialCount(); n < 2 {
		t.Errorf("%d connections, want a reconnect", n)
	}
}

// TestResumeExtension stands in for a server with resume: the proxy
// acknowledges the extension in join replies, repeats every change (as a
// resumed stream may), and sends a gap system message. The client delivers
// each change once, reports no gap for an acknowledged resume, and turns
// the gap message into an OnGap callback.
func TestResumeExtension(t *testing.T) {
	e := newEnv(t, true)
	p := newProxy(t, e.http.URL)
	joinRefs := map[string]bool{}
	p.rewrite = func(m phoenix.Message, v phoenix.Version) [][]byte {
		switch {
		case m.Event == "postgres_changes":
			f := phoenix.AppendText(nil, v, m)
			return [][]byte{f, f}
		case m.Event == "phx_reply" && m.Topic == "realtime:todos" && m.Ref == m.JoinRef && !joinRefs[m.Ref]:
			joinRefs[m.Ref] = true
			var r map[string]json.RawMessage
			if json.Unmarshal(m.Payload, &r) != nil {
				return nil
			}
			var resp map[string]json.RawMessage
			_ = json.Unmarshal(r["response"], &resp)
			resp[ResumeConfigKey] = json.RawMessage(`{"after":"echo"}`)
			r["response"], _ = json.Marshal(resp)
			m.Payload, _ = json.Marshal(r)
			return [][]byte{phoenix.AppendText(nil, v, m)}
		}
		return nil
	}
	c := e.dial(p.http.URL, Options{})
	ch := c.Channel("todos", ChannelConfig{})
	changes := make(chan Change, 16)
	gaps := make(chan Gap, 4)
	ch.OnPostgresChanges(PostgresChangesFilter{Table: "todos"}, func(chg Change) { changes <- chg })
	ch.OnGap(func(g Gap) { gaps <- g })
	st := statuses(ch)
	subscribe(t, ch)

	e.exec(`INSERT INTO todos VALUES (1, 'one', 'a')`)
	e.exec(`UPDATE todos SET title = 'uno' WHERE id = 1`)
	first := recv(t, changes, "the insert")
	second := recv(t, changes, "the update")
	if first.Type != "INSERT" || second.Type != "UPDATE" || !cursorAfter(first.Cursor, second.Cursor) {
		t.Errorf("got %s %s then %s %s", first.Type, first.Cursor, second.Type, second.Cursor)
	}
	none(t, changes, "a repeated change", 300*time.Millisecond)

	p.cut()
	waitStatus(t, st, StatusChannelError)
	waitStatus(t, st, StatusSubscribed)
	joins := p.joins("realtime:todos")
	if got := resumeOf(t, joins[len(joins)-1]); got != second.Cursor {
		t.Errorf("rejoin resumes after %q, want %q", got, second.Cursor)
	}
	none(t, gaps, "a gap after an acknowledged resume", 200*time.Millisecond)

	p.inject(phoenix.Message{Topic: "realtime:todos", Event: "system", Payload: json.RawMessage(
		`{"extension":"postgres_changes","status":"gap","message":"cursor outside the retention window","channel":"todos","after":"` +
			second.Cursor + `","oldest":"00000000FFFFFFFF-00000001"}`)})
	g := recv(t, gaps, "the gap")
	if g.Unsupported || g.After != second.Cursor || g.Oldest != "00000000FFFFFFFF-00000001" || g.Message != "cursor outside the retention window" {
		t.Errorf("gap = %+v", g)
	}
}
