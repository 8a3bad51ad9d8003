package client

import (
	"encoding/json"

	"github.com/walcast/walcast/phoenix"
)

// handle routes one message of the channel's topic, on the reader
// goroutine. Like realtime-js it drops messages of an earlier join (a
// join_ref that is not the current one). False means the callback queue
// is full.
func (ch *Channel) handle(m phoenix.Message) bool {
	ch.mu.Lock()
	joinRef, st := ch.joinRef, ch.state
	ch.mu.Unlock()
	if st == stateIdle || st == stateClosed {
		return true
	}
	if m.JoinRef != "" && m.JoinRef != joinRef {
		return true
	}
	switch m.Event {
	case "phx_close", "phx_error":
		if m.Ref != "" && m.Ref != joinRef {
			return true
		}
		select {
		case ch.serverEnd <- m.Event:
		default:
		}
		return true
	case "system":
		return ch.handleSystem(m.Payload)
	case "postgres_changes":
		return ch.handleChange(m.Payload)
	case "broadcast":
		return ch.handleBroadcast(m)
	case "presence_state", "presence_diff":
		return ch.handlePresence(m.Event, m.Payload, joinRef)
	}
	return true
}

// gapMessage is the payload of a gap system message.
type gapMessage struct {
	After  string `json:"after"`
	Oldest string `json:"oldest"`
}

// handleSystem reads a system message: the postgres_changes subscription's
// outcome, a gap, or an error that precedes a phx_close.
func (ch *Channel) handleSystem(payload json.RawMessage) bool {
	var sys System
	if err := json.Unmarshal(payload, &sys); err != nil {
		ch.c.log.Warn("realtime: malformed system message dropped", "topic", ch.topic, "error", err)
		return true
	}
	sys.Raw = payload
	if sys.Extension == "postgres_changes" {
		var outcome error
		switch sys.Status {
		case "ok":
			select {
			case ch.pgReady <- outcome:
			default:
			}
		case "error":
			outcome = &ReplyError{Op: "postgres_changes", Topic: ch.topic, Reason: sys.Message}
			select {
			case ch.pgReady <- outcome:
			default:
			}
		case GapStatus:
			var g gapMessage
			_ = json.Unmarshal(payload, &g)
			if !ch.gap(Gap{After: g.After, Oldest: g.Oldest, Message: sys.Message}, false) {
				return false
			}
		}
	}
	ch.mu.Lock()
	if sys.Status == "error" {
		ch.lastErr = sys.Message
	}
	fns := ch.onSystem
	ch.mu.Unlock()
	if len(fns) == 0 {
		return true
	}
	return ch.c.enqueue(func() {
		for _, fn := range fns {
			fn(sys)
		}
	})
}
