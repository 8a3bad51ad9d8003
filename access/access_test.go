package access_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walcast/walcast/access"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/authz"
	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/internal/testlog"
	"github.com/walcast/walcast/replication"
	walcastsql "github.com/walcast/walcast/sql"
	"github.com/walcast/walcast/transport"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var secret = []byte("super-secret-jwt-token-with-at-least-32-characters")

const (
	user1 = "00000000-0000-0000-0000-000000000001"
	user2 = "00000000-0000-0000-0000-000000000002"
)

// policies: a user reads and writes room:<own id>; everyone
// authenticated reads (not writes) the lobby.
const policies = `
	CREATE POLICY read_rooms ON realtime.messages FOR SELECT TO authenticated
		USING (realtime.topic() = 'room:' || auth.uid()::text OR realtime.topic() = 'lobby');
	CREATE POLICY write_own ON realtime.messages FOR INSERT TO authenticated
		WITH CHECK (realtime.topic() = 'room:' || auth.uid()::text)`

// server starts a walcast server whose Authorizer is access on authz on
// a fresh migrated database with policies.
func server(t *testing.T) (*httptest.Server, *pgxpool.Pool) {
	return serverWith(t, "")
}

// serverWith is server; with schema (which must create the publication
// "walcast") it also streams postgres_changes through a dispatcher that
// authorizes with the same checker.
func serverWith(t *testing.T, schema string) (*httptest.Server, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := walcastsql.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{policies, schema} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := testlog.New(t, 0)
	checker := authz.New(authz.Config{Pool: pool, Logger: log})
	cfg := transport.Config{Verifier: auth.NewVerifier(secret), Logger: log, PingInterval: -1,
		Authorizer: access.New(access.Config{Checker: checker})}
	if schema != "" {
		d := changes.New(changes.Config{Pool: pool, Publication: "walcast", Authz: checker, Logger: log})
		t.Cleanup(d.Close)
		stream, err := replication.NewStream(replication.Config{DatabaseURL: url, Publication: "walcast", Logger: log}, d)
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- stream.Run(sctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("stream: %v", err)
			}
		})
		pgtest.WaitForActiveSlot(t, url)
		cfg.Changes = d
	}
	s := transport.NewServer(cfg)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return hs, pool
}

func tokenFor(t *testing.T, role, sub string) string {
	t.Helper()
	claims := map[string]any{"role": role, "exp": time.Now().Add(time.Hour).Unix()}
	if sub != "" {
		claims["sub"] = sub
	}
	tok, err := auth.Sign(secret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client speaks the V1 JSON serializer.
type client struct {
	t     *testing.T
	ws    *websocket.Conn
	ref   atomic.Int64
	joins map[string]string // topic → join_ref
	in    chan message      // what the reader goroutine read
}

type message struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Ref     *string         `json:"ref"`
	JoinRef *string         `json:"join_ref,omitempty"`
}

func dial(t *testing.T, hs *httptest.Server, token string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/realtime/v1/websocket?vsn=1.0.0&apikey=" + token
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws, joins: map[string]string{}, in: make(chan message, 1024)}
	// A read whose context ends closes the socket: one reader reads until
	// the test closes it, and next waits on what it read.
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.in)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("bad frame %s", b)
				return
			}
			select {
			case c.in <- m:
			default:
				t.Errorf("more than %d unread messages", cap(c.in))
				return
			}
		}
	}()
	t.Cleanup(func() {
		ws.CloseNow()
		<-done
	})
	return c
}

func (c *client) send(topic, event string, payload any) string {
	c.t.Helper()
	ref := strconv.FormatInt(c.ref.Add(1), 10)
	if event == "phx_join" {
		c.joins[topic] = ref
	}
	joinRef := c.joins[topic]
	p, _ := json.Marshal(payload)
	b, _ := json.Marshal(message{Topic: topic, Event: event, Payload: p, Ref: &ref, JoinRef: &joinRef})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
	return ref
}

// next returns the next message other than presence and system ones,
// or nil after wait.
func (c *client) next(wait time.Duration) *message {
	c.t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return nil
			}
			if m.Event == "presence_state" {
				continue
			}
			return &m
		case <-timer.C:
			return nil
		}
	}
}

// join joins topic privately and returns the reply's status and reason.
func (c *client) join(topic, token string) (status, reason string) {
	c.t.Helper()
	cfg := map[string]any{"config": map[string]any{"private": true, "broadcast": map[string]any{"self": false}}}
	if token != "" {
		cfg["access_token"] = token
	}
	c.send("realtime:"+topic, "phx_join", cfg)
	m := c.next(10 * time.Second)
	if m == nil || m.Event != "phx_reply" {
		c.t.Fatalf("join %s: reply %+v", topic, m)
	}
	var r struct {
		Status   string
		Response struct{ Reason string }
	}
	json.Unmarshal(m.Payload, &r)
	return r.Status, r.Response.Reason
}

func (c *client) broadcast(topic, event string) {
	c.send("realtime:"+topic, "broadcast", map[string]any{"type": "broadcast", "event": event, "payload": map[string]any{"x": 1}})
}

// nextBroadcast returns the event of the next broadcast, or "".
func (c *client) nextBroadcast(wait time.Duration) string {
	c.t.Helper()
	for {
		m := c.next(wait)
		if m == nil {
			return ""
		}
		if m.Event != "broadcast" {
			continue
		}
		var p struct{ Event string }
		json.Unmarshal(m.Payload, &p)
		return p.Event
	}
}

