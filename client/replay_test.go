package client

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestBroadcastReplay: a private channel that asks for a replay gets the
// room's earlier broadcasts once, in order, marked replayed, before the
// live ones; after a reconnect its rejoin replays only what was sent
// while it was away.
func TestBroadcastReplay(t *testing.T) {
	e := newEnv(t, true)
	p := newProxy(t, e.http.URL)
	start := time.Now()
	pub := e.dial("", Options{}).Channel("replay-room", ChannelConfig{Private: true, Broadcast: BroadcastConfig{Ack: true}})
	subscribe(t, pub)
	ctx := testCtx(t)
	send := func(from, to int) {
		t.Helper()
		for n := from; n <= to; n++ {
			if err := pub.Send(ctx, "n", map[string]int{"n": n}); err != nil { // acked: kept by the server
				t.Fatal(err)
			}
		}
	}
	send(1, 3)

	c := e.dial(p.http.URL, Options{})
	sub := c.Channel("replay-room", ChannelConfig{Private: true, Broadcast: BroadcastConfig{Replay: &ReplayConfig{Since: start}}})
	got := make(chan Broadcast, 64)
	sub.OnBroadcast("*", func(m Broadcast) { skipReady(got, m) })
	st := statuses(sub)
	subscribe(t, sub)
	awaitRoom(t, pub, sub)
	send(4, 5)
	expect := func(from, to int, replayed bool) {
		t.Helper()
		for n := from; n <= to; n++ {
			m := recv(t, got, fmt.Sprint("broadcast ", n))
			var body struct{ N int }
			if err := json.Unmarshal(m.Payload, &body); err != nil || body.N != n || m.Replayed != replayed {
				t.Fatalf("got %s (replayed %v, meta %s), want {\"n\":%d} replayed %v", m.Payload, m.Replayed, m.Meta, n, replayed)
			}
		}
	}
	expect(1, 3, true)
	expect(4, 5, false)
	none(t, got, "a broadcast twice", 300*time.Millisecond)

	// Away: what is sent meanwhile is replayed on the rejoin, and only that.
	p.setRefuse(true)
	p.cut()
	waitStatus(t, st, StatusChannelError)
	send(6, 7)
	p.setRefuse(false)
	waitStatus(t, st, StatusSubscribed)
	expect(6, 7, true)
	send(8, 8)
	expect(8, 8, false)
	none(t, got, "a broadcast twice", 300*time.Millisecond)
}
