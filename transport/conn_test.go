package transport

import (
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
)

var versions = []phoenix.Version{phoenix.V1, phoenix.V2}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t, Config{})
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			c := e.dial(t, vsn)
			for _, ref := range []string{"1", "42"} {
				c.send("", ref, "phoenix", "heartbeat", `{}`)
				checkFrame(t, c.next(), "null", ref, "phoenix", "phx_reply", `{"status":"ok","response":{}}`)
			}
		})
	}
}

func TestJoinReply(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		response string // with the fake's ids 101, 102
		system   bool   // "Subscribed to PostgreSQL" follows
	}{
		{"no config", `{}`, `{"postgres_changes":[]}`, false},
		{"broadcast only", `{"config":{"broadcast":{"self":true},"presence":{"key":""},"postgres_changes":[],"private":false}}`, `{"postgres_changes":[]}`, false},
		{"two bindings echoed with ids", `{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"},{"event":"*","schema":"public","table":"todos","select":["id"]}]}}`,
			`{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1","id":101},{"event":"*","schema":"public","table":"todos","select":["id"],"id":102}]}`, true},
	}
	for _, vsn := range versions {
		for _, tc := range tests {
			t.Run(vsn.String()+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, Config{})
				c := e.dial(t, vsn)
				reply := c.join("realtime:room1", "6", tc.payload)
				wantJoinRef := "6"
				if vsn == phoenix.V1 {
					wantJoinRef = "null" // V1 frames carry no join_ref
				}
				checkFrame(t, reply, wantJoinRef, "6", "realtime:room1", "phx_reply", `{"status":"ok","response":`+tc.response+`}`)
				if tc.system {
					checkFrame(t, c.next(), wantJoinRef, "null", "realtime:room1", "system",
						`{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"room1"}`)
				}
				// Nothing else was sent: the next frame answers this heartbeat.
				c.send("", "99", "phoenix", "heartbeat", `{}`)
				checkFrame(t, c.next(), "null", "99", "phoenix", "phx_reply", "")
			})
		}
	}
}

func TestJoinErrors(t *testing.T) {
	expired := token(t, -10*time.Second)
	tests := []struct {
		name, topic, payload string
		joinRef, reason      string // joinRef of the reply ("null" for unmatched topics)
	}{
		{"not a realtime topic", "room1", `{}`, "null", "unmatched topic"},
		{"phoenix topic", "phoenix", `{}`, "null", "unmatched topic"},
		{"empty subtopic", "realtime:", `{}`, "3", "TopicNameRequired: You must provide a topic name"},
		{"expired access token", "realtime:a", `{"access_token":"` + expired + `"}`, "3", "InvalidJWTToken: Token has expired 10 seconds ago"},
		{"malformed access token", "realtime:a", `{"access_token":"nope"}`, "3", "MalformedJWT: The token provided is not a valid JWT"},
		{"bad binding", "realtime:a", `{"config":{"postgres_changes":[42]}}`, "3", ""},
	}
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := c.join(tc.topic, "3", tc.payload)
			checkFrame(t, f, tc.joinRef, "3", tc.topic, "phx_reply", "")
			want := `{"status":"error","response":{"reason":"` + tc.reason + `"}}`
			if tc.reason == "" {
				if !strings.Contains(string(f.Payload), `"reason":"MalformedJoinPayload: `) {
					t.Errorf("payload = %s, want a MalformedJoinPayload reason", f.Payload)
				}
			} else if !jsonEqual(t, f.Payload, want) {
				// Expiry seconds may tick while the test runs.
				if !strings.Contains(tc.reason, "expired") || !strings.Contains(string(f.Payload), "Token has expired") {
					t.Errorf("payload = %s, want %s", f.Payload, want)
				}
			}
		})
	}
}

