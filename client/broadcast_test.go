package client

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// TestBroadcast: JSON and raw bytes between two vsn 2.0.0 clients, JSON to
// and from a vsn 1.0.0 client (text frames), self and ack.
func TestBroadcast(t *testing.T) {
	e := newEnv(t, false)
	a := e.dial("", Options{})
	b := e.dial("", Options{})
	v1 := e.dial("", Options{Version: phoenix.V1})

	chA := a.Channel("room", ChannelConfig{Broadcast: BroadcastConfig{Self: true, Ack: true}})
	chB := b.Channel("room", ChannelConfig{})
	chV1 := v1.Channel("room", ChannelConfig{})
	gotA, gotB, gotV1 := make(chan Broadcast, 8), make(chan Broadcast, 8), make(chan Broadcast, 8)
	chA.OnBroadcast("*", func(m Broadcast) { skipReady(gotA, m) })
	chB.OnBroadcast("CURSOR", func(m Broadcast) { gotB <- m }) // matched case-insensitively
	chB.OnBroadcast("blob", func(m Broadcast) { gotB <- m })
	chV1.OnBroadcast("*", func(m Broadcast) { skipReady(gotV1, m) })
	for _, ch := range []*Channel{chA, chB, chV1} {
		subscribe(t, ch)
	}
	awaitRoom(t, chA, chB, chV1)
	ctx := testCtx(t)

	if err := chA.Send(ctx, "cursor", map[string]int{"x": 9}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]chan Broadcast{"self": gotA, "b": gotB, "v1": gotV1} {
		m := recv(t, got, name+" cursor")
		if m.Event != "cursor" || string(m.Payload) != `{"x":9}` || m.Data != nil {
			t.Errorf("%s got %+v (payload %s), want cursor {\"x\":9}", name, m, m.Payload)
		}
	}

	blob := []byte{0, 1, 2, 0xff}
	if err := chA.SendBinary(ctx, "blob", blob); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, gotB, "blob"); m.Event != "blob" || !bytes.Equal(m.Data, blob) || m.Payload != nil {
		t.Errorf("b got %+v, want blob %v", m, blob)
	}
	if m := recv(t, gotA, "own blob"); !bytes.Equal(m.Data, blob) {
		t.Errorf("self got %+v, want blob", m)
	}
	none(t, gotV1, "binary payload on vsn 1.0.0", 200*time.Millisecond) // it has no text form

	if err := chV1.Send(ctx, "cursor", json.RawMessage(`{"from":"v1"}`)); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, gotB, "cursor from v1"); string(m.Payload) != `{"from":"v1"}` {
		t.Errorf("b got %+v from v1", m)
	}
	none(t, gotV1, "own broadcast without self", 200*time.Millisecond)
	if err := chV1.SendBinary(ctx, "blob", blob); err == nil {
		t.Error("SendBinary on vsn 1.0.0 succeeded")
	}
}

// TestBroadcastAckRefused: with ack, a payload over the server's limit is
// answered with an error, which Send returns.
func TestBroadcastAckRefused(t *testing.T) {
	e := newEnv(t, false)
	a := e.dial("", Options{})
	ch := a.Channel("room", ChannelConfig{Broadcast: BroadcastConfig{Ack: true}})
	subscribe(t, ch)
	big := bytes.Repeat([]byte("x"), 3_100_000)
	err := ch.SendBinary(testCtx(t), "big", big)
	var re *ReplyError
	if !errorsAs(err, &re) || re.Reason != "payload_size_exceeded" {
		t.Fatalf("Send of 3.1 MB = %v, want payload_size_exceeded", err)
	}
}

// skipReady passes on every broadcast but awaitRoom's.
func skipReady(got chan<- Broadcast, m Broadcast) {
	if m.Event != "test-room-ready" {
		got <- m
	}
}
