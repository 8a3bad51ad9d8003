package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/changes"
)

var _ changes.ErrorSink = (*channel)(nil)

// errNoChanges is the system error of a channel with postgres_changes on a
// server without a dispatcher.
var errNoChanges = errors.New("postgres_changes are not enabled on this server")

// defaultWaitTimeout is postgres_changes_options.timeout when the join does
// not say (Supabase's default).
const defaultWaitTimeout = 15 * time.Second

func subscribedOK(sub string) json.RawMessage {
	return systemPayload("postgres_changes", "ok", "Subscribed to PostgreSQL", sub)
}

// subscribe registers the channel's bindings with the dispatcher and
// answers the join. Without postgres_changes_options.wait the reply goes out
// as soon as the bindings are registered and "Subscribed to PostgreSQL"
// follows once the replication stream is live; with wait the reply itself
// waits for that (or fails the join).
func (ch *channel) subscribe() {
	src := ch.c.s.changes
	var ids []uint64
	var err error
	var cu catchUp
	switch {
	case src == nil:
		err = errNoChanges
	case ch.resumeAfter != "":
		after, perr := replication.ParseCursor(ch.resumeAfter)
		if perr != nil {
			// A cursor we cannot read says nothing about what the client
			// has: it must refetch, as after any gap.
			cu = badCursor{&changes.Gap{}}
			ids, err = src.Subscribe(ch.ctx, ch, ch.bindings)
		} else {
			ids, cu, err = src.SubscribeAfter(ch.ctx, ch, ch.bindings, after)
		}
	default:
		ids, err = src.Subscribe(ch.ctx, ch, ch.bindings)
	}
	if len(ids) != len(ch.bindings) {
		// No dispatcher, or one breaking its contract: the reply still
		// needs one id per binding for realtime-js to accept the join.
		ids = make([]uint64, len(ch.bindings))
		for i := range ids {
			ids[i] = 1<<52 + ch.c.s.nextLocalID.Add(1)
		}
	}
	ch.mu.Lock()
	ch.subscribed = src != nil
	if ch.state == closed {
		// Left (or torn down) while subscribing: stop could not unsubscribe
		// bindings that were not registered yet.
		ch.mu.Unlock()
		if src != nil {
			src.Unsubscribe(ch)
		}
		return
	}
	ch.setIDs(ids)
	ch.subErr = err
	viewer := ch.viewer
	ch.mu.Unlock()
	if src != nil && viewer != ch.bindings[0].Viewer {
		// The token changed while subscribing: the refresh could not
		// re-authorize bindings that were not registered yet.
		if verr := ch.reauthorize(); verr != nil {
			ch.mu.Lock()
			ch.subErr = verr
			ch.mu.Unlock()
			err = verr
		}
	}

	if ch.wait {
		if ch.waitAndReply(src, err) {
			ch.catchUp(cu)
		}
		return
	}
	switch {
	case err != nil:
		if ch.replyJoined(systemPayload("postgres_changes", "error", err.Error(), ch.sub)) {
			ch.catchUp(cu) // for the bindings that were accepted
		}
	case src.Live():
		if ch.replyJoined(subscribedOK(ch.sub)) {
			ch.catchUp(cu)
		}
	default:
		if !ch.replyJoined(nil) || src.WaitLive(ch.ctx) != nil {
			return
		}
		ch.mu.Lock()
		joined := ch.state == joined
		if joined {
			ch.c.sendMessage(ch.system(subscribedOK(ch.sub)))
		}
		ch.mu.Unlock()
		if joined {
			ch.catchUp(cu)
		}
	}
}

// catchUp sends a resuming channel what it missed: the kept changes after
// its cursor, then (the dispatcher switches it) live ones; or, when
// changes after the cursor may be lost, a system message with status
// "gap" that tells the client to refetch. It runs after the join reply,
// on the subscribing goroutine, at the pace the socket takes the changes.
func (ch *channel) catchUp(cu catchUp) {
	if cu == nil {
		return
	}
	gap := cu.Gap()
	if gap == nil {
		err := cu.Run(ch.ctx, ch.waitForRoom)
		if !errors.As(err, &gap) {
			return // done, or the channel stopped
		}
	}
	ch.mu.Lock()
	if ch.state == joined {
		ch.c.sendMessage(ch.system(gapPayload(ch.sub, gap)))
	}
	ch.mu.Unlock()
}

// badCursor is the catch-up of a resume cursor that does not parse.
type badCursor struct{ gap *changes.Gap }

func (b badCursor) Gap() *changes.Gap                                    { return b.gap }
func (badCursor) Run(context.Context, func(context.Context) error) error { return nil }

// gapPayload is the system message of a resume that cannot be served:
// status "gap", the cursor asked for (after) and the oldest cursor a later
// resume can start after (oldest).
func gapPayload(sub string, g *changes.Gap) json.RawMessage {
	b, _ := json.Marshal(struct {
		Extension string `json:"extension"`
		Status    string `json:"status"`
		Message   string `json:"message"`
		Channel   string `json:"channel"`
		After     string `json:"after"`
		Oldest    string `json:"oldest"`
	}{"postgres_changes", "gap", g.Error(), sub, g.After.String(), g.Oldest.String()})
	return b
}