func TestChannelLimit(t *testing.T) {
	e := newEnv(t, Config{MaxChannels: 2})
	c := e.dial(t, phoenix.V2)
	for i, topic := range []string{"realtime:a", "realtime:b"} {
		checkFrame(t, c.join(topic, string(rune('1'+i)), `{}`), string(rune('1'+i)), string(rune('1'+i)), topic, "phx_reply", `{"status":"ok","response":{"postgres_changes":[]}}`)
	}
	checkFrame(t, c.join("realtime:c", "3", `{}`), "3", "3", "realtime:c", "phx_reply",
		`{"status":"error","response":{"reason":"ChannelRateLimitReached: Too many channels"}}`)
	// Rejoining a joined topic replaces it and does not count twice.
	c.send("4", "4", "realtime:a", evJoin, `{}`)
	checkFrame(t, c.next(), "1", "1", "realtime:a", "phx_close", `{}`)
	checkFrame(t, c.next(), "4", "4", "realtime:a", "phx_reply", `{"status":"ok","response":{"postgres_changes":[]}}`)
}

func TestUnmatchedTopic(t *testing.T) {
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, vsn)
			for _, ev := range []string{"broadcast", "presence", "access_token", "custom"} {
				c.send("5", "7", "realtime:nobody", ev, `{}`)
				checkFrame(t, c.next(), "null", "7", "realtime:nobody", "phx_reply", `{"status":"error","response":{"reason":"unmatched topic"}}`)
			}
		})
	}
}

func TestDuplicateJoinClosesOld(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", `{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}}`)
	c.next() // Subscribed to PostgreSQL
	c.send("2", "2", "realtime:room", evJoin, `{}`)
	checkFrame(t, c.next(), "1", "1", "realtime:room", "phx_close", `{}`)
	checkFrame(t, c.next(), "2", "2", "realtime:room", "phx_reply", `{"status":"ok","response":{"postgres_changes":[]}}`)
	waitFor(t, "the old channel to unsubscribe", func() bool { return e.fake.subscribers() == 0 })
}

func TestLeave(t *testing.T) {
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, vsn)
			jr := "6"
			if vsn == phoenix.V1 {
				jr = "null"
			}
			c.join("realtime:room", "6", `{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}}`)
			c.next() // system
			c.send("6", "8", "realtime:room", evLeave, `{}`)
			checkFrame(t, c.next(), jr, "8", "realtime:room", "phx_reply", `{"status":"ok","response":{}}`)
			checkFrame(t, c.next(), jr, "6", "realtime:room", "phx_close", `{}`)
			waitFor(t, "unsubscribe", func() bool { return e.fake.subscribers() == 0 })

			// Leaving a topic that is not joined (any more) is fine too.
			c.send("6", "9", "realtime:room", evLeave, `{}`)
			checkFrame(t, c.next(), jr, "9", "realtime:room", "phx_reply", `{"status":"ok","response":{}}`)
			// And after the leave the topic is unmatched.
			c.send("6", "10", "realtime:room", "access_token", `{"access_token":"x"}`)
			checkFrame(t, c.next(), "null", "10", "realtime:room", "phx_reply", `{"status":"error","response":{"reason":"unmatched topic"}}`)
		})
	}
}

func TestStaleJoinRefIgnored(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", `{}`)
	c.send("2", "2", "realtime:room", evJoin, `{}`)
	c.next() // phx_close of join 1
	c.next() // reply to join 2
	// A leave and a bad token for the old join must not touch the new one.
	c.send("1", "3", "realtime:room", evLeave, `{}`)
	c.send("1", "4", "realtime:room", evAccessToken, `{"access_token":"garbage"}`)
	c.send("", "5", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c.next(), "null", "5", "phoenix", "phx_reply", "")
	// Broadcast and presence on a joined topic reach the new channel, not
	// "unmatched topic": a broadcast without self and ack sends nothing back;
	// a track is answered, and enables presence.
	c.send("2", "6", "realtime:room", "broadcast", `{"type":"broadcast","event":"x","payload":{}}`)
	c.send("2", "7", "realtime:room", "presence", `{"type":"presence","event":"track","payload":{}}`)
	checkFrame(t, c.next(), "2", "7", "realtime:room", "phx_reply", `{"status":"ok","response":{}}`)
	checkFrame(t, c.next(), "2", "null", "realtime:room", "presence_state", `{}`)
	checkFrame(t, c.next(), "null", "null", "realtime:room", "presence_diff", "")
	c.sendRaw(websocket.MessageBinary, binaryPush("2", "8", "realtime:room", "cursor", `{"x":1}`))
	c.send("", "9", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c.next(), "null", "9", "phoenix", "phx_reply", "")
	// The channel of join 2 is still there.
	c.send("2", "10", "realtime:room", evLeave, `{}`)
	checkFrame(t, c.next(), "2", "10", "realtime:room", "phx_reply", `{"status":"ok","response":{}}`)
}

