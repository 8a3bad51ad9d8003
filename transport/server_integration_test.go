package transport

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
)

// TestPostgresChangesEndToEnd runs the real pipeline: Postgres → replication
// stream → changes dispatcher → server → a WebSocket client.
func TestPostgresChangesEndToEnd(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE todos (id int PRIMARY KEY, title text)`); err != nil {
		t.Fatal(err)
	}
	const pub = "walcast_transport_test"
	d := changes.New(changes.Config{Pool: pool, Publication: pub, Logger: testLogger(t)})
	runStream(t, url, pub, d)

	s := NewServer(Config{Verifier: auth.NewVerifier(testSecret), Changes: d, Logger: testLogger(t), PingInterval: -1})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	e := &testEnv{s: s, http: hs}
	c := e.dial(t, phoenix.V2)

	reply := c.join("realtime:todos", "6", `{"config":{"broadcast":{"self":false},"postgres_changes":[`+
		`{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},`+
		`{"event":"*","schema":"public","table":"todos"}],"private":false}}`)
	checkFrame(t, reply, "6", "6", "realtime:todos", "phx_reply", "")
	var r struct {
		Status   string
		Response struct {
			PostgresChanges []struct {
				Event, Filter string
				ID            json.Number
			} `json:"postgres_changes"`
		}
	}
	if err := json.Unmarshal(reply.Payload, &r); err != nil || r.Status != "ok" || len(r.Response.PostgresChanges) != 2 {
		t.Fatalf("join reply %s (%v)", reply, err)
	}
	id1, id2 := r.Response.PostgresChanges[0].ID, r.Response.PostgresChanges[1].ID
	checkFrame(t, c.next(), "6", "null", "realtime:todos", "system",
		`{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"todos"}`)

	for _, tc := range []struct {
		sql     string
		ids     string
		typ, id string
	}{
		{"INSERT INTO todos VALUES (1, 'one')", "[" + id1.String() + "," + id2.String() + "]", "INSERT", "1"},
		{"INSERT INTO todos VALUES (2, 'two')", "[" + id2.String() + "]", "INSERT", "2"},
		{"UPDATE todos SET title = 'uno' WHERE id = 1", "[" + id2.String() + "]", "UPDATE", "1"},
	} {
		if _, err := pool.Exec(ctx, tc.sql); err != nil {
			t.Fatal(err)
		}
		f, err := c.read(30 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		checkFrame(t, f, "null", "null", "realtime:todos", "postgres_changes", "")
		var p struct {
			IDs  json.RawMessage `json:"ids"`
			Data struct {
				Type, Schema, Table string
				Record              map[string]any
				CommitTimestamp     string `json:"commit_timestamp"`
			}
		}
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			t.Fatalf("%s: %v in %s", tc.sql, err, f)
		}
		if string(p.IDs) != tc.ids || p.Data.Type != tc.typ || p.Data.Table != "todos" || p.Data.Schema != "public" ||
			!strings.HasSuffix(p.Data.CommitTimestamp, "Z") || jsonNumber(p.Data.Record["id"]) != tc.id {
			t.Errorf("%s: got %s, want ids %s type %s id %s", tc.sql, f, tc.ids, tc.typ, tc.id)
		}
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
