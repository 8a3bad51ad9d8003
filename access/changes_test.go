package access_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPostgresChangesAuthorized runs the whole path, Postgres → stream →
// authorizing dispatcher → server → WebSocket: a table the role may not
// SELECT is refused with a system error, row-level security decides who
// receives what, and an access_token refresh re-evaluates the
// subscription.
func TestPostgresChangesAuthorized(t *testing.T) {
	hs, pool := serverWith(t, `
		CREATE TABLE notes (id int PRIMARY KEY, user_id uuid, body text);
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes FOR SELECT USING (user_id = auth.uid());
		GRANT SELECT ON notes TO anon, authenticated, service_role;
		CREATE TABLE secret (id int PRIMARY KEY, v text);
		REVOKE ALL ON secret FROM anon, authenticated, PUBLIC;
		GRANT SELECT ON secret TO service_role;
		CREATE PUBLICATION walcast FOR TABLE notes, secret`)
	bindings := []map[string]any{
		{"event": "*", "schema": "public", "table": "notes"},
		{"event": "*", "schema": "public", "table": "secret"},
	}
	join := func(c *client, token string) {
		t.Helper()
		c.send("realtime:db", "phx_join", map[string]any{"config": map[string]any{"postgres_changes": bindings}})
		m := c.next(10 * time.Second)
		if m == nil || m.Event != "phx_reply" || !strings.Contains(string(m.Payload), `"status":"ok"`) {
			t.Fatalf("join: %+v", m)
		}
		m = c.next(10 * time.Second)
		wantSys := "Subscribed to PostgreSQL"
		if !strings.HasPrefix(token, "svc") {
			wantSys = "Error 401: Unauthorized"
		}
		if m == nil || m.Event != "system" || !strings.Contains(string(m.Payload), wantSys) {
			t.Fatalf("after the join: %+v, want a system message with %q", m, wantSys)
		}
	}
	clients := map[string]*client{}
	for name, tok := range map[string]string{
		"u1":   tokenFor(t, "authenticated", user1),
		"u2":   tokenFor(t, "authenticated", user2),
		"anon": tokenFor(t, "anon", ""),
		"svc":  tokenFor(t, "service_role", ""),
	} {
		clients[name] = dial(t, hs, tok)
		join(clients[name], name)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	// collect reads the changes c receives until the row with id last
	// (or a quiet second).
	collect := func(c *client, last int) []string {
		t.Helper()
		var got []string
		for {
			m := c.next(time.Second)
			if m == nil {
				return got
			}
			if m.Event != "postgres_changes" {
				continue
			}
			var p struct {
				Data struct {
					Table, Type string
					Record      map[string]any
				}
			}
			json.Unmarshal(m.Payload, &p)
			id := int(p.Data.Record["id"].(float64))
			got = append(got, p.Data.Table+":"+p.Data.Type+":"+string(rune('0'+id)))
			if id == last {
				return got
			}
		}
	}
	exec(`INSERT INTO secret VALUES (1, 's')`)
	exec(`INSERT INTO notes VALUES (1, '` + user1 + `', 'one'), (2, '` + user2 + `', 'two')`)
	want := map[string][]string{
		"svc":  {"secret:INSERT:1", "notes:INSERT:1", "notes:INSERT:2"},
		"u1":   {"notes:INSERT:1"},
		"u2":   {"notes:INSERT:2"},
		"anon": nil,
	}
	for _, name := range []string{"svc", "u1", "u2", "anon"} {
		if got := collect(clients[name], 2); !slices.Equal(got, want[name]) {
			t.Errorf("%s received %v, want %v", name, got, want[name])
		}
	}
	// anon signs in as user 1: the same channel now receives user 1's rows.
	clients["anon"].send("realtime:db", "access_token", map[string]any{"access_token": tokenFor(t, "authenticated", user1)})
	time.Sleep(500 * time.Millisecond) // the refresh is not acknowledged
	exec(`INSERT INTO notes VALUES (3, '` + user2 + `', 'three'), (4, '` + user1 + `', 'four')`)
	if got := collect(clients["anon"], 4); !slices.Equal(got, []string{"notes:INSERT:4"}) {
		t.Errorf("after access_token: %v, want only row 4", got)
	}
}

// TestSSEAuthorized: an SSE feed gets what its token's role may see.
func TestSSEAuthorized(t *testing.T) {
	hs, pool := serverWith(t, `
		CREATE TABLE notes (id int PRIMARY KEY, user_id uuid, body text);
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON notes FOR SELECT USING (user_id = auth.uid());
		GRANT SELECT ON notes TO anon, authenticated;
		CREATE PUBLICATION walcast FOR TABLE notes`)
	type feed struct{ events chan string }
	open := func(token string) feed {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/realtime/v1/sse?schema=public&table=notes&apikey="+token, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("SSE: %s", resp.Status)
		}
		f := feed{events: make(chan string, 100)}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					f.events <- data
				}
			}
		}()
		// The first event says the feed is live.
		select {
		case e := <-f.events:
			if !strings.Contains(e, "Subscribed to PostgreSQL") {
				t.Fatalf("first SSE event %s", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("SSE feed not live")
		}
		return f
	}
	u1, anon := open(tokenFor(t, "authenticated", user1)), open(tokenFor(t, "anon", ""))
	if _, err := pool.Exec(context.Background(), `INSERT INTO notes VALUES (1, '`+user2+`', 'two'), (2, '`+user1+`', 'one')`); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-u1.events:
		if !strings.Contains(e, `"id":2`) {
			t.Errorf("user 1's feed got %s, want only row 2", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("user 1's feed got nothing")
	}
	select {
	case e := <-anon.events:
		t.Errorf("anon's feed got %s", e)
	case <-time.After(time.Second):
	}
}