// binaryPush builds a kind-3 user broadcast frame.
func binaryPush(joinRef, ref, topic, event, payload string) []byte {
	b := []byte{3, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), 0, 1}
	for _, s := range []string{joinRef, ref, topic, event, payload} {
		b = append(b, s...)
	}
	return b
}

func TestMalformedFramesKeepConnection(t *testing.T) {
	frames := []struct {
		typ  websocket.MessageType
		data string
	}{
		{websocket.MessageText, `not json`},
		{websocket.MessageText, `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}`}, // an object under 2.0.0
		{websocket.MessageText, `[null,"1","phoenix"]`},
		{websocket.MessageText, `[null,"1",42,"heartbeat",{}]`},
		{websocket.MessageBinary, "\x07garbage"},
		{websocket.MessageText, ``},
	}
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	for _, f := range frames {
		c.sendRaw(f.typ, []byte(f.data))
	}
	c.send("", "2", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c.next(), "null", "2", "phoenix", "phx_reply", `{"status":"ok","response":{}}`)
	if got, want := e.s.Stats().Malformed, uint64(len(frames)); got != want {
		t.Errorf("Stats().Malformed = %d, want %d", got, want)
	}
	// Binary frames are not part of vsn 1.0.0.
	c1 := e.dial(t, phoenix.V1)
	c1.sendRaw(websocket.MessageBinary, binaryPush("1", "1", "realtime:a", "x", `{}`))
	c1.send("", "3", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c1.next(), "null", "3", "phoenix", "phx_reply", "")
}

func TestFrameOverLimitCloses1009(t *testing.T) {
	e := newEnv(t, Config{MaxFrameBytes: 1024})
	c := e.dial(t, phoenix.V2)
	c.send("", "1", "phoenix", "heartbeat", `{"pad":"`+strings.Repeat("x", 900)+`"}`)
	c.next() // under the limit: answered
	c.send("", "2", "phoenix", "heartbeat", `{"pad":"`+strings.Repeat("x", 1100)+`"}`)
	if got := c.closeStatus(10 * time.Second); got != websocket.StatusMessageTooBig {
		t.Fatalf("close status = %v, want %v", got, websocket.StatusMessageTooBig)
	}
}

func TestIdleTimeout(t *testing.T) {
	// Generous margins: the machine may be busy with other test binaries.
	e := newEnv(t, Config{IdleTimeout: 800 * time.Millisecond})
	busy := e.dial(t, phoenix.V2)
	idle := e.dial(t, phoenix.V2)
	start := time.Now()
	// The busy client heartbeats more often than the timeout and survives it.
	for time.Since(start) < 1200*time.Millisecond {
		busy.send("", "1", "phoenix", "heartbeat", `{}`)
		busy.next()
		time.Sleep(50 * time.Millisecond)
	}
	if got := idle.closeStatus(5 * time.Second); got != StatusIdleTimeout {
		t.Fatalf("idle client close status = %v, want %v", got, StatusIdleTimeout)
	}
	busy.send("", "2", "phoenix", "heartbeat", `{}`)
	checkFrame(t, busy.next(), "null", "2", "phoenix", "phx_reply", "")
	if got := e.s.Stats().IdleTimeouts; got != 1 {
		t.Errorf("Stats().IdleTimeouts = %d, want 1", got)
	}
}

func TestPingDropsDeadLink(t *testing.T) {
	e := newEnv(t, Config{PingInterval: 50 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	e.dial(t, phoenix.V2) // never reads, so never answers pings
	waitFor(t, "the unanswered ping to drop the connection", func() bool {
		st := e.s.Stats()
		return st.DeadLinks == 1 && st.Connections == 0
	})
}
