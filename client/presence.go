package client

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/walcast/walcast/phoenix"
)

// Presence is one tracked meta of a presence key.
type Presence struct {
	// Ref is the server's phx_ref of this meta (realtime-js's
	// presence_ref).
	Ref string
	// Meta is the meta object as the server sent it: what Track was given,
	// plus phx_ref (and phx_ref_prev after an update). Decode it into the
	// app's own type; the extra keys are ignored by encoding/json.
	Meta json.RawMessage
}

// PresenceState is who is present: the metas of each key, as realtime-js's
// presenceState() gives it.
type PresenceState map[string][]Presence

// clone copies s deeply enough for callbacks to keep it.
func (s PresenceState) clone() PresenceState {
	out := make(PresenceState, len(s))
	for k, v := range s {
		out[k] = slices.Clone(v)
	}
	return out
}

// presence is a channel's presence: callbacks, the merged state, and the
// diffs held until the state of the current join arrives (as phoenix.js's
// Presence does).
type presence struct {
	onSync  []func(PresenceState)
	onJoin  []func(key string, current, joined []Presence)
	onLeave []func(key string, current, left []Presence)

	state   PresenceState
	joinRef string         // of the last presence_state
	pending []presenceDiff // diffs that came before it
}

// maxPendingDiffs bounds the diffs held for a presence_state; older ones are
// dropped (the state replaces them anyway).
const maxPendingDiffs = 1000

func (p *presence) wanted() bool {
	return len(p.onSync)+len(p.onJoin)+len(p.onLeave) > 0
}

// OnPresenceSync registers fn for every presence change: it gets the whole
// merged state after the change. Registered before Subscribe, it enables
// presence in the join.
func (ch *Channel) OnPresenceSync(fn func(PresenceState)) {
	ch.mu.Lock()
	ch.pres.onSync = append(ch.pres.onSync, fn)
	ch.mu.Unlock()
}

// OnPresenceJoin registers fn for metas that join a key: current is what
// the key had before (nil for a new key), joined what came.
func (ch *Channel) OnPresenceJoin(fn func(key string, current, joined []Presence)) {
	ch.mu.Lock()
	ch.pres.onJoin = append(ch.pres.onJoin, fn)
	ch.mu.Unlock()
}

// OnPresenceLeave registers fn for metas that leave a key: current is what
// the key keeps (empty when it is gone), left what went.
func (ch *Channel) OnPresenceLeave(fn func(key string, current, left []Presence)) {
	ch.mu.Lock()
	ch.pres.onLeave = append(ch.pres.onLeave, fn)
	ch.mu.Unlock()
}

// PresenceState returns a copy of the merged presence state.
func (ch *Channel) PresenceState() PresenceState {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.pres.state.clone()
}

// Track makes meta (encoded with encoding/json: it must be an object) this
// channel's presence under its key, waiting until the channel is joined
// and the server replied. The channel tracks it again after every rejoin,
// until Untrack.
func (ch *Channel) Track(ctx context.Context, meta any) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("realtime track: encode meta: %w", err)
	}
	if phoenix.FirstJSONByte(b) != '{' {
		return fmt.Errorf("realtime track: meta must encode to a JSON object, got %.20s", b)
	}
	s, joinRef, err := ch.waitJoined(ctx)
	if err != nil {
		return err
	}
	ch.mu.Lock()
	ch.tracked = b
	ch.mu.Unlock()
	return ch.presenceRequest(ctx, s, joinRef, "track", b)
}

// Untrack removes this channel's presence.
func (ch *Channel) Untrack(ctx context.Context) error {
	ch.mu.Lock()
	ch.tracked = nil
	ch.mu.Unlock()
	s, joinRef, err := ch.waitJoined(ctx)
	if err != nil {
		return err
	}
	return ch.presenceRequest(ctx, s, joinRef, "untrack", nil)
}

