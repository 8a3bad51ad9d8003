package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// FuzzRelayedFramesAreValid feeds random frames, text and binary, from a
// client joined to a room to a live server, and checks that everything the
// other clients of the room (one per serializer) receive is valid for
// them: text frames UTF-8 JSON, binary frames well-formed kind 4 with
// UTF-8 header strings and, for a JSON payload, UTF-8 JSON. What the
// attacker's socket gets back (errors, closes) is its own business.
//
//	go test ./transport -run '^$' -fuzz FuzzRelayedFramesAreValid -fuzztime 60s
func FuzzRelayedFramesAreValid(f *testing.F) {
	const room = "realtime:fz"
	e := newEnv(f, Config{MessagesPerSecond: -1, JoinsPerSecond: -1, PresenceMaxCalls: -1, Logger: slog.New(slog.DiscardHandler)})
	receivers := []*client{e.dial(f, phoenix.V1), e.dial(f, phoenix.V2)}
	sender := e.dial(f, phoenix.V2)
	for _, c := range receivers {
		c.joinRoom(room, "1", false, false, false)
	}
	sender.joinRoom(room, "1", true, false, false) // hears its sentinel, to know it has read the rest

	bin := func(event, meta string, json bool, payload string) []byte {
		return phoenix.AppendBroadcastPush(nil, "1", "2", room, event, []byte(meta), json, []byte(payload))
	}
	for _, s := range []struct {
		binary, v1 bool
		data       []byte
	}{
		{false, false, []byte(`["1","2","realtime:fz","broadcast",{"type":"broadcast","event":"e","payload":{"a":"é"}}]`)},
		{false, true, []byte(`{"topic":"realtime:fz","event":"broadcast","payload":{"type":"broadcast","event":"e","payload":{}},"ref":"2","join_ref":"1"}`)},
		{false, false, []byte("[\"1\",\"2\",\"realtime:fz\",\"broadcast\",{\"s\":\"\xc3\x28\xff\"}]")},
		{false, false, []byte(`["1","2","realtime:fz","broadcast",` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `]`)},
		{false, false, []byte(`["1","2","realtime:fz","presence",{"type":"presence","event":"track","payload":{"x":1}}]`)},
		{true, false, bin("e", "", true, "{\"s\":\"\xc3\x28\xff\"}")},
		{true, false, bin("\xff", "", true, `{}`)},
		{true, false, bin("e", "{\"a\":\"\xff\"}", true, `{}`)},
		{true, false, bin("e", `{"persist":true}`, true, `{"a":[1,2,{"b":null}]}`)},
		{true, false, bin("e", "", false, "\xff\x00raw")},
		{true, false, bin("e", "", true, `{"a":`)},
		{true, false, []byte{3, 1, 1, 200, 1, 0, 1, '1', '2'}},
	} {
		f.Add(s.binary, s.v1, s.data)
	}

	n := 0
	f.Fuzz(func(t *testing.T, binary, v1 bool, data []byte) {
		vsn := phoenix.V2
		if v1 {
			vsn = phoenix.V1
		}
		attacker := e.dial(t, vsn)
		attacker.joinRoom(room, "1", true, true, false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		if attacker.ws.Write(ctx, typ, data) == nil {
			// Once the heartbeat is answered (or the server has closed
			// the socket) the frame has been handled: whatever it
			// published is queued ahead of the sentinel below.
			if attacker.ws.Write(ctx, websocket.MessageText, []byte(heartbeatFrame(vsn))) == nil {
				for {
					_, b, err := attacker.ws.Read(ctx)
					if err != nil || strings.Contains(string(b), `"hb-fuzz"`) {
						break
					}
				}
			}
		}
		attacker.ws.CloseNow()

		n++
		sentinel := fmt.Sprintf("sentinel-%d", n)
		push := fmt.Sprintf(`["1",null,%q,"broadcast",{"type":"broadcast","event":%q,"payload":{}}]`, room, sentinel)
		if err := sender.ws.Write(ctx, websocket.MessageText, []byte(push)); err != nil {
			t.Fatalf("sender: %v", err)
		}
		for _, r := range receivers {
			for {
				mt, b, err := r.ws.Read(ctx)
				if err != nil {
					t.Fatalf("vsn %v receiver: %v", r.vsn, err)
				}
				if err := checkRelayed(r.vsn, mt == websocket.MessageBinary, b); err != nil {
					t.Fatalf("vsn %v receiver, after %q: %v", r.vsn, data, err)
				}
				if mt == websocket.MessageText && isSentinel(b, sentinel) {
					break
				}
			}
		}
		// The sender hears the room too; drop what it got.
		for {
			_, b, err := sender.ws.Read(ctx)
			if err != nil {
				t.Fatalf("sender: %v", err)
			}
			if isSentinel(b, sentinel) {
				break
			}
		}
	})
}

func heartbeatFrame(vsn phoenix.Version) string {
	if vsn == phoenix.V1 {
		return `{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb-fuzz"}`
	}
	return `[null,"hb-fuzz","phoenix","heartbeat",{}]`
}

// isSentinel reports whether a text frame is the broadcast of event.
func isSentinel(b []byte, event string) bool {
	if !strings.Contains(string(b), event) {
		return false
	}
	var probe struct{ Event string }
	var a []json.RawMessage
	if json.Unmarshal(b, &a) == nil && len(a) == 5 {
		return json.Unmarshal(a[4], &probe) == nil && probe.Event == event
	}
	var o struct{ Payload json.RawMessage }
	return json.Unmarshal(b, &o) == nil && json.Unmarshal(o.Payload, &probe) == nil && probe.Event == event
}
