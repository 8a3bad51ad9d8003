package transport

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
	walsql "github.com/walcast/walcast/sql"
)

func TestHandleMessage(t *testing.T) {
	e := newEnv(t, Config{MaxPayloadBytes: 30})
	v1, v2 := listeners(t, e, room, false)
	priv := e.dial(t, phoenix.V2)
	priv.joinRoom(room, "6", false, false, true)
	cur := replication.Cursor{LSN: 0x16B3748, Ordinal: 2}
	content := []byte(`{"topic":"room1","event":"evt","payload":{"a":1},"private":false}`)
	msg := &replication.LogicalMessage{Transactional: true, Prefix: DBBroadcastPrefix, Content: content, Cursor: cur}
	if err := e.s.HandleMessage(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	// Content aliases the stream's buffer: what was published must not.
	copy(content, strings.Repeat("x", len(content)))
	want := `{"type":"broadcast","event":"evt","payload":{"a":1},"meta":{"id":"` + cur.String() + `"}}`
	expectFrames(t, "v1", v1.sync(), textBroadcast(phoenix.V1, room, want))
	expectFrames(t, "v2", v2.sync(), textBroadcast(phoenix.V2, room, want))

	for _, m := range []replication.LogicalMessage{
		{Prefix: "someone.else", Content: []byte(`{"topic":"room1","event":"e","payload":{}}`)},
		{Prefix: DBBroadcastPrefix, Content: []byte(`not json`)},
		{Prefix: DBBroadcastPrefix, Content: []byte(`{"event":"e","payload":{}}`)},
		{Prefix: DBBroadcastPrefix, Content: []byte(`{"topic":"room1","event":"e","payload":{"pad":"0123456789abcdefghijk"}}`)},
		{Prefix: DBBroadcastPrefix, Content: []byte("{\"topic\":\"room1\",\"event\":\"e\",\"payload\":{\"s\":\"\xc3\x28\xff\"}}")},
	} {
		if err := e.s.HandleMessage(context.Background(), &m); err != nil {
			t.Errorf("%s: %v", m.Content, err)
		}
	}
	m := replication.LogicalMessage{Prefix: DBBroadcastPrefix, Content: []byte(`{"topic":"room1","event":"p","payload":{},"private":true}`), Cursor: cur}
	e.s.HandleMessage(context.Background(), &m)
	expectFrames(t, "v2 after skipped messages", v2.sync())
	expectFrames(t, "private", priv.sync(), textBroadcast(phoenix.V2, room, `{"type":"broadcast","event":"p","payload":{},"meta":{"id":"`+cur.String()+`"}}`))
}

// TestDatabaseBroadcastEndToEnd: realtime.send and realtime.broadcast_changes
// in Postgres → replication stream → server → a WebSocket client; a
// rolled-back send is never delivered.
func TestDatabaseBroadcastEndToEnd(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := walsql.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	s := NewServer(Config{Verifier: auth.NewVerifier(testSecret), Logger: testLogger(t), PingInterval: -1})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	const pub = "walcast_dbmessage_test"
	d := changes.New(changes.Config{Pool: pool, Publication: pub, Logger: testLogger(t)})
	runStream(t, url, pub, replication.WithMessages(d, s))

	e := &testEnv{s: s, http: hs}
	c := e.dial(t, phoenix.V2)
	// realtime.send and broadcast_changes reach private channels by default, as in Supabase.
	c.joinRoom(room, "6", false, false, true)
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		f, err := c.read(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkFrame(t, f, "null", "null", room, "broadcast", "")
		var p map[string]any
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			t.Fatal(err)
		}
		// meta.id is the message's UUID, which the payload carries as "id" too.
		meta, _ := p["meta"].(map[string]any)
		payload, _ := p["payload"].(map[string]any)
		if id, _ := meta["id"].(string); len(id) != 36 || payload["id"] != id {
			t.Errorf("meta.id = %v, payload.id = %v in %s: want one UUID", p["meta"], payload["id"], f)
		}
		delete(p, "meta")
		delete(payload, "id")
		return p
	}

	exec(`BEGIN; SELECT realtime.send('{"n":"rolled back"}', 'evt', 'room1'); ROLLBACK`)
	exec(`SELECT realtime.send('{"n":1}', 'evt', 'room1')`)
	exec(`SELECT realtime.send('{"n":"public"}', 'evt', 'room1', false)`)
	exec(`SELECT realtime.send('{"n":"other room"}', 'evt', 'room2')`)
	exec(`SELECT realtime.send('{"n":2}', 'evt', 'room1')`)
	for _, n := range []float64{1, 2} {
		if p := next(); jsonString(p) != jsonString(map[string]any{"type": "broadcast", "event": "evt", "payload": map[string]any{"n": n}}) {
			t.Errorf("got %v, want payload n=%v", p, n)
		}
	}

	exec(`CREATE TABLE todos (id int PRIMARY KEY, title text)`)
	exec(`CREATE FUNCTION todos_broadcast() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			PERFORM realtime.broadcast_changes('room1', TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
			RETURN NULL;
		END $$`)
	exec(`CREATE TRIGGER todos_broadcast AFTER INSERT OR UPDATE OR DELETE ON todos FOR EACH ROW EXECUTE FUNCTION todos_broadcast()`)
	exec(`INSERT INTO todos VALUES (1, 'one')`)
	exec(`UPDATE todos SET title = 'uno'`)
	exec(`DELETE FROM todos`)
	for _, want := range []string{
		`{"event":"INSERT","payload":{"old_record":null,"operation":"INSERT","record":{"id":1,"title":"one"},"schema":"public","table":"todos"},"type":"broadcast"}`,
		`{"event":"UPDATE","payload":{"old_record":{"id":1,"title":"one"},"operation":"UPDATE","record":{"id":1,"title":"uno"},"schema":"public","table":"todos"},"type":"broadcast"}`,
		`{"event":"DELETE","payload":{"old_record":{"id":1,"title":"uno"},"operation":"DELETE","record":null,"schema":"public","table":"todos"},"type":"broadcast"}`,
	} {
		if got := jsonString(next()); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

// jsonString encodes v with sorted keys, for comparisons.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
