package fanout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/bench/harness"
)

// publishers are the room's senders. For walcast: vsn 2.0.0 sockets
// joined with self:false that send what realtime-js's channel.send sends, a
// binary kind-3 user broadcast with a JSON payload. For Centrifugo: sockets
// that connect without subscribing and send client-side publish commands
// (what centrifuge-js's client.publish sends) with the same JSON as data.
// The load is spread over several sockets because walcast, like Supabase,
// limits each connection to 100 messages/s by default; each publisher
// stays below perConn, and Centrifugo gets the same number of them.
type publishers struct {
	proto   string
	channel string
	conns   []*harness.RoomConn
	w       *harness.Window // what the publishers receive from each other
	payload int             // bytes of each broadcast payload
	sent    atomic.Int64
}

func startPublishers(ctx context.Context, proto, url string, n, payload int) (*publishers, error) {
	p := &publishers{proto: proto, channel: harness.ChannelName(proto, harness.FanoutChannel), conns: make([]*harness.RoomConn, n), w: &harness.Window{}, payload: payload}
	client := harness.SourceClient("127.0.0.1")
	err := harness.DialAll(ctx, n, 8, func(ctx context.Context, i int) error {
		var c *harness.RoomConn
		var err error
		if harness.IsCentrifugo(proto) {
			c, err = harness.DialCentrifugo(ctx, proto, client, url, "", p.w)
		} else {
			c, err = harness.DialRoom(ctx, client, nil, url, "2.0.0", p.channel, p.w)
		}
		p.conns[i] = c
		return err
	})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("connect publishers: %w", err)
	}
	return p, nil
}

// run publishes rate messages a second in all, from now until `to` (Unix
// ns), counting those sent inside [from, to). Each message carries its
// send time.
func (p *publishers) run(ctx context.Context, rate float64, from, to int64) error {
	p.w.From.Store(from)
	p.w.To.Store(to)
	start := time.Now()
	k := len(p.conns)
	errs := make(chan error, k)
	var wg sync.WaitGroup
	for i, c := range p.conns {
		wg.Go(func() {
			// Message j of publisher i is due at (j*k + i) / rate.
			frame := make([]byte, 0, 256)
			for j := 0; ; j++ {
				due := start.Add(time.Duration(float64(j*k+i) / rate * float64(time.Second)))
				if due.UnixNano() >= to {
					return
				}
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				now, seq := time.Now().UnixNano(), int64(j*k+i)
				kind := websocket.MessageBinary
				switch p.proto {
				case harness.ProtoCentrifugo:
					// Ids below 3 belong to connect and subscribe.
					frame, kind = harness.CentrifugoPublish(frame[:0], int64(j+3), p.channel, now, seq, p.payload), websocket.MessageText
				case harness.ProtoCentrifugoProtobuf:
					frame = harness.CentrifugoPublishProtobuf(frame[:0], int64(j+3), p.channel, now, seq, p.payload)
				default:
					frame = broadcastPush(frame[:0], p.channel, harness.FanoutEvent, now, seq, p.payload)
				}
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := c.Ws.Write(wctx, kind, frame)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("publisher %d: %w", i+1, err)
					return
				}
				if now >= from {
					p.sent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// kicked returns an error when a publisher's socket ended: the server
// shut it down (a rate limit) or dropped it; or when Centrifugo refused
// publishes.
func (p *publishers) kicked() error {
	for i, c := range p.conns {
		select {
		case <-c.Done:
			return fmt.Errorf("publisher %d lost its socket (%v); lower --per-publisher", i+1, c.ReadErr)
		default:
		}
		if n := c.Refused.Load(); n > 0 {
			return fmt.Errorf("publisher %d: the server refused %d publishes (%s); check the Centrifugo config", i+1, n, *c.Refusal.Load())
		}
	}
	return nil
}

func (p *publishers) close() {
	for _, c := range p.conns {
		if c != nil {
			c.Ws.CloseNow()
			<-c.Done
		}
	}
}

// broadcastPush is harness.BroadcastPush: a kind-3 user broadcast push.
func broadcastPush(dst []byte, topic, event string, t, seq int64, size int) []byte {
	return harness.BroadcastPush(dst, topic, event, t, seq, size)
}