func (ch *Channel) presenceRequest(ctx context.Context, s *session, joinRef, event string, meta json.RawMessage) error {
	p := struct {
		Type    string          `json:"type"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}{"presence", event, meta}
	payload, _ := json.Marshal(p)
	c := ch.c
	r, err := c.request(ctx, s, phoenix.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: "presence", Payload: payload}, nil)
	if err != nil {
		return err
	}
	if r.Status != "ok" {
		return &ReplyError{Op: event, Topic: ch.topic, Reason: r.reason()}
	}
	return nil
}

// retrack tracks the channel's meta again after a rejoin (the server
// forgot it when the old join ended).
func (ch *Channel) retrack(s *session) {
	ch.mu.Lock()
	meta, joinRef := ch.tracked, ch.joinRef
	ch.mu.Unlock()
	if meta == nil {
		return
	}
	if err := ch.presenceRequest(ch.ctx, s, joinRef, "track", meta); err != nil {
		ch.c.log.Warn("realtime: tracking presence again after a rejoin failed", "topic", ch.topic, "error", err)
	}
}

// wire forms of presence_state and presence_diff.
type (
	presenceEntry struct {
		Metas []json.RawMessage `json:"metas"`
	}
	presenceDiff struct {
		Joins  map[string]presenceEntry `json:"joins"`
		Leaves map[string]presenceEntry `json:"leaves"`
	}
)

func toPresences(metas []json.RawMessage) []Presence {
	out := make([]Presence, 0, len(metas))
	for _, m := range metas {
		var r struct {
			Ref string `json:"phx_ref"`
		}
		_ = json.Unmarshal(m, &r)
		out = append(out, Presence{Ref: r.Ref, Meta: m})
	}
	return out
}

func toState(w map[string]presenceEntry) PresenceState {
	s := make(PresenceState, len(w))
	for k, e := range w {
		s[k] = toPresences(e.Metas)
	}
	return s
}

// handlePresence queues a presence_state or presence_diff (reader
// goroutine); it is applied to the state on the delivery goroutine, in
// order with the callbacks. joinRef is the channel's join when it came.
func (ch *Channel) handlePresence(event string, payload json.RawMessage, joinRef string) bool {
	var apply func()
	if event == "presence_state" {
		var w map[string]presenceEntry
		if err := json.Unmarshal(payload, &w); err != nil {
			ch.c.log.Warn("realtime: malformed presence_state dropped", "topic", ch.topic, "error", err)
			return true
		}
		apply = func() { ch.applyPresenceState(toState(w), joinRef) }
	} else {
		var d presenceDiff
		if err := json.Unmarshal(payload, &d); err != nil {
			ch.c.log.Warn("realtime: malformed presence_diff dropped", "topic", ch.topic, "error", err)
			return true
		}
		apply = func() { ch.applyPresenceDiff(d, joinRef) }
	}
	return ch.c.enqueue(apply)
}

// presenceEvents collects the callbacks a sync produced, to run them after
// the channel's lock is released.
type presenceEvents struct {
	calls []func()
}

func (ch *Channel) applyPresenceState(next PresenceState, joinRef string) {
	ch.mu.Lock()
	p := &ch.pres
	p.joinRef = joinRef
	var ev presenceEvents
	p.state = syncState(p.state, next, ch.presenceCallbacks(&ev))
	for _, d := range p.pending {
		p.state = syncDiff(p.state, toState(d.Joins), toState(d.Leaves), ch.presenceCallbacks(&ev))
	}
	p.pending = nil
	sync := ch.syncCall()
	ch.mu.Unlock()
	ev.run()
	sync()
}

func (ch *Channel) applyPresenceDiff(d presenceDiff, joinRef string) {
	ch.mu.Lock()
	p := &ch.pres
	if p.joinRef == "" || p.joinRef != joinRef {
		// No state for this join yet: hold the diff for it.
		if len(p.pending) == maxPendingDiffs {
			p.pending = p.pending[1:]
		}
		p.pending = append(p.pending, d)
		ch.mu.Unlock()
		return
	}
	var ev presenceEvents
	p.state = syncDiff(p.state, toState(d.Joins), toState(d.Leaves), ch.presenceCallbacks(&ev))
	sync := ch.syncCall()
	ch.mu.Unlock()
	ev.run()
	sync()
}

// presenceCallbacks returns the join and leave hooks of a sync, which
// record the callbacks to run. ch.mu must be held.
func (ch *Channel) presenceCallbacks(ev *presenceEvents) syncHooks {
	onJoin, onLeave := ch.pres.onJoin, ch.pres.onLeave
	return syncHooks{
		join: func(key string, current, joined []Presence) {
			current, joined = slices.Clone(current), slices.Clone(joined)
			for _, fn := range onJoin {
				ev.calls = append(ev.calls, func() { fn(key, current, joined) })
			}
		},
		leave: func(key string, current, left []Presence) {
			current, left = slices.Clone(current), slices.Clone(left)
			for _, fn := range onLeave {
				ev.calls = append(ev.calls, func() { fn(key, current, left) })
			}
		},
	}
}

// syncCall returns the call of the sync callbacks with a copy of the
// state. ch.mu must be held.
func (ch *Channel) syncCall() func() {
	fns := ch.pres.onSync
	if len(fns) == 0 {
		return func() {}
	}
	state := ch.pres.state.clone()
	return func() {
		for _, fn := range fns {
			fn(state)
		}
	}
}

func (ev *presenceEvents) run() {
	for _, f := range ev.calls {
		f()
	}
}

type syncHooks struct {
	join  func(key string, current, joined []Presence)
	leave func(key string, current, left []Presence)
}

// syncState merges a full presence_state into state, as phoenix.js's
// Presence.syncState: keys gone are leaves; per key, metas (by phx_ref)
// that are new are joins and metas that are gone are leaves.
func syncState(state, next PresenceState, h syncHooks) PresenceState {
	joins, leaves := PresenceState{}, PresenceState{}
	for key, cur := range state {
		if _, ok := next[key]; !ok {
			leaves[key] = cur
		}
	}
	for _, key := range slices.Sorted(maps.Keys(next)) {
		metas := next[key]
		cur, ok := state[key]
		if !ok {
			joins[key] = metas
			continue
		}
		if joined := without(metas, cur); len(joined) > 0 {
			joins[key] = joined
		}
		if left := without(cur, metas); len(left) > 0 {
			leaves[key] = left
		}
	}
	return syncDiff(state, joins, leaves, h)
}

// syncDiff applies joins and leaves to state, as phoenix.js's
// Presence.syncDiff: a joined key holds its earlier metas (those not
// joining again) followed by the joined ones; a leave removes metas by
// phx_ref, and the key when none is left. Keys are visited in sorted
// order, so callbacks come in a stable order.
func syncDiff(state, joins, leaves PresenceState, h syncHooks) PresenceState {
	if state == nil {
		state = PresenceState{}
	}
	for _, key := range slices.Sorted(maps.Keys(joins)) {
		joined := joins[key]
		cur, had := state[key]
		merged := slices.Clone(joined)
		if had {
			merged = append(without(cur, joined), merged...)
		}
		state[key] = merged
		if !had {
			cur = nil
		}
		h.join(key, cur, joined)
	}
	for _, key := range slices.Sorted(maps.Keys(leaves)) {
		left := leaves[key]
		cur, ok := state[key]
		if !ok {
			continue
		}
		kept := without(cur, left)
		h.leave(key, kept, left)
		if len(kept) == 0 {
			delete(state, key)
		} else {
			state[key] = kept
		}
	}
	return state
}

// without returns the metas of a whose phx_ref is not in b.
func without(a, b []Presence) []Presence {
	var out []Presence
	for _, p := range a {
		if !slices.ContainsFunc(b, func(q Presence) bool { return q.Ref == p.Ref }) {
			out = append(out, p)
		}
	}
	return out
}
