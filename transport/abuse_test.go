package transport

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// TestAbuse attacks one server, on a real pipeline, with what a client
// holding nothing but the anon key can send, while a healthy subscriber in
// the attacked room gets a broadcast every 100 ms. Each attack must get
// its error reply or its close, and the subscriber must miss nothing. The
// longest gap between two of its broadcasts and the longest delay of one
// are reported (-v); they are not asserted, as a loaded machine stretches
// them.
//
//	go test ./transport -run TestAbuse -v
func TestAbuse(t *testing.T) {
	e := newRealEnv(t, Config{})
	const room = "realtime:abuse"
	h := startHealthy(t, e, room)
	lim := e.s.cfg
	started := time.Now()

	t.Run("oversized frame closes with 1009", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.ws.Write(ctx, websocket.MessageText, bytes.Repeat([]byte{' '}, lim.MaxFrameBytes+1)) // may fail: the server closes first
		if code := r.closed(t, 10*time.Second); code != websocket.StatusMessageTooBig {
			t.Errorf("close %v, want 1009", code)
		}
	})

	t.Run("invalid UTF-8 in a text frame closes with 1007", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.sendRaw(websocket.MessageText, []byte("[\"1\",\"1\",\"realtime:abuse\",\"broadcast\",{\"s\":\"\xc3\x28\xff\"}]"))
		if code := r.closed(t, 10*time.Second); code != websocket.StatusInvalidFramePayloadData {
			t.Errorf("close %v, want 1007", code)
		}
	})

	t.Run("join flood is refused past JoinsPerSecond, every join answered", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		const n = 300
		for i := range n {
			c.send(strconv.Itoa(i), strconv.Itoa(i), "realtime:flood"+strconv.Itoa(i), evJoin, `{}`)
		}
		ok, limited := 0, 0
		for i := range n {
			st, reason := status(r.reply(t, strconv.Itoa(i)))
			switch {
			case st == "ok":
				ok++
			case strings.HasPrefix(reason, "ClientJoinRateLimitReached"):
				limited++
			case strings.HasPrefix(reason, "ChannelRateLimitReached"):
				// The rate refilled meanwhile and the channel limit held.
			default:
				t.Errorf("join %d: %s %s", i, st, reason)
			}
		}
		if ok > lim.MaxChannels || limited == 0 {
			t.Errorf("%d joins ok, %d rate-limited, want at most %d ok and some limited", ok, limited, lim.MaxChannels)
		}
	})

	t.Run("10,000 channels on one socket: refused past MaxChannels", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		const n = 10_000
		for i := range n {
			c.send(strconv.Itoa(i), strconv.Itoa(i), "realtime:many"+strconv.Itoa(i), evJoin, `{}`)
		}
		ok := 0
		for i := range n {
			if st, _ := status(r.reply(t, strconv.Itoa(i))); st == "ok" {
				ok++
			}
		}
		// The join rate refilled meanwhile; the channel limit still holds.
		for i := n; ok < lim.MaxChannels; i++ {
			time.Sleep(20 * time.Millisecond)
			c.send(strconv.Itoa(i), strconv.Itoa(i), "realtime:many"+strconv.Itoa(i), evJoin, `{}`)
			if st, reason := status(r.reply(t, strconv.Itoa(i))); st == "ok" {
				ok++
			} else if !strings.HasPrefix(reason, "ClientJoinRateLimitReached") {
				t.Fatalf("join %d: %s %s", i, st, reason)
			}
		}
		time.Sleep(1100 * time.Millisecond)
		c.send("x", "x", "realtime:one-more", evJoin, `{}`)
		if st, reason := status(r.reply(t, "x")); st != "error" || reason != "ChannelRateLimitReached: Too many channels" {
			t.Errorf("join past %d channels: %s %q", lim.MaxChannels, st, reason)
		}
		if got := mostChannels(e.s); got != lim.MaxChannels {
			t.Errorf("a connection has %d channels, want at most %d", got, lim.MaxChannels)
		}
	})

	t.Run("message flood closes the channel", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.send("1", "1", room, evJoin, `{}`)
		r.reply(t, "1")
		for i := range 1000 {
			c.sendRaw(websocket.MessageText, fmt.Appendf(nil, `["1",null,%q,"broadcast",{"type":"broadcast","event":"flood","payload":{"i":%d}}]`, room, i))
		}
		sys := r.event(t, room, evSystem)
		if !strings.Contains(string(sys.Payload), "Too many messages per second") {
			t.Errorf("system message %s", sys)
		}
		r.event(t, room, evClose)
	})

	t.Run("presence flood closes the channel", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.send("1", "1", room, evJoin, `{"config":{"presence":{"key":"attacker","enabled":true}}}`)
		r.reply(t, "1")
		for i := range 20 {
			c.send("1", "p"+strconv.Itoa(i), room, evPresence, fmt.Sprintf(`{"type":"presence","event":"track","payload":{"i":%d}}`, i))
		}
		sys := r.event(t, room, evSystem)
		if !strings.Contains(string(sys.Payload), "Client presence rate limit exceeded") {
			t.Errorf("system message %s", sys)
		}
		r.event(t, room, evClose)
	})

	t.Run("a presence meta over MaxPresenceBytes closes the channel", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.send("1", "1", room, evJoin, `{"config":{"presence":{"key":"big","enabled":true}}}`)
		r.reply(t, "1")
		c.send("1", "2", room, evPresence, `{"type":"presence","event":"track","payload":{"pad":"`+strings.Repeat("x", lim.MaxPresenceBytes)+`"}}`)
		sys := r.event(t, room, evSystem)
		if !strings.Contains(string(sys.Payload), "Track message size exceeded") {
			t.Errorf("system message %s", sys)
		}
		r.event(t, room, evClose)
	})

	t.Run("in with 10,000 values is refused", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		var vals strings.Builder
		for i := range 10_000 {
			if i > 0 {
				vals.WriteByte(',')
			}
			vals.WriteString(strconv.Itoa(i))
		}
		c.send("1", "1", "realtime:in", evJoin, fmt.Sprintf(`{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"items","filter":"id=in.(%s)"}]}}`, vals.String()))
		r.reply(t, "1")
		sys := r.event(t, "realtime:in", evSystem)
		// Refused by the filter's length or its number of values, whichever
		// bound the filter package checks first.
		if st := string(sys.Payload); !strings.Contains(st, `"status":"error"`) || !strings.Contains(st, "limit") {
			t.Errorf("system message %s", sys)
		}
	})

	t.Run("deeply nested JSON is answered", func(t *testing.T) {
		deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
		for _, vsn := range []phoenix.Version{phoenix.V1, phoenix.V2} {
			c := e.dialPlain(t, vsn)
			r := c.collect()
			c.sendText("1", "1", "realtime:deep", evJoin, deep)
			if st, reason := status(r.reply(t, "1")); st != "error" || !strings.Contains(reason, "MalformedJoinPayload") || !strings.Contains(reason, "nested too deeply") {
				t.Errorf("vsn %v: deep join: %s %q", vsn, st, reason)
			}
			c.send("2", "2", room, evJoin, `{"config":{"broadcast":{"ack":true}}}`)
			r.reply(t, "2")
			c.sendText("2", "3", room, evBroadcast, `{"type":"broadcast","event":"e","payload":`+deep+`}`)
			if st, reason := status(r.reply(t, "3")); st != "error" || !strings.Contains(reason, "nested too deeply") {
				t.Errorf("vsn %v: deep broadcast: %s %q", vsn, st, reason)
			}
			if vsn == phoenix.V2 {
				c.sendRaw(websocket.MessageBinary, binaryPush("2", "4", room, "e", deep))
				if st, reason := status(r.reply(t, "4")); st != "error" || !strings.Contains(reason, "nested too deeply") {
					t.Errorf("deep binary broadcast: %s %q", st, reason)
				}
			}
		}
	})

	t.Run("invalid UTF-8 in a binary push is refused, the connection kept", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.send("1", "1", room, evJoin, `{"config":{"broadcast":{"ack":true}}}`)
		r.reply(t, "1")
		c.sendRaw(websocket.MessageBinary, binaryPush("1", "2", room, "e", "{\"s\":\"\xc3\x28\xff\"}"))
		if st, reason := status(r.reply(t, "2")); st != "error" || !strings.Contains(reason, "not valid UTF-8") {
			t.Errorf("binary push: %s %q", st, reason)
		}
		// Without ack: dropped in silence, the connection stays.
		c.send("3", "3", "realtime:abuse-noack", evJoin, `{}`)
		r.reply(t, "3")
		c.sendRaw(websocket.MessageBinary, binaryPush("3", "4", "realtime:abuse-noack", "\xff", `{}`))
		c.send("", "5", "phoenix", evHeartbeat, `{}`)
		if st, _ := status(r.reply(t, "5")); st != "ok" {
			t.Errorf("heartbeat after the refused push: %s", st)
		}
	})

	t.Run("invalid UTF-8 over REST gets 400", func(t *testing.T) {
		for _, req := range []struct{ path, body string }{
			{"/api/broadcast/abuse/events/e", "{\"s\":\"\xc3\x28\xff\"}"},
			{"/api/broadcast", "{\"messages\":[{\"topic\":\"abuse\",\"event\":\"e\",\"payload\":{\"s\":\"\xc3\x28\xff\"}}]}"},
			{"/api/broadcast/abuse%ff/events/e", `{}`},
		} {
			code, body := restPost(t, e, req.path, req.body)
			if code != http.StatusBadRequest || !strings.Contains(body, "UTF-8") {
				t.Errorf("POST %s: %d %s", req.path, code, body)
			}
		}
	})

	t.Run("huge topics are refused", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		huge := "realtime:" + strings.Repeat("t", 4_000_000)
		for i := range 20 {
			// One at a time: each reply echoes the 4 MB topic (the client
			// matches replies by topic), and a client that sends faster
			// than it reads those is a slow consumer.
			c.sendText(strconv.Itoa(i), strconv.Itoa(i), huge, evJoin, `{}`)
			if st, reason := status(r.reply(t, strconv.Itoa(i))); st != "error" || !strings.HasPrefix(reason, "TopicTooLong") {
				t.Fatalf("join %d: %s %q", i, st, reason)
			}
		}
		code, body := restPost(t, e, "/api/broadcast/"+strings.Repeat("t", lim.MaxTopicBytes)+"/events/e", `{}`)
		if code != http.StatusBadRequest || !strings.Contains(body, "topic is too long") {
			t.Errorf("REST huge topic: %d %s", code, body)
		}
	})

	t.Run("malformed joins are all answered", func(t *testing.T) {
		bindings := strings.Repeat(`{"event":"*","schema":"public","table":"items"},`, lim.MaxBindings)
		for i, tc := range []struct{ payload, want string }{
			{`{x]`, "MalformedJoinPayload"},
			{`nope`, "MalformedJoinPayload"},
			{`1`, "MalformedJoinPayload"},
			{`"config"`, "MalformedJoinPayload"},
			{`{"config":{"postgres_changes":[1]}}`, "MalformedJoinPayload"},
			{`{"config":{"postgres_changes":[` + bindings + `{"event":"*","schema":"public","table":"items"}]}}`, "TooManyBindings"},
			{`{"config":"x"}`, ""}, // wrong type: joins with defaults
			{`{"config":{"broadcast":{"self":"yes"},"private":7}}`, ""}, // likewise
			{`{"config":{"postgres_changes":"x"}}`, ""},                 // likewise
		} {
			c := e.dialPlain(t, phoenix.V2)
			r := c.collect()
			ref := strconv.Itoa(i + 1)
			c.sendText(ref, ref, "realtime:garbage", evJoin, tc.payload)
			st, reason := status(r.reply(t, ref))
			if tc.want == "" && st != "ok" || tc.want != "" && (st != "error" || !strings.HasPrefix(reason, tc.want)) {
				t.Errorf("join with %.60s: %s %q, want %q", tc.payload, st, reason, tc.want)
			}
		}
	})

	t.Run("malformed vsn 1.0.0 joins are answered", func(t *testing.T) {
		// A V1 frame may carry its ref after the payload: a broken array or
		// object payload is skipped to read it. A payload that is no JSON
		// value at all leaves no envelope to answer.
		for i, payload := range []string{`{x]`, `[1,,]`, `{"config":{"postgres_changes":[1]}}`} {
			c := e.dialPlain(t, phoenix.V1)
			r := c.collect()
			ref := strconv.Itoa(i + 1)
			c.sendText(ref, ref, "realtime:garbage", evJoin, payload)
			if st, reason := status(r.reply(t, ref)); st != "error" || !strings.HasPrefix(reason, "MalformedJoinPayload") {
				t.Errorf("join with %s: %s %q", payload, st, reason)
			}
		}
	})

	t.Run("long event names are refused", func(t *testing.T) {
		c := e.dialPlain(t, phoenix.V2)
		r := c.collect()
		c.send("1", "2", room, strings.Repeat("e", lim.MaxEventBytes+1), `{}`)
		if st, reason := status(r.reply(t, "2")); st != "error" || !strings.HasPrefix(reason, "EventTooLong") {
			t.Errorf("long event: %s %q", st, reason)
		}
	})

	h.finish(t)
	d := time.Since(started)
	t.Logf("healthy subscriber: %d of %d broadcasts in %v; longest gap %v, longest delay %v", h.got, h.sent, d.Round(time.Millisecond), h.maxGap, h.maxLag)
	if h.sendErr != nil {
		t.Errorf("sender: %v", h.sendErr)
	}
	if h.end != nil {
		t.Errorf("subscriber's connection ended: %v", h.end)
	}
	if len(h.missed) > 0 || h.got != h.sent {
		t.Errorf("subscriber got %d of %d broadcasts; out of order: %v", h.got, h.sent, h.missed)
	}
	for _, err := range h.invalid {
		t.Errorf("subscriber got an invalid frame: %v", err)
	}
}

// restPost posts body to path with a valid token and returns the status
// and the response body.
func restPost(t *testing.T, e *testEnv, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(t, time.Hour))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// mostChannels is the largest number of channels a connection holds.
func mostChannels(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	most := 0
	for c := range s.conns {
		most = max(most, c.channelCount())
	}
	return most
}

// sendText sends a text frame whose payload is exactly the text given,
// valid JSON or not (joinRef "" is null).
func (c *client) sendText(joinRef, ref, topic, event, payload string) {
	c.t.Helper()
	jr := "null"
	if joinRef != "" {
		jr = strconv.Quote(joinRef)
	}
	if c.vsn == phoenix.V2 {
		c.sendRaw(websocket.MessageText, fmt.Appendf(nil, `[%s,%q,%q,%q,%s]`, jr, ref, topic, event, payload))
		return
	}
	c.sendRaw(websocket.MessageText, fmt.Appendf(nil, `{"topic":%q,"event":%q,"payload":%s,"ref":%q,"join_ref":%s}`, topic, event, payload, ref, jr))
}
