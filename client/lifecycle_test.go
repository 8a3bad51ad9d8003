package client

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDialRefused: a bad apikey fails Dial with the server's answer.
func TestDialRefused(t *testing.T) {
	e := newEnv(t, false)
	_, err := Dial(testCtx(t), e.http.URL, Options{APIKey: "not-a-jwt"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Dial with a bad apikey = %v, want a 401", err)
	}
	if _, err := Dial(testCtx(t), e.http.URL, Options{}); err == nil {
		t.Error("Dial without an apikey succeeded")
	}
}

// TestReconnectDirect: a server shutdown (close 1012 to every socket)
// followed by a new server: the channel rejoins and broadcasts flow again.
func TestReconnectDirect(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial("", Options{})
	ch := c.Channel("room", ChannelConfig{Broadcast: BroadcastConfig{Self: true}})
	heard := make(chan Broadcast, 64)
	ch.OnBroadcast("ping", func(b Broadcast) { heard <- b })
	st := statuses(ch)
	subscribe(t, ch)
	waitStatus(t, st, StatusSubscribed)
	e.restart()
	waitStatus(t, st, StatusChannelError)
	waitStatus(t, st, StatusSubscribed)
	if err := ch.Send(testCtx(t), "ping", 1); err != nil {
		t.Fatal(err)
	}
	recv(t, heard, "own ping after the rejoin")
}

// TestUnsubscribe: an unsubscribed channel leaves the room and is closed;
// Channel then gives a new one, which can subscribe again.
func TestUnsubscribe(t *testing.T) {
	e := newEnv(t, false)
	c := e.dial("", Options{})
	other := e.dial("", Options{})
	och := other.Channel("room", ChannelConfig{})
	subscribe(t, och)
	ch := c.Channel("room", ChannelConfig{})
	heard := make(chan Broadcast, 64)
	ch.OnBroadcast("*", func(b Broadcast) { skipReady(heard, b) })
	st := statuses(ch)
	subscribe(t, ch)
	awaitRoom(t, och, ch)
	if err := ch.Unsubscribe(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, StatusClosed)
	if err := och.Send(testCtx(t), "after", 1); err != nil {
		t.Fatal(err)
	}
	none(t, heard, "a broadcast after Unsubscribe", 200*time.Millisecond)
	if err := ch.Send(testCtx(t), "x", 1); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("Send after Unsubscribe = %v, want ErrChannelClosed", err)
	}
	if err := ch.Subscribe(testCtx(t)); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("Subscribe after Unsubscribe = %v, want ErrChannelClosed", err)
	}
	again := c.Channel("room", ChannelConfig{})
	if again == ch {
		t.Fatal("Channel returned the closed channel")
	}
	subscribe(t, again)
	if err := c.Channel("never", ChannelConfig{}).Send(testCtx(t), "x", 1); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("Send before Subscribe = %v, want ErrNotSubscribed", err)
	}
}

// TestSlowCallbacks: when callbacks fall behind by more than QueueSize
// events, the client drops the connection rather than block its reader or
// grow without bound, reconnects, and delivers again once they catch up.
func TestSlowCallbacks(t *testing.T) {
	e := newEnv(t, false)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{QueueSize: 4})
	ch := c.Channel("room", ChannelConfig{})
	release := make(chan struct{})
	var handled atomic.Int32
	ch.OnBroadcast("flood", func(Broadcast) {
		<-release
		handled.Add(1)
	})
	st := statuses(ch)
	subscribe(t, ch)
	waitStatus(t, st, StatusSubscribed)
	sender := e.dial("", Options{})
	sch := sender.Channel("room", ChannelConfig{})
	subscribe(t, sch)
	awaitRoom(t, sch, ch)
	for i := range 20 {
		if err := sch.Send(testCtx(t), "flood", i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.dialCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.dialCount(); n < 2 {
		t.Fatalf("%d connections, want a reconnect after the queue overflowed", n)
	}
	close(release)
	waitStatus(t, st, StatusSubscribed)
	if n := handled.Load(); n < 4 || n >= 20 {
		t.Errorf("%d broadcasts handled, want the queued ones (at least 4) and not all 20", n)
	}
	awaitRoom(t, sch, ch) // delivers again
}

// TestConnectionOutlivesTimeout: Options.Timeout bounds the handshake, not
// the connection.
func TestConnectionOutlivesTimeout(t *testing.T) {
	e := newEnv(t, false)
	p := newProxy(t, e.http.URL)
	c := e.dial(p.http.URL, Options{Timeout: 100 * time.Millisecond})
	ch := c.Channel("room", ChannelConfig{Broadcast: BroadcastConfig{Ack: true}})
	subscribe(t, ch)
	time.Sleep(500 * time.Millisecond)
	if err := ch.Send(testCtx(t), "x", 1); err != nil {
		t.Fatal(err)
	}
	if n := p.dialCount(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