// replayPoll is how often a resuming connection's queue may be before the
// replay looks again at a queue too full to add to.
const replayPoll = 2 * time.Millisecond

// waitForRoom returns once the connection's queue is at most a quarter
// full, so that a replay never overflows it.
func (ch *channel) waitForRoom(ctx context.Context) error {
	for ch.c.ws.QueuedBytes() > ch.c.s.cfg.QueueBytes/4 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(replayPoll):
		}
	}
	return ctx.Err()
}

// waitAndReply implements postgres_changes_options.wait: the join succeeds
// only once every binding is registered and the stream is live. It
// reports whether the channel joined.
func (ch *channel) waitAndReply(src changeSource, err error) bool {
	if err != nil {
		ch.failJoin("RealtimeDisabledForConfiguration: " + err.Error())
		return false
	}
	timeout := ch.waitTimeout
	if timeout <= 0 {
		timeout = defaultWaitTimeout
	}
	ctx, cancel := context.WithTimeout(ch.ctx, timeout)
	err = src.WaitLive(ctx)
	cancel()
	if err != nil {
		if ch.ctx.Err() == nil {
			ch.failJoin(fmt.Sprintf("PostgresChangesSubscribeTimeout: Timed out after %dms waiting for the postgres_changes subscription", timeout.Milliseconds()))
		}
		return false
	}
	return ch.replyJoined(subscribedOK(ch.sub))
}

// changesStatus is the system payload that reports the subscription: an
// error, "Subscribed to PostgreSQL" when live, or nil when not live yet.
// ch.mu must be held.
func (ch *channel) changesStatus() json.RawMessage {
	if ch.subErr != nil {
		return systemPayload("postgres_changes", "error", ch.subErr.Error(), ch.sub)
	}
	if src := ch.c.s.changes; src != nil && src.Live() {
		return subscribedOK(ch.sub)
	}
	return nil
}

// DeliverChange queues one postgres_changes message. It runs on the
// dispatcher's goroutine and must not block: the push never waits, and a
// full queue closes the connection (on another goroutine) instead.
//
// The message is Head (per channel and ids) + data (shared by every
// recipient) + Tail. For the usual single id the head was built at
// subscribe time, so delivery does not allocate.
func (ch *channel) DeliverChange(ids []uint64, data []byte) {
	ch.mu.Lock()
	if ch.state != joined {
		// Before the join reply realtime-js could not route it; after
		// phx_close the client has forgotten the channel.
		ch.mu.Unlock()
		return
	}
	var head []byte
	if len(ids) == 1 {
		for i, id := range ch.ids {
			if id == ids[0] {
				head = ch.heads[i]
				break
			}
		}
	}
	if head == nil {
		head = ch.appendHead(make([]byte, 0, len(ch.prefix)+16+21*len(ids)), ids)
	}
	ch.c.ws.Send(broadcast.Frame{Head: head, Body: data, Tail: ch.tail})
	ch.mu.Unlock()
}

// BindingsDropped tells the client that the dispatcher dropped some of the
// channel's bindings (their filter was too expensive to evaluate): a
// system error naming why, as for a binding refused at subscribe. It runs
// on the dispatcher's goroutine and only queues.
func (ch *channel) BindingsDropped(ids []uint64, err error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state != joined {
		return
	}
	ch.c.debug("postgres_changes bindings dropped", "topic", ch.topic, "ids", ids, "error", err)
	ch.c.sendMessage(ch.system(systemPayload("postgres_changes", "error", err.Error(), ch.sub)))
}

// setIDs records the binding ids and precomputes the single-id heads.
// ch.mu must be held.
func (ch *channel) setIDs(ids []uint64) {
	ch.ids = ids
	ch.heads = make([][]byte, len(ids))
	for i := range ids {
		ch.heads[i] = ch.appendHead(nil, ids[i:i+1])
	}
}

// appendHead appends the message head for ids: the prefix, the ids and
// `],"data":`.
func (ch *channel) appendHead(dst []byte, ids []uint64) []byte {
	dst = append(dst, ch.prefix...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, id, 10)
	}
	return append(dst, `],"data":`...)
}

// changeFraming returns what surrounds `ids...],"data":<data>` in a
// postgres_changes message on topic, for the socket's serializer:
//
//	V2: [null,null,"realtime:x","postgres_changes",{"ids":[ ... }]
//	V1: {"topic":"realtime:x","event":"postgres_changes","payload":{"ids":[ ... },"ref":null}
//
// It is derived from AppendText, so it always matches the other frames.
func changeFraming(v phoenix.Version, topic string) (prefix, tail []byte) {
	// AppendText escapes control characters in the topic, so the only NUL
	// byte in its output is the placeholder payload.
	b := phoenix.AppendText(nil, v, phoenix.Message{Topic: topic, Event: evPostgresChange, Payload: json.RawMessage{0}})
	i := bytes.IndexByte(b, 0)
	prefix = append(b[:i:i], `{"ids":[`...)
	tail = append([]byte{'}'}, b[i+1:]...)
	return prefix, tail
}
