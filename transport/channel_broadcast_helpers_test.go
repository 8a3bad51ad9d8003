package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
)

// rawFrame is a server frame as it came off the socket.
type rawFrame struct {
	binary bool
	data   string
}

func (f rawFrame) String() string {
	if f.binary {
		return fmt.Sprintf("binary %q", f.data)
	}
	return f.data
}

func (c *client) readRaw(timeout time.Duration) (rawFrame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	return rawFrame{binary: typ == websocket.MessageBinary, data: string(b)}, err
}

var heartbeatRefs atomic.Int64

// sync sends a heartbeat and returns every frame that arrived before its
// reply. Frames a socket's read loop queued before handling the heartbeat
// precede the reply, so once a sender has synced, whatever its pushes
// published to other sockets sits in their queues ahead of any reply they
// give later.
func (c *client) sync() []rawFrame {
	c.t.Helper()
	ref := "hb" + strconv.FormatInt(heartbeatRefs.Add(1), 10)
	c.send("", ref, "phoenix", "heartbeat", `{}`)
	var got []rawFrame
	for {
		f, err := c.readRaw(10 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v (after %v)", err, got)
		}
		if !f.binary && isReplyTo(c.vsn, f.data, ref) {
			return got
		}
		got = append(got, f)
	}
}

func isReplyTo(vsn phoenix.Version, data, ref string) bool {
	var topic, r string
	if vsn == phoenix.V2 {
		var a []json.RawMessage
		if json.Unmarshal([]byte(data), &a) != nil || len(a) < 5 {
			return false
		}
		json.Unmarshal(a[1], &r)
		json.Unmarshal(a[2], &topic)
	} else {
		var o struct{ Topic, Ref string }
		if json.Unmarshal([]byte(data), &o) != nil {
			return false
		}
		topic, r = o.Topic, o.Ref
	}
	return topic == topicPhoenix && r == ref
}

// expectFrames fails unless got is exactly want.
func expectFrames(t testing.TB, who string, got []rawFrame, want ...rawFrame) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s received\n  %v\nwant\n  %v", who, got, want)
	}
}

func text(s string) rawFrame   { return rawFrame{data: s} }
func binary(b []byte) rawFrame { return rawFrame{binary: true, data: string(b)} }

// joinRoom joins topic with the given broadcast options and checks the
// reply. The channel enters its room just after queuing the reply, so it
// syncs before returning: once a later heartbeat is answered, the channel
// is in the room. What arrived meanwhile (presence_state) is dropped.
func (c *client) joinRoom(topic, joinRef string, self, ack, private bool) {
	c.t.Helper()
	f := c.join(topic, joinRef, fmt.Sprintf(`{"config":{"broadcast":{"self":%t,"ack":%t},"private":%t}}`, self, ack, private))
	if !jsonEqual(c.t, f.Payload, `{"status":"ok","response":{"postgres_changes":[]}}`) {
		c.t.Fatalf("join %s: %s", topic, f)
	}
	c.sync()
}

// pushText sends a text broadcast push with the payload exactly as given.
func (c *client) pushText(joinRef, ref, topic, payload string) {
	c.t.Helper()
	var b string
	if c.vsn == phoenix.V2 {
		b = fmt.Sprintf(`[%q,%q,%q,"broadcast",%s]`, joinRef, ref, topic, payload)
	} else {
		b = fmt.Sprintf(`{"topic":%q,"event":"broadcast","payload":%s,"ref":%q,"join_ref":%q}`, topic, payload, ref, joinRef)
	}
	c.sendRaw(websocket.MessageText, []byte(b))
}

// textBroadcast is the text frame a socket of vsn receives for payload.
func textBroadcast(vsn phoenix.Version, topic, payload string) rawFrame {
	if vsn == phoenix.V2 {
		return text(fmt.Sprintf(`[null,null,%q,"broadcast",%s]`, topic, payload))
	}
	return text(fmt.Sprintf(`{"topic":%q,"event":"broadcast","payload":%s,"ref":null}`, topic, payload))
}

// replyFrame is the phx_reply a socket of vsn receives.
func replyFrame(vsn phoenix.Version, joinRef, ref, topic, payload string) rawFrame {
	if vsn == phoenix.V2 {
		return text(fmt.Sprintf(`[%q,%q,%q,"phx_reply",%s]`, joinRef, ref, topic, payload))
	}
	return text(fmt.Sprintf(`{"topic":%q,"event":"phx_reply","payload":%s,"ref":%q}`, topic, payload, ref))
}

// parseRaw decodes a text frame of a vsn socket like client.read does.
func parseRaw(vsn phoenix.Version, r rawFrame) (frame, error) {
	f := frame{Raw: r.data}
	if r.binary {
		return f, fmt.Errorf("unexpected binary frame %q", r.data)
	}
	b := []byte(r.data)
	if vsn == phoenix.V2 {
		var a []json.RawMessage
		if err := json.Unmarshal(b, &a); err != nil || len(a) != 5 {
			return f, fmt.Errorf("not a 5-element array (%v): %s", err, b)
		}
		f.Payload = a[4]
		return f, firstErr(json.Unmarshal(a[0], &f.JoinRef), json.Unmarshal(a[1], &f.Ref),
			json.Unmarshal(a[2], &f.Topic), json.Unmarshal(a[3], &f.Event))
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(b, &o); err != nil {
		return f, err
	}
	f.Payload = o["payload"]
	return f, firstErr(json.Unmarshal(o["ref"], &f.Ref), json.Unmarshal(o["topic"], &f.Topic), json.Unmarshal(o["event"], &f.Event))
}
