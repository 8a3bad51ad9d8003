package client

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walcast/walcast/changes"
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

// TestReconnectAfterServerRestart: the server shuts down (close 1012),
// rows are committed while it is away, and a new one takes its place. The
// client reconnects, rejoins asking to resume after its last cursor, and
// then either gets the rows it missed exactly once (a server that resumes)
// or reports a gap after that cursor (one that does not, or no longer has
// them); it receives changes and broadcasts again either way.
func TestReconnectAfterServerRestart(t *testing.T) {
	e := newEnv(t, true)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{})
	ch := c.Channel("todos", ChannelConfig{})
	rows := make(chan Change, 16)
	gaps := make(chan Gap, 4)
	ch.OnPostgresChanges(PostgresChangesFilter{Event: "INSERT", Table: "todos"}, func(chg Change) { rows <- chg })
	seq := make(chan string, 64) // gaps and statuses, in callback order
	ch.OnGap(func(g Gap) { gaps <- g; seq <- "gap" })
	ch.OnStatus(func(st Status, _ error) { seq <- string(st) })
	subscribe(t, ch)
	if got := resumeOf(t, p.joins("realtime:todos")[0]); got != "" {
		t.Errorf("first join resumes after %q, want no resume", got)
	}

	e.exec(`INSERT INTO todos VALUES (1, 'before', 'a')`)
	before := recv(t, rows, "the change before the restart")

	// A sink of the dispatcher's own tells when the rows committed during
	// the outage have gone by, so that the client's rejoin comes after
	// them.
	var passed countSink
	if _, err := e.d.Subscribe(testCtx(t), &passed, []changes.Binding{{Event: "INSERT", Schema: "public", Table: "todos"}}); err != nil {
		t.Fatal(err)
	}
	defer e.d.Unsubscribe(&passed)
	e.stop()
	e.exec(`INSERT INTO todos VALUES (2, 'during', 'a')`)
	e.exec(`INSERT INTO todos VALUES (3, 'during', 'a')`)
	for deadline := time.Now().Add(15 * time.Second); passed.n.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rows committed during the outage never went by")
		}
	}
	e.startServer()
	// Callbacks until the rejoin's SUBSCRIBED: a gap comes right before it.
	var order []string
	for subscribed := 0; subscribed < 2; {
		order = append(order, recv(t, seq, "callbacks"))
		if order[len(order)-1] == string(StatusSubscribed) {
			subscribed++
		}
	}
	joins := p.joins("realtime:todos")
	if got := resumeOf(t, joins[len(joins)-1]); len(joins) < 2 || got != before.Cursor {
		t.Errorf("%d joins, the last resumes after %q, want a rejoin after the last cursor %q", len(joins), got, before.Cursor)
	}
	gapped := slices.Equal(order, []string{"SUBSCRIBED", "CHANNEL_ERROR", "gap", "SUBSCRIBED"})
	if !gapped && !slices.Equal(order, []string{"SUBSCRIBED", "CHANNEL_ERROR", "SUBSCRIBED"}) {
		t.Fatalf("callbacks %v, want SUBSCRIBED, CHANNEL_ERROR, [gap,] SUBSCRIBED", order)
	}
	if gapped {
		if g := recv(t, gaps, "the gap"); g.After != before.Cursor {
			t.Errorf("gap = %+v, want one after %s", g, before.Cursor)
		}
	}

	e.exec(`INSERT INTO todos VALUES (4, 'after', 'a')`)
	var ids []int
	last := before.Cursor
	for len(ids) == 0 || ids[len(ids)-1] != 4 {
		chg := recv(t, rows, "the change after the restart")
		var row struct{ ID int }
		if err := json.Unmarshal(chg.Record, &row); err != nil {
			t.Fatal(err)
		}
		if !cursorAfter(last, chg.Cursor) {
			t.Errorf("row %d: cursor %s does not come after %s", row.ID, chg.Cursor, last)
		}
		ids, last = append(ids, row.ID), chg.Cursor
	}
	switch {
	case !gapped && !slices.Equal(ids, []int{2, 3, 4}):
		t.Errorf("after a resume without a gap got rows %v, want [2 3 4]", ids)
	case gapped && !slices.Equal(ids, []int{4}):
		t.Errorf("after a gap got rows %v, want [4]", ids)
	}
	t.Logf("rows after the restart: %v (gap: %v)", ids, gapped)

	// Broadcast works on the new connection.
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
	c := e.dial(p.http.URL, Options{HeartbeatInterval: 300 * time.Millisecond})
	ch := c.Channel("room", ChannelConfig{})
	st := statuses(ch)
	subscribe(t, ch)
	waitStatus(t, st, StatusSubscribed)
	time.Sleep(time.Second) // replies come: no reconnect
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

// countSink counts the changes a dispatcher hands it.
type countSink struct{ n atomic.Int32 }

func (s *countSink) DeliverChange([]uint64, []byte) { s.n.Add(1) }

// TestResumeAfterStoredCursor: a channel created with a cursor the app
// kept (here one older than anything the server holds) asks to resume
// after it on its first join, and reports the gap once subscribed: from a
// server that resumes, its gap message (with the oldest cursor it holds);
// from one that does not, a gap marked Unsupported.
func TestResumeAfterStoredCursor(t *testing.T) {
	e := newEnv(t, true)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{})
	const stored = "0000000000000001-00000001"
	ch := c.Channel("todos", ChannelConfig{ResumeAfter: stored})
	rows := make(chan Change, 4)
	gaps := make(chan Gap, 4)
	ch.OnPostgresChanges(PostgresChangesFilter{Table: "todos"}, func(chg Change) { rows <- chg })
	ch.OnGap(func(g Gap) { gaps <- g })
	subscribe(t, ch)
	if got := resumeOf(t, p.joins("realtime:todos")[0]); got != stored {
		t.Errorf("first join resumes after %q, want %q", got, stored)
	}
	g := recv(t, gaps, "the gap")
	if g.After != stored || g.Message == "" || (!g.Unsupported && g.Oldest == "") {
		t.Errorf("gap = %+v, want one after %s with a message (and the oldest cursor from a server that resumes)", g, stored)
	}
	t.Logf("gap: %+v", g)
	if got := ch.Cursor(); got != stored {
		t.Errorf("Cursor() before any change = %q, want the stored %q", got, stored)
	}
	e.exec(`INSERT INTO todos VALUES (1, 'one', 'a')`)
	if chg := recv(t, rows, "a live change"); !cursorAfter(stored, chg.Cursor) {
		t.Errorf("live change cursor %s", chg.Cursor)
	}
}
