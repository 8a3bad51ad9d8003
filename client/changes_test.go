package client

import (
	"encoding/json"
	"testing"
	"time"
)

// TestPostgresChanges: rows inserted with pgx reach the callbacks whose
// filter they satisfy, with their cursor, in commit order.
func TestPostgresChanges(t *testing.T) {
	e := newEnv(t, true)
	c := e.dial("", Options{})
	ch := c.Channel("todos", ChannelConfig{})
	inserts := make(chan Change, 16)
	deletes := make(chan Change, 16)
	ch.OnPostgresChanges(PostgresChangesFilter{Event: "INSERT", Table: "todos", Filter: "owner=eq.alice"}, func(chg Change) { inserts <- chg })
	ch.OnPostgresChanges(PostgresChangesFilter{Event: "DELETE", Schema: "public", Table: "todos"}, func(chg Change) { deletes <- chg })
	subscribe(t, ch)

	e.exec(`INSERT INTO todos VALUES (1, 'one', 'alice'), (2, 'two', 'bob'), (3, 'three', 'alice')`)
	e.exec(`DELETE FROM todos WHERE id = 2`)

	var last string
	for _, want := range []int{1, 3} {
		chg := recv(t, inserts, "an insert")
		var row struct {
			ID    int
			Title string
			Owner string
		}
		if err := json.Unmarshal(chg.Record, &row); err != nil {
			t.Fatal(err)
		}
		if chg.Type != "INSERT" || chg.Schema != "public" || chg.Table != "todos" || row.ID != want || row.Owner != "alice" {
			t.Errorf("insert = %+v (row %+v), want row %d of alice", chg, row, want)
		}
		if chg.OldRecord != nil || chg.Errors != nil || time.Since(chg.CommitTimestamp) > time.Minute {
			t.Errorf("insert %d: old_record %s, errors %v, commit %v", want, chg.OldRecord, chg.Errors, chg.CommitTimestamp)
		}
		if len(chg.Columns) != 3 || chg.Columns[0] != (Column{Name: "id", Type: "int4", PrimaryKey: true}) {
			t.Errorf("columns = %+v", chg.Columns)
		}
		if chg.Cursor == "" || !cursorAfter(last, chg.Cursor) {
			t.Errorf("cursor %q does not come after %q", chg.Cursor, last)
		}
		last = chg.Cursor
	}
	del := recv(t, deletes, "the delete")
	if del.Type != "DELETE" || string(del.OldRecord) != `{"id":2}` || del.Record != nil || !cursorAfter(last, del.Cursor) {
		t.Errorf("delete = %+v (old %s), want old {id:2} after %s", del, del.OldRecord, last)
	}
	none(t, inserts, "insert of bob", 300*time.Millisecond)
	if got := ch.Cursor(); got != del.Cursor {
		t.Errorf("Cursor() = %q, want the last change's %q", got, del.Cursor)
	}
}

// TestSubscribeRefused: a filter the server cannot subscribe (an unknown
// column) fails Subscribe with the server's reason and closes the channel.
func TestSubscribeRefused(t *testing.T) {
	e := newEnv(t, true)
	c := e.dial("", Options{})
	ch := c.Channel("todos", ChannelConfig{})
	ch.OnPostgresChanges(PostgresChangesFilter{Table: "todos", Filter: "nope=eq.1"}, func(Change) {})
	err := ch.Subscribe(testCtx(t))
	var re *ReplyError
	if !errorsAs(err, &re) || re.Op != "postgres_changes" {
		t.Fatalf("Subscribe = %v, want a postgres_changes *ReplyError", err)
	}
	if err := ch.Send(testCtx(t), "x", 1); err != ErrChannelClosed {
		t.Errorf("Send after a refused Subscribe = %v, want ErrChannelClosed", err)
	}
	if again := c.Channel("todos", ChannelConfig{}); again == ch {
		t.Error("Channel returned the closed channel again")
	}
}