func TestPrivateChannelRead(t *testing.T) {
	hs, _ := server(t)
	u1, u2 := tokenFor(t, "authenticated", user1), tokenFor(t, "authenticated", user2)
	for _, tc := range []struct {
		name, token, topic, status, reason string
	}{
		{"own room", u1, "room:" + user1, "ok", ""},
		{"lobby", u2, "lobby", "ok", ""},
		{"another's room", u2, "room:" + user1, "error", "Unauthorized: You do not have permissions to read from this Channel topic: room:" + user1},
		{"anon", tokenFor(t, "anon", ""), "lobby", "error", "Unauthorized: You do not have permissions to read from this Channel topic: lobby"},
		{"service_role", tokenFor(t, "service_role", ""), "room:" + user1, "ok", ""},
		{"unknown role", tokenFor(t, "walcast_nobody", ""), "lobby", "error", `Unauthorized: role "walcast_nobody" of the token does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, hs, tc.token)
			status, reason := c.join(tc.topic, "")
			if status != tc.status || !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("join %s: %s %q, want %s %q", tc.topic, status, reason, tc.status, tc.reason)
			}
		})
	}
}

// TestPrivateChannelWrite: a broadcast without write access is dropped
// (the listener gets the next, allowed one first); REST publishes are
// checked with the caller's token.
func TestPrivateChannelWrite(t *testing.T) {
	hs, _ := server(t)
	u1 := tokenFor(t, "authenticated", user1)
	own := "room:" + user1
	listener := dial(t, hs, tokenFor(t, "service_role", ""))
	for _, topic := range []string{own, "lobby"} {
		if s, r := listener.join(topic, ""); s != "ok" {
			t.Fatalf("listener join %s: %s", topic, r)
		}
	}
	sender := dial(t, hs, u1)
	for _, topic := range []string{own, "lobby"} {
		if s, r := sender.join(topic, ""); s != "ok" {
			t.Fatalf("sender join %s: %s", topic, r)
		}
	}
	sender.broadcast("lobby", "denied")
	sender.broadcast(own, "allowed")
	if got := listener.nextBroadcast(10 * time.Second); got != "allowed" {
		t.Fatalf("listener received %q first, want the allowed broadcast", got)
	}

	post := func(token, topic, event string, private bool) int {
		url := hs.URL + "/api/broadcast/" + topic + "/events/" + event
		if private {
			url += "?private=true"
		}
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"x":1}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("apikey", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	u2 := tokenFor(t, "authenticated", user2)
	for _, tc := range []struct {
		token, topic, event string
		want                int
	}{
		{u2, own, "forged", http.StatusForbidden},
		{tokenFor(t, "anon", ""), own, "forged", http.StatusForbidden},
		{u1, "lobby", "forged", http.StatusForbidden},
		{u1, own, "rest", http.StatusAccepted},
	} {
		if got := post(tc.token, tc.topic, tc.event, true); got != tc.want {
			t.Errorf("REST %s to private %s: %d, want %d", tc.event, tc.topic, got, tc.want)
		}
	}
	if got := listener.nextBroadcast(10 * time.Second); got != "rest" {
		t.Fatalf("listener received %q, want the allowed REST broadcast", got)
	}
	// The batch endpoint skips what the caller may not write (still 202).
	batch := func(token, event string) int {
		body := `{"messages":[{"topic":"` + own + `","event":"` + event + `","payload":{"x":1},"private":true}]}`
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/broadcast", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("apikey", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := batch(u2, "batch-forged"); got != http.StatusAccepted {
		t.Errorf("forged batch: %d, want 202", got)
	}
	if got := batch(u1, "batch"); got != http.StatusAccepted {
		t.Errorf("allowed batch: %d, want 202", got)
	}
	if got := listener.nextBroadcast(10 * time.Second); got != "batch" {
		t.Fatalf("listener received %q, want the allowed batch message first", got)
	}
	// A public publish of the same name does not reach the private room.
	if got := post(u2, own, "public", false); got != http.StatusAccepted {
		t.Fatalf("public REST publish: %d", got)
	}
	if got := listener.nextBroadcast(500 * time.Millisecond); got != "" {
		t.Errorf("a public publish reached the private room: %q", got)
	}
}

// TestPrivateChannelRefresh: a new access_token that may no longer read
// the topic closes the channel with Supabase's text; one that may read
// keeps it.
func TestPrivateChannelRefresh(t *testing.T) {
	hs, _ := server(t)
	c := dial(t, hs, tokenFor(t, "authenticated", user1))
	own := "room:" + user1
	if s, r := c.join(own, ""); s != "ok" {
		t.Fatalf("join: %s", r)
	}
	c.send("realtime:"+own, "access_token", map[string]any{"access_token": tokenFor(t, "service_role", "")})
	c.send("realtime:"+own, "access_token", map[string]any{"access_token": tokenFor(t, "authenticated", user2)})
	want := "You no longer have permission to read from this Channel topic: " + own
	for {
		m := c.next(10 * time.Second)
		if m == nil {
			t.Fatal("channel not closed after a token that may not read it")
		}
		if m.Event == "system" && strings.Contains(string(m.Payload), want) {
			break
		}
		if m.Event == "phx_close" {
			t.Fatalf("closed without the system message %q", want)
		}
	}
	if m := c.next(5 * time.Second); m == nil || m.Event != "phx_close" {
		t.Fatalf("after the system error: %+v, want phx_close", m)
	}
}
