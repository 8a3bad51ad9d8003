package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSetAuth: a channel joined with a token that is about to expire is
// closed by the server at the expiry, unless SetAuth (or AccessTokenFunc
// at a heartbeat) gave it a new token first.
func TestSetAuth(t *testing.T) {
	e := newEnv(t, false)
	short := signToken(t, 2*time.Second)
	type closed struct {
		st  Status
		err error
	}
	open := func(c *Client) (*Channel, chan closed) {
		ch := c.Channel("room", ChannelConfig{Broadcast: BroadcastConfig{Ack: true}})
		got := make(chan closed, 8)
		ch.OnStatus(func(st Status, err error) {
			if st == StatusClosed {
				got <- closed{st, err}
			}
		})
		subscribe(t, ch)
		return ch, got
	}

	expiring, expiringClosed := open(e.dial("", Options{AccessToken: short}))
	refreshed, refreshedClosed := open(e.dial("", Options{AccessToken: short}))
	var calls atomic.Int32
	byFunc, byFuncClosed := open(e.dial("", Options{
		AccessToken:       short,
		HeartbeatInterval: 200 * time.Millisecond,
		AccessTokenFunc: func(context.Context) (string, error) {
			if calls.Add(1) == 1 { // the join's: the short token
				return short, nil
			}
			return signToken(t, time.Hour), nil
		},
	}))
	if err := refreshed.c.SetAuth(testCtx(t), signToken(t, time.Hour)); err != nil {
		t.Fatal(err)
	}

	cl := recv(t, expiringClosed, "the expired channel's close")
	if cl.err == nil || !strings.Contains(cl.err.Error(), "expired") {
		t.Errorf("expired channel closed with %v, want the server's expiry message", cl.err)
	}
	if err := expiring.Send(testCtx(t), "x", 1); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("Send on the expired channel = %v, want ErrChannelClosed", err)
	}
	time.Sleep(time.Second) // past the short token's expiry for the others too
	for name, ch := range map[string]*Channel{"SetAuth": refreshed, "AccessTokenFunc": byFunc} {
		if err := ch.Send(testCtx(t), "x", 1); err != nil {
			t.Errorf("%s: acked Send after the old token expired = %v", name, err)
		}
	}
	none(t, refreshedClosed, "close of the refreshed channel", 10*time.Millisecond)
	none(t, byFuncClosed, "close of the channel refreshed by AccessTokenFunc", 10*time.Millisecond)
}
