package transport

import (
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

func TestBucket(t *testing.T) {
	var b bucket
	now := time.Unix(1000, 0)
	for i := range 10 {
		if !b.take(now, 2, 10, 1) {
			t.Fatalf("take %d of a full bucket of 10 refused", i+1)
		}
	}
	if b.take(now, 2, 10, 1) {
		t.Fatal("11th take in the same instant allowed")
	}
	// 2 per second: after 1.5 s three tokens are back.
	now = now.Add(1500 * time.Millisecond)
	for i := range 3 {
		if !b.take(now, 2, 10, 1) {
			t.Fatalf("take %d after refilling refused", i+1)
		}
	}
	if b.take(now, 2, 10, 1) {
		t.Fatal("take past the refill allowed")
	}
	// Refills stop at the burst.
	now = now.Add(time.Hour)
	if !b.take(now, 2, 10, 10) || b.take(now, 2, 10, 1) {
		t.Fatal("bucket did not refill to exactly its burst")
	}
	if !b.take(now, 0, 0, 1e9) {
		t.Fatal("rate 0 must not limit")
	}
}

func TestJoinRateLimit(t *testing.T) {
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			e := newEnv(t, Config{JoinsPerSecond: 3})
			c := e.dial(t, vsn)
			for _, topic := range []string{"realtime:a", "realtime:b", "realtime:c"} {
				c.joinRoom(topic, "1", false, false, false)
			}
			f := c.join("realtime:d", "2", `{}`)
			jr := "2"
			if vsn == phoenix.V1 {
				jr = "null" // the V1 serializer has no join_ref
			}
			checkFrame(t, f, jr, "2", "realtime:d", "phx_reply",
				`{"status":"error","response":{"reason":"ClientJoinRateLimitReached: Too many joins per second"}}`)
			// The joined channels are untouched, and a second later joins pass again.
			time.Sleep(400 * time.Millisecond)
			c.joinRoom("realtime:d", "3", false, false, false)
		})
	}
}

func TestMessageRateLimit(t *testing.T) {
	for _, vsn := range versions {
		t.Run(vsn.String(), func(t *testing.T) {
			// 2 per second averaged over 5 s: a burst of 10 passes.
			e := newEnv(t, Config{MessagesPerSecond: 2})
			c, r := e.dial(t, vsn), e.dial(t, phoenix.V2)
			c.joinRoom(room, "6", false, false, false)
			r.joinRoom(room, "6", false, false, false)
			payload := `{"type":"broadcast","event":"e","payload":{}}`
			for range 11 {
				c.pushText("6", "7", room, payload)
			}
			jr := "6"
			if vsn == phoenix.V1 {
				jr = "null"
			}
			got := c.sync()
			sys := `{"extension":"system","status":"error","message":"Too many messages per second","channel":"room1"}`
			if len(got) != 2 {
				t.Fatalf("sender got %v, want a system error and phx_close", got)
			}
			for i, want := range []struct{ ref, event, payload string }{{"null", "system", sys}, {"6", "phx_close", `{}`}} {
				f, err := parseRaw(vsn, got[i])
				if err != nil {
					t.Fatal(err)
				}
				checkFrame(t, f, jr, want.ref, room, want.event, want.payload)
			}
			want := make([]rawFrame, 10)
			for i := range want {
				want[i] = textBroadcast(phoenix.V2, room, payload)
			}
			expectFrames(t, "receiver", r.sync(), want...)
			if n := e.s.hub.Subscribers(roomKey(false, "room1")); n != 1 {
				t.Errorf("room has %d subscribers after the close, want 1", n)
			}
		})
	}
}
