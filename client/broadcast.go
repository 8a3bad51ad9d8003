package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// Broadcast is one broadcast message.
type Broadcast struct {
	Event string
	// Payload is a JSON payload (a text broadcast, or a binary one with a
	// JSON payload); nil for raw bytes.
	Payload json.RawMessage
	// Data is a raw-bytes payload (SendBinary, or REST with
	// application/octet-stream); nil for JSON.
	Data []byte
	// Meta is the server's metadata (e.g. {"id": ...} for broadcasts from
	// the database), or nil.
	Meta json.RawMessage
	// Replayed marks a broadcast sent before the channel joined, which
	// the join asked for (BroadcastConfig.Replay): meta.replayed.
	Replayed bool
}

// broadcastWire is config.broadcast as a join sends it.
type broadcastWire struct {
	Self   bool        `json:"self"`
	Ack    bool        `json:"ack"`
	Replay *replayWire `json:"replay,omitempty"`
}

type replayWire struct {
	Since int64 `json:"since"` // milliseconds since the epoch
	Limit int   `json:"limit,omitempty"`
}

// broadcastWire is the channel's config.broadcast for its next join. The
// first join replays from ReplayConfig.Since; a rejoin from just after
// the newest broadcast the channel has queued for its callbacks (or from
// Since again when it got none), so that it gets what was sent while it
// was away and not again what it had. ch.mu must be held.
func (ch *Channel) broadcastWire() broadcastWire {
	b := ch.cfg.Broadcast
	w := broadcastWire{Self: b.Self, Ack: b.Ack}
	if r := b.Replay; r != nil {
		since := r.Since.UnixMilli()
		if !ch.lastBcast.IsZero() {
			// Any broadcast the server kept before this one reached us
			// was kept before it: the next millisecond on is what we may
			// have missed.
			since = ch.lastBcast.UnixMilli() + 1
		}
		w.Replay = &replayWire{Since: since, Limit: r.Limit}
	}
	return w
}

type broadcastHandler struct {
	event string
	fn    func(Broadcast)
}

// OnBroadcast registers fn for the broadcasts whose event equals event
// (case-insensitively, as realtime-js matches), or every broadcast for
// "*". It may be called at any time.
func (ch *Channel) OnBroadcast(event string, fn func(Broadcast)) {
	ch.mu.Lock()
	ch.bcast = append(ch.bcast, broadcastHandler{event, fn})
	ch.mu.Unlock()
}

// Send broadcasts payload (encoded with encoding/json; a json.RawMessage
// is sent as is) under event to the channel's room. Under vsn 2.0.0 it
// goes as a binary frame with a JSON payload, as realtime-js sends it.
//
// It waits until the channel is joined (while it rejoins after a
// disconnect, say) or ctx is done. With BroadcastConfig.Ack it then waits
// for the server's reply and returns a *ReplyError for a refusal (e.g.
// payload_size_exceeded); without, it returns once the frame is written.
func (ch *Channel) Send(ctx context.Context, event string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("realtime broadcast %q: encode payload: %w", event, err)
	}
	return ch.send(ctx, event, true, data)
}

// SendBinary broadcasts raw bytes under event (vsn 2.0.0 only: 1.0.0 has
// no binary frames). Receivers get them in Broadcast.Data; vsn 1.0.0
// receivers do not get them at all.
func (ch *Channel) SendBinary(ctx context.Context, event string, data []byte) error {
	if ch.c.opts.Version == phoenix.V1 {
		return errors.New("realtime broadcast: binary payloads need vsn 2.0.0 (Options.Version)")
	}
	return ch.send(ctx, event, false, data)
}

func (ch *Channel) send(ctx context.Context, event string, jsonPayload bool, data []byte) error {
	s, joinRef, err := ch.waitJoined(ctx)
	if err != nil {
		return err
	}
	c := ch.c
	ref := c.nextRef()
	var frame []byte
	typ := websocket.MessageBinary
	if s.version == phoenix.V2 && phoenix.BroadcastBinaryFits(ch.topic, event, nil) && len(joinRef) <= 255 && len(ref) <= 255 {
		frame = phoenix.AppendBroadcastPush(nil, joinRef, ref, ch.topic, event, nil, jsonPayload, data)
	} else {
		if !jsonPayload {
			return fmt.Errorf("realtime broadcast %q: topic or event longer than 255 bytes: a binary payload cannot be sent", event)
		}
		typ = websocket.MessageText
		frame = phoenix.AppendPush(nil, s.version, phoenix.Message{JoinRef: joinRef, Ref: ref, Topic: ch.topic, Event: "broadcast",
			Payload: phoenix.AppendBroadcastPayload(nil, event, nil, data)})
	}
	if !ch.cfg.Broadcast.Ack {
		return s.write(ctx, typ, frame)
	}
	replied := c.register(ref, nil)
	defer c.unregister(ref)
	if err := s.write(ctx, typ, frame); err != nil {
		return err
	}
	r, err := c.await(ctx, s, replied)
	if err != nil {
		return err
	}
	if r.Status != "ok" {
		return &ReplyError{Op: "broadcast", Topic: ch.topic, Reason: r.reason()}
	}
	return nil
}

// handleBroadcast queues a broadcast for its callbacks (reader goroutine).
func (ch *Channel) handleBroadcast(m phoenix.Message) bool {
	var b Broadcast
	if m.Binary {
		b = Broadcast{Event: m.UserEvent, Meta: m.Metadata}
		if m.JSONPayload {
			b.Payload = json.RawMessage(m.Data)
		} else {
			b.Data = m.Data
		}
	} else {
		var w struct {
			Event   *string         `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Meta    json.RawMessage `json:"meta"`
		}
		if err := json.Unmarshal(m.Payload, &w); err != nil || w.Event == nil {
			ch.c.log.Warn("realtime: malformed broadcast dropped", "topic", ch.topic, "error", err)
			return true
		}
		b = Broadcast{Event: *w.Event, Payload: w.Payload, Meta: w.Meta}
		if isJSONNull(b.Meta) {
			b.Meta = nil
		}
	}
	if len(b.Meta) > 0 {
		var meta struct {
			Replayed bool `json:"replayed"`
		}
		_ = json.Unmarshal(b.Meta, &meta) // a meta that is not an object marks nothing
		b.Replayed = meta.Replayed
	}
	now := time.Now()
	ch.mu.Lock()
	var fns []func(Broadcast)
	for _, h := range ch.bcast {
		if h.event == "*" || strings.EqualFold(h.event, b.Event) {
			fns = append(fns, h.fn)
		}
	}
	ch.mu.Unlock()
	if len(fns) > 0 && !ch.c.enqueue(func() {
		for _, fn := range fns {
			fn(b)
		}
	}) {
		return false // not queued: a rejoin may replay it
	}
	ch.mu.Lock()
	ch.lastBcast = now
	ch.mu.Unlock()
	return true
}
