package transport

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/walcast/walcast/auth"
)

const oneBinding = `{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"}]}}`

const twoBindings = `{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos"},{"event":"*","schema":"public","table":"todos"}]}}`

const subscribedMsg = `{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"room"}`

func TestPostgresChangesFrames(t *testing.T) {
	data := `{"schema":"public","table":"todos","type":"INSERT","record":{"id":1}}`
	// Over the 32 KiB that a flusher copies: written with writev.
	big := `{"pad":"` + strings.Repeat("x", 3*32<<10) + `"}`
	tests := []struct {
		name string
		vsn  phoenix.Version
		ids  []uint64
		data string
		want string
	}{
		{"v2 one id", phoenix.V2, []uint64{101}, data, `[null,null,"realtime:room","postgres_changes",{"ids":[101],"data":` + data + `}]`},
		{"v2 two ids", phoenix.V2, []uint64{101, 102}, data, `[null,null,"realtime:room","postgres_changes",{"ids":[101,102],"data":` + data + `}]`},
		{"v2 streamed", phoenix.V2, []uint64{102}, big, `[null,null,"realtime:room","postgres_changes",{"ids":[102],"data":` + big + `}]`},
		{"v1 one id", phoenix.V1, []uint64{102}, data, `{"topic":"realtime:room","event":"postgres_changes","payload":{"ids":[102],"data":` + data + `},"ref":null}`},
		{"v1 two ids streamed", phoenix.V1, []uint64{101, 102}, big, `{"topic":"realtime:room","event":"postgres_changes","payload":{"ids":[101,102],"data":` + big + `},"ref":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dial(t, tc.vsn)
			c.join("realtime:room", "1", twoBindings)
			c.next() // system
			e.fake.deliver(tc.data, tc.ids...)
			f := c.next()
			if f.Raw != tc.want {
				if len(f.Raw) > 300 {
					f.Raw = f.Raw[:150] + "..." + f.Raw[len(f.Raw)-150:]
				}
				t.Fatalf("got  %s\nwant %.300s", f.Raw, tc.want)
			}
		})
	}
}

func TestDeliverChangeDoesNotAllocate(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", oneBinding)
	c.next()
	ch := findChannel(t, e, "realtime:room")
	conn := ch.c
	data := []byte(`{"type":"INSERT"}`)
	ch.mu.Lock() // the subscription set ids on a helper goroutine
	ids := []uint64{ch.ids[0]}
	ch.mu.Unlock()
	// Keep the writer from draining so only the enqueue is measured.
	var release func()
	waitFor(t, "the writer to be idle", func() bool {
		r, ok := conn.ws.HoldWrites()
		release = r
		return ok
	})
	defer release()
	for range 64 {
		ch.DeliverChange(ids, data) // grow the ring once
	}
	buf := conn.ws.TakeQueued(nil)
	allocs := testing.AllocsPerRun(100, func() {
		for range 32 {
			ch.DeliverChange(ids, data)
		}
		buf = conn.ws.TakeQueued(buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("32 DeliverChange calls allocate %v times, want 0", allocs)
	}
}

func findChannel(t testing.TB, e *testEnv, topic string) *channel {
	t.Helper()
	var ch *channel
	waitFor(t, "channel "+topic, func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		for c := range e.s.conns {
			if ch = c.channel(topic); ch != nil {
				return true
			}
		}
		return false
	})
	return ch
}

func TestSubscribedAfterLive(t *testing.T) {
	e := newEnv(t, Config{})
	e.fake = newFakeChanges(false)
	e.s.changes = e.fake
	c := e.dial(t, phoenix.V2)
	checkFrame(t, c.join("realtime:room", "1", oneBinding), "1", "1", "realtime:room", "phx_reply", "")
	// Not live: the channel is joined but the status waits.
	c.send("", "2", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c.next(), "null", "2", "phoenix", "phx_reply", "")
	e.fake.setLive()
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
}

func TestSubscribeError(t *testing.T) {
	e := newEnv(t, Config{})
	e.fake.setSubscribeError(errors.New("Unable to subscribe to changes with given parameters"))
	c := e.dial(t, phoenix.V2)
	checkFrame(t, c.join("realtime:room", "1", oneBinding), "1", "1", "realtime:room", "phx_reply",
		`{"status":"ok","response":{"postgres_changes":[{"event":"*","schema":"public","table":"todos","id":101}]}}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system",
		`{"extension":"postgres_changes","status":"error","message":"Unable to subscribe to changes with given parameters","channel":"room"}`)
}

func TestNoDispatcher(t *testing.T) {
	e := newEnv(t, Config{})
	e.s.changes = nil
	c := e.dial(t, phoenix.V2)
	reply := c.join("realtime:room", "1", oneBinding)
	if !strings.Contains(string(reply.Payload), `"status":"ok"`) || !strings.Contains(string(reply.Payload), `"id":`) {
		t.Fatalf("reply = %s, want ok with an id", reply)
	}
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system",
		`{"extension":"postgres_changes","status":"error","message":"postgres_changes are not enabled on this server","channel":"room"}`)
}

