package client

import (
	"context"
	"log/slog"
	"testing"

	"github.com/walcast/walcast/phoenix"
)

// fuzzClient is a client without a connection whose channel "realtime:f"
// is joined (join_ref "1") with a postgres_changes binding (id 7), a
// broadcast callback and presence callbacks.
func fuzzClient() (*Client, *Channel) {
	c := &Client{
		opts:     Options{Version: phoenix.V2, QueueSize: 64},
		log:      slog.New(slog.DiscardHandler),
		events:   make(chan func(), 64),
		channels: map[string]*Channel{},
		pending:  map[string]*pending{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ch := newChannel(c, "realtime:f", "f", ChannelConfig{})
	ch.state, ch.joinRef, ch.live = stateJoined, "1", true
	ch.cursor = "0000000001A2B3C8-00000005" // changes at or before it are duplicates
	ch.bindings = []*binding{{filter: PostgresChangesFilter{Table: "t"}, fn: func(Change) {}, id: "7"}}
	ch.OnBroadcast("*", func(Broadcast) {})
	ch.OnSystem(func(System) {})
	ch.OnGap(func(Gap) {})
	ch.OnPresenceSync(func(PresenceState) {})
	ch.OnPresenceJoin(func(string, []Presence, []Presence) {})
	ch.OnPresenceLeave(func(string, []Presence, []Presence) {})
	c.channels[ch.topic] = ch
	return c, ch
}

// FuzzRoute: whatever a server sends, routing it and running the callbacks
// it queues never panics, and a cursor never goes backwards.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{
		`[null,null,"realtime:f","postgres_changes",{"ids":[7],"data":{"type":"INSERT","record":{"id":1},"cursor":"0000000001A2B3C8-00000001"}}]`,
		`[null,null,"realtime:f","postgres_changes",{"ids":[7],"data":{"type":"UPDATE","commit_timestamp":"2025-01-01T00:00:00.000Z","columns":[{"name":"id","type":"int4"}],"record":{},"old_record":{},"errors":["Error 413: Payload Too Large"]}}]`,
		`[null,null,"realtime:f","broadcast",{"type":"broadcast","event":"e","payload":{"x":1},"meta":{"id":"1"}}]`,
		`["1",null,"realtime:f","presence_state",{"a":{"metas":[{"phx_ref":"r1","name":"x"}]}}]`,
		`[null,null,"realtime:f","presence_diff",{"joins":{"b":{"metas":[{"phx_ref":"r2"}]}},"leaves":{"a":{"metas":[{"phx_ref":"r1"}]}}}]`,
		`["1",null,"realtime:f","system",{"extension":"postgres_changes","status":"gap","message":"m","channel":"f","after":"a","oldest":"b"}]`,
		`["1",null,"realtime:f","system",{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"f"}]`,
		`["1","1","realtime:f","phx_close",{}]`,
		`[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]`,
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, phoenix.AppendBroadcastBinary(nil, "realtime:f", "e", []byte(`{"id":"1"}`), false, []byte{1, 2}))
	f.Fuzz(func(t *testing.T, binary bool, data []byte) {
		c, ch := fuzzClient()
		defer c.cancel()
		c.register("9", nil)
		var m phoenix.Message
		var err error
		if binary {
			m, err = phoenix.DecodeBroadcast(data)
		} else {
			m, err = phoenix.DecodeText(phoenix.V2, data)
		}
		if err != nil {
			return
		}
		before := ch.Cursor()
		c.route(m)
		if after := ch.Cursor(); !cursorAfter(before, after) && after != before {
			t.Fatalf("cursor went from %q to %q", before, after)
		}
		for {
			select {
			case fn := <-c.events:
				fn()
			default:
				return
			}
		}
	})
}
