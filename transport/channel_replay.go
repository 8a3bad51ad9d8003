package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Broadcast replay, Supabase's config.broadcast.replay of a private
// channel's join: {"since": <ms since the epoch>, "limit": <1..25>}. The
// channel gets the newest retained broadcasts of its room sent at or after
// since, at most limit, oldest first, each with meta.replayed = true,
// right after its join reply and before any live broadcast.

// Bounds of a replay, Supabase's.
const (
	maxReplayLimit     = 25
	defaultReplayLimit = 25
)

// Join refusals of a replay, Supabase's texts.
const (
	replayPublicRefused = "UnableToReplayMessages: Replay is not allowed for public channels"
	replayInvalid       = "UnableToReplayMessages: Replay params are not valid"
)

// replayRequest is a validated config.broadcast.replay.
type replayRequest struct {
	since time.Time
	limit int
}

var errReplayParams = errors.New("replay params are not valid")

// parseReplay validates config.broadcast.replay (an object, as
// phoenix.ParseJoin checked): since is required and an integer number of
// milliseconds since the epoch within the years -9999 to 9999 (what
// Supabase, in Elixir, takes);
// limit is optional (25) and an integer, clamped to 1..25 as Supabase
// does. Other keys are ignored.
func parseReplay(raw json.RawMessage) (replayRequest, error) {
	var p map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&p); err != nil {
		return replayRequest{}, errReplayParams
	}
	since, ok := jsonInt(p["since"])
	if !ok || since < minReplaySinceMillis || since > maxReplaySinceMillis {
		return replayRequest{}, errReplayParams
	}
	r := replayRequest{since: time.UnixMilli(since), limit: defaultReplayLimit}
	if l, present := p["limit"]; present && string(l) != "null" {
		n, ok := jsonInt(l)
		if !ok {
			return replayRequest{}, errReplayParams
		}
		r.limit = int(min(max(n, 1), maxReplayLimit))
	}
	return r, nil
}

// The first and last milliseconds Elixir's DateTime.from_unix takes.
const (
	minReplaySinceMillis = -377705116800000
	maxReplaySinceMillis = 253402300799999
)

// jsonInt reads a JSON integer (no fraction, no exponent) that fits an
// int64.
func jsonInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || len(raw) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// checkReplay decides whether a join's replay config may join, and reads
// it: nil when the join asks for none.
func checkReplay(raw json.RawMessage, private bool) (*replayRequest, string) {
	if raw == nil {
		return nil, ""
	}
	if !private {
		return nil, replayPublicRefused
	}
	r, err := parseReplay(raw)
	if err != nil {
		return nil, replayInvalid
	}
	return &r, ""
}

// replayTo queues the retained broadcasts the channel's replay asks for.
// It runs in the hub's SubscribeThen, right after the join reply: no
// broadcast is kept between it and the channel entering the room (keeping
// happens under the hub's lock, PublishWith), so each one reaches the
// channel either here or live, never both, never neither. The replay is
// bounded by the connection's backlog so that it never makes the channel
// a slow consumer by itself.
func (ch *channel) replayTo() {
	if ch.replay == nil {
		return
	}
	s := ch.c.s
	room := roomKey(ch.bc.private, ch.sub)
	kind := ch.Kind()
	for _, r := range s.retained.Since(room, ch.replay.since, ch.replay.limit, s.cfg.QueueBytes) {
		msg := encodeReplayed(ch.topic, &r)
		if msg == nil || msg.Frames[kind].Body == nil {
			continue // raw bytes to a vsn 1.0.0 socket: no text form, as live
		}
		ch.c.Deliver(msg.Frames[kind])
	}
}

// encodeReplayed encodes a retained broadcast as Supabase replays one:
// meta is {"replayed": true, "id": ...}, the id being the broadcast's own
// meta.id (a database or REST broadcast's) or else this node's number of
// it; other keys of its meta stay.
func encodeReplayed(topic string, r *broadcast.Retained) *broadcast.Message {
	switch r.Kind {
	case broadcast.KindUser:
		return encodeUserBroadcast(topic, userBroadcast{
			event: r.Event, meta: replayedMeta(r.Meta, r.ID), payload: r.Payload, json: r.JSON, binary: r.Binary,
		})
	case broadcast.KindPush:
		var p map[string]json.RawMessage
		if json.Unmarshal(r.Payload, &p) != nil {
			return nil
		}
		var meta []byte
		if m, ok := p["meta"]; ok {
			meta = m
		}
		p["meta"] = replayedMeta(meta, r.ID)
		b, err := json.Marshal(p)
		if err != nil {
			return nil
		}
		return encodeClientText(topic, b)
	}
	return nil
}

// replayedMeta returns meta (a JSON object, or empty) with "replayed":
// true, and an "id" when it has none.
func replayedMeta(meta []byte, id uint64) json.RawMessage {
	m := map[string]json.RawMessage{}
	if len(meta) > 0 && (json.Unmarshal(meta, &m) != nil || m == nil) {
		m = map[string]json.RawMessage{}
	}
	m["replayed"] = json.RawMessage("true")
	if _, ok := m["id"]; !ok {
		m["id"] = json.RawMessage(strconv.Quote(strconv.FormatUint(id, 10)))
	}
	b, _ := json.Marshal(m)
	return b
}