func TestWaitOption(t *testing.T) {
	withWait := func(timeoutMs int) string {
		return `{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"}],"postgres_changes_options":{"wait":true,"timeout":` +
			itoa(timeoutMs) + `}}}`
	}
	t.Run("live", func(t *testing.T) {
		e := newEnv(t, Config{})
		c := e.dial(t, phoenix.V2)
		checkFrame(t, c.join("realtime:room", "1", withWait(1000)), "1", "1", "realtime:room", "phx_reply",
			`{"status":"ok","response":{"postgres_changes":[{"event":"*","schema":"public","table":"todos","id":101}]}}`)
		checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	})
	t.Run("becomes live", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.fake = newFakeChanges(false)
		e.s.changes = e.fake
		c := e.dial(t, phoenix.V2)
		c.send("1", "1", "realtime:room", evJoin, withWait(10000))
		c.send("", "2", "phoenix", "heartbeat", `{}`)
		// The heartbeat is answered while the join waits.
		checkFrame(t, c.next(), "null", "2", "phoenix", "phx_reply", "")
		e.fake.setLive()
		checkFrame(t, c.next(), "1", "1", "realtime:room", "phx_reply", "")
		checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	})
	t.Run("timeout", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.fake = newFakeChanges(false)
		e.s.changes = e.fake
		c := e.dial(t, phoenix.V2)
		checkFrame(t, c.join("realtime:room", "1", withWait(100)), "1", "1", "realtime:room", "phx_reply",
			`{"status":"error","response":{"reason":"PostgresChangesSubscribeTimeout: Timed out after 100ms waiting for the postgres_changes subscription"}}`)
		waitFor(t, "unsubscribe", func() bool { return e.fake.subscribers() == 0 })
		// The topic is free again.
		c.send("1", "3", "realtime:room", "custom", `{}`)
		checkFrame(t, c.next(), "null", "3", "realtime:room", "phx_reply", `{"status":"error","response":{"reason":"unmatched topic"}}`)
	})
	t.Run("refused binding", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.fake.setSubscribeError(errors.New("bad filter"))
		c := e.dial(t, phoenix.V2)
		checkFrame(t, c.join("realtime:room", "1", withWait(1000)), "1", "1", "realtime:room", "phx_reply",
			`{"status":"error","response":{"reason":"RealtimeDisabledForConfiguration: bad filter"}}`)
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTokenExpiry(t *testing.T) {
	// The channel's expiry timer runs on the real clock, while the verifier
	// is told it is 15 s earlier: a token that expired 10 s ago is accepted
	// at join and expires at once.
	v := auth.NewVerifier(testSecret, auth.WithClock(func() time.Time { return time.Now().Add(-15 * time.Second) }))
	e := newEnv(t, Config{Verifier: v})
	c := e.dial(t, phoenix.V2)
	expired := token(t, -10*time.Second)
	checkFrame(t, c.join("realtime:room", "1", `{"access_token":"`+expired+`","config":{"postgres_changes":[{"event":"*","schema":"public"}]}}`),
		"1", "1", "realtime:room", "phx_reply", "")
	var sys frame
	for sys = c.next(); sys.Event == "system" && strings.Contains(string(sys.Payload), "Subscribed"); sys = c.next() {
	}
	checkFrame(t, sys, "1", "null", "realtime:room", "system", "")
	if !jsonEqual(t, sys.Payload, `{"extension":"system","status":"error","message":"Token has expired 10 seconds ago","channel":"room"}`) &&
		!jsonEqual(t, sys.Payload, `{"extension":"system","status":"error","message":"Token has expired 11 seconds ago","channel":"room"}`) {
		t.Errorf("system payload = %s", sys.Payload)
	}
	checkFrame(t, c.next(), "1", "1", "realtime:room", "phx_close", `{}`)
	waitFor(t, "unsubscribe", func() bool { return e.fake.subscribers() == 0 })
}

func TestTokenExpiryOnTime(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	tok := token(t, 1500*time.Millisecond) // exp is whole seconds: 1 or 2 s from now
	start := time.Now()
	c.join("realtime:room", "1", `{"access_token":"`+tok+`"}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", `{"extension":"system","status":"error","message":"Token has expired 0 seconds ago","channel":"room"}`)
	checkFrame(t, c.next(), "1", "1", "realtime:room", "phx_close", `{}`)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("channel closed after %v, before its token expired", d)
	}
}

func TestAccessToken(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	first := token(t, time.Hour)
	c.join("realtime:room", "1", `{"access_token":"`+first+`","config":{"postgres_changes":[{"event":"*","schema":"public"}]}}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)

	// Same token, null, missing and sb_ keys are ignored without a reply.
	c.send("1", "2", "realtime:room", evAccessToken, `{"access_token":"`+first+`"}`)
	c.send("1", "3", "realtime:room", evAccessToken, `{"access_token":null}`)
	c.send("1", "4", "realtime:room", evAccessToken, `{}`)
	c.send("1", "5", "realtime:room", evAccessToken, `{"access_token":"sb_publishable_abc"}`)
	// A new valid token re-reports the subscription, without a reply.
	second := token(t, 2*time.Hour)
	c.send("1", "6", "realtime:room", evAccessToken, `{"access_token":"`+second+`"}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system", subscribedMsg)
	ch := findChannel(t, e, "realtime:room")
	ch.mu.Lock()
	exp := ch.exp
	ch.mu.Unlock()
	if time.Until(exp) < 90*time.Minute {
		t.Errorf("claims expire at %v, want the new token's expiry", exp)
	}
	// The dispatcher re-authorizes the bindings with the new claims.
	e.fake.mu.Lock()
	v := e.fake.viewers[ch]
	e.fake.mu.Unlock()
	if v == nil || v.Role != "anon" || jsonNumber(v.Claims["exp"]) != strconv.FormatInt(exp.Unix(), 10) {
		t.Errorf("SetViewer got %+v, want the new token's role and claims", v)
	}
	// A refusal of the new viewer is reported as the subscription's error.
	e.fake.mu.Lock()
	e.fake.setViewerErr = errors.New("Error 401: Unauthorized")
	e.fake.mu.Unlock()
	c.send("1", "8", "realtime:room", evAccessToken, `{"access_token":"`+token(t, 3*time.Hour)+`"}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system",
		`{"extension":"postgres_changes","status":"error","message":"Error 401: Unauthorized","channel":"room"}`)

	// An invalid one closes the channel.
	c.send("1", "7", "realtime:room", evAccessToken, `{"access_token":"not-a-jwt"}`)
	checkFrame(t, c.next(), "1", "null", "realtime:room", "system",
		`{"extension":"system","status":"error","message":"The token provided is not a valid JWT","channel":"room"}`)
	checkFrame(t, c.next(), "1", "1", "realtime:room", "phx_close", `{}`)
	waitFor(t, "unsubscribe", func() bool { return e.fake.subscribers() == 0 })
}

func TestNoChangesOutsideJoinedState(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dial(t, phoenix.V2)
	c.join("realtime:room", "1", oneBinding)
	c.next()
	ch := findChannel(t, e, "realtime:room")
	c.send("1", "2", "realtime:room", evLeave, `{}`)
	c.next() // leave reply
	c.next() // phx_close
	// The dispatcher may still call a sink once after Unsubscribe.
	ch.DeliverChange([]uint64{101}, []byte(`{}`))
	c.send("", "3", "phoenix", "heartbeat", `{}`)
	checkFrame(t, c.next(), "null", "3", "phoenix", "phx_reply", "")
}
