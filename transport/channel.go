package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/walcast/walcast/phoenix"
	"github.com/walcast/walcast/replication"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/changes"
)

type chanState uint8

const (
	joining chanState = iota // join accepted, reply not sent yet
	joined                   // reply sent: changes are delivered
	closed                   // left, replaced, expired or torn down
)

// channel is one joined topic of a connection. The read loop creates it and
// handles its leave and access_token; its subscription runs on a helper
// goroutine; the dispatcher calls DeliverChange; the expiry timer may close
// it. mu orders all of that: whatever is pushed while holding it (the join
// reply, changes, system messages, phx_close) reaches the client in the
// order the state allows, so no change precedes the join reply and none
// follows phx_close.
type channel struct {
	c       *conn
	topic   string // realtime:<sub>
	sub     string
	joinRef string // the join_ref of the phx_join that created the channel
	ref     string // that phx_join's ref, for the reply

	// Set before the channel is shared, then read-only.
	bindings    []changes.Binding
	raws        []json.RawMessage // the client's binding objects, echoed in the reply
	wait        bool
	waitTimeout time.Duration
	resumeAfter string             // config.postgres_changes_resume.after: the last cursor the client saw
	bc          broadcastConfig    // config.broadcast and config.private of the join
	replay      *replayRequest     // config.broadcast.replay, validated; nil when not asked
	prefix      []byte             // postgres_changes message up to the ids
	tail        []byte             // ... and after the data
	ctx         context.Context    // only with bindings: ends when the channel stops
	cancel      context.CancelFunc // of ctx

	mu          sync.Mutex
	state       chanState
	subscribed  bool     // Subscribe returned: Unsubscribe is owed
	roomsJoined bool     // joinRooms ran: leaveRooms is owed
	ids         []uint64 // binding ids, in binding order
	heads       [][]byte // heads[i]: the message head for a change matching ids[i] alone
	subErr      error    // what Subscribe refused, re-reported after a token refresh
	token       string
	exp         time.Time       // the token's expiry (zero: none)
	viewer      *changes.Viewer // the token's role and claims, for postgres_changes
	expiry      *time.Timer
	pr          chanPresence // presence (channel_presence.go)

	write writeAccess // what the token may send; its own lock, never with mu

	// viewerMu orders the re-authorizations of the bindings (a refresh,
	// and the subscription catching up with one): each hands the
	// dispatcher the viewer current when it holds the lock, so the last
	// one leaves the newest. Taken before mu, never while holding it.
	viewerMu sync.Mutex
}

func newChannel(c *conn, m phoenix.Message, sub string, cfg *phoenix.JoinConfig, token string, claims *auth.Claims) *channel {
	ch := &channel{
		c:           c,
		topic:       m.Topic,
		sub:         sub,
		joinRef:     m.JoinRef,
		ref:         m.Ref,
		wait:        cfg.Wait,
		waitTimeout: cfg.WaitTimeout,
		resumeAfter: cfg.ResumeAfter,
		bc:          newBroadcastConfig(cfg),
		pr:          newChanPresence(cfg),
		token:       token,
		exp:         claims.Exp,
		viewer:      viewerOf(claims),
	}
	if ch.joinRef == "" {
		// A V1 client may omit join_ref; Phoenix then uses the join's ref.
		ch.joinRef = m.Ref
	}
	if n := len(cfg.PostgresChanges); n > 0 {
		ch.bindings = make([]changes.Binding, n)
		ch.raws = make([]json.RawMessage, n)
		viewer := ch.viewer
		for i, b := range cfg.PostgresChanges {
			ch.bindings[i] = changes.Binding{Event: b.Event, Schema: b.Schema, Table: b.Table, Filter: b.Filter, Viewer: viewer}
			ch.raws[i] = b.Raw
		}
		ch.prefix, ch.tail = changeFraming(c.vsn, m.Topic)
		ch.ctx, ch.cancel = context.WithCancel(context.Background())
	}
	return ch
}

// start replies at once to a join without postgres_changes; otherwise the
// subscription (which queries the database) runs on a helper goroutine, so
// the read loop keeps answering heartbeats meanwhile.
func (ch *channel) start() {
	if len(ch.bindings) == 0 {
		ch.replyJoined(nil)
		return
	}
	ch.c.spawn(ch.subscribe)
}

// replyJoined sends the ok join reply, then sys (a system message payload)
// if given, and marks the channel joined. It reports false when the channel
// was closed meanwhile.
func (ch *channel) replyJoined(sys json.RawMessage) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state != joining {
		return false
	}
	ch.state = joined
	// The expiry starts with the reply, so a token that runs out while the
	// join waits closes a joined channel, in the order realtime-js expects.
	ch.scheduleExpiry()
	resp := append(make([]byte, 0, 64), `{"postgres_changes":[`...)
	for i, raw := range ch.raws {
		if i > 0 {
			resp = append(resp, ',')
		}
		resp = phoenix.AppendBindingWithID(resp, raw, ch.ids[i])
	}
	resp = append(resp, ']')
	if ch.resumeAfter != "" && ch.c.s.changes != nil {
		// Acknowledges the extension, so that a client knows this server
		// resumes (others leave the key out, and the client must refetch).
		resp = append(resp, `,"postgres_changes_resume":{"after":`...)
		resp = replication.AppendJSONString(resp, ch.resumeAfter)
		resp = append(resp, '}')
	}
	resp = append(resp, '}')
	ch.raws = nil
	ch.joinRooms(func() { ch.c.reply(ch.joinRef, ch.ref, ch.topic, true, resp) })
	if sys != nil {
		ch.c.sendMessage(ch.system(sys))
	}
	return true
}

// failJoin answers the join with an error reason and forgets the channel.
func (ch *channel) failJoin(reason string) {
	ch.c.removeChannel(ch)
	if ch.stop() {
		ch.c.reply(ch.joinRef, ch.ref, ch.topic, false, reasonPayload(reason))
	}
}

// stop marks the channel closed and releases its subscription, expiry timer
// and goroutines. It reports whether this call closed it.
func (ch *channel) stop() bool {
	ch.mu.Lock()
	if ch.state == closed {
		ch.mu.Unlock()
		return false
	}
	ch.state = closed
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	if ch.cancel != nil {
		ch.cancel()
	}
	subscribed, wasJoined := ch.subscribed, ch.roomsJoined
	ch.mu.Unlock()
	if subscribed {
		ch.c.s.changes.Unsubscribe(ch)
	}
	if wasJoined {
		ch.leaveRooms()
	}
	return true
}

// close ends the channel from the server's side: sys (a system message
// payload), if given, then phx_close, whose ref is the join_ref so that
// realtime-js accepts it.
func (ch *channel) close(sys json.RawMessage) {
	ch.c.removeChannel(ch)
	if !ch.stop() {
		return
	}
	if sys != nil {
		ch.c.sendMessage(ch.system(sys))
	}
	ch.c.sendMessage(phoenix.Message{JoinRef: ch.joinRef, Ref: ch.joinRef, Topic: ch.topic, Event: evClose, Payload: emptyResponse})
}

// leave handles phx_leave: an ok reply (ref = the leave's), then phx_close.
func (ch *channel) leave(ref string) {
	ch.c.removeChannel(ch)
	stopped := ch.stop()
	ch.c.reply(ch.joinRef, ref, ch.topic, true, emptyResponse)
	if stopped {
		ch.c.sendMessage(phoenix.Message{JoinRef: ch.joinRef, Ref: ch.joinRef, Topic: ch.topic, Event: evClose, Payload: emptyResponse})
	}
}

// system wraps a system payload in a message of this channel.
func (ch *channel) system(payload json.RawMessage) phoenix.Message {
	return phoenix.Message{JoinRef: ch.joinRef, Topic: ch.topic, Event: evSystem, Payload: payload}
}

func systemPayload(extension, status, message, channel string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Extension string `json:"extension"`
		Status    string `json:"status"`
		Message   string `json:"message"`
		Channel   string `json:"channel"`
	}{extension, status, message, channel})
	return b
}

// scheduleExpiry arms the timer that closes the channel when its token
// expires. ch.mu must be held.
func (ch *channel) scheduleExpiry() {
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	if ch.exp.IsZero() {
		return
	}
	ch.expiry = time.AfterFunc(time.Until(ch.exp), ch.expire)
}

// expire closes the channel as Supabase does when a token runs out: a
// system error "Token has expired N seconds ago", then phx_close.
func (ch *channel) expire() {
	if !ch.c.enter() {
		return
	}
	defer ch.c.wg.Done()
	ch.mu.Lock()
	exp, state := ch.exp, ch.state
	ch.mu.Unlock()
	if state == closed || time.Now().Before(exp) {
		return // closed, or a refreshed token moved the expiry
	}
	secs := int64(time.Since(exp) / time.Second)
	ch.close(systemPayload("system", "error", fmt.Sprintf("Token has expired %d seconds ago", secs), ch.sub))
}

// refreshToken handles an access_token push. Like Supabase it never
// replies: an unchanged, null or sb_ token is ignored; a valid one replaces
// the claims, moves the expiry and re-reports the postgres_changes status;
// an invalid one closes the channel with a system error.
func (ch *channel) refreshToken(payload json.RawMessage) {
	var p struct {
		AccessToken *string `json:"access_token"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.AccessToken == nil {
		ch.c.debug("ignoring access_token without a token", "topic", ch.topic)
		return
	}
	token := *p.AccessToken
	ch.mu.Lock()
	same := token == ch.token
	ch.mu.Unlock()
	if token == "" || same || strings.HasPrefix(token, "sb_") {
		return
	}
	claims, err := ch.c.s.cfg.Verifier.Verify(token)
	if err != nil {
		msg := err.Error()
		var ae *auth.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		ch.close(systemPayload("system", "error", msg, ch.sub))
		return
	}
	// The new claims may read less (or write more): ask again, as Supabase
	// re-runs its policies on a new token.
	access, err := ch.c.s.authorize(ChannelRequest{Topic: ch.sub, Private: ch.bc.private, Token: token, Claims: claims, Refresh: true})
	if err != nil {
		ch.close(systemPayload("system", "error", err.Error(), ch.sub))
		return
	}
	ch.write.set(access)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state == closed {
		return
	}
	ch.token, ch.exp, ch.viewer = token, claims.Exp, viewerOf(claims)
	ch.scheduleExpiry()
	ch.mu.Unlock()
	// Supabase re-creates the subscription with the new claims and says so
	// again: the dispatcher re-evaluates the bindings for the new role and
	// claims (keeping their ids), dropping those it may no longer read.
	// While joining, the subscribing goroutine reports the status.
	subErr := ch.reauthorize()
	ch.mu.Lock()
	if ch.state == joined && len(ch.bindings) > 0 {
		if subErr != nil {
			ch.subErr = subErr
		}
		if sys := ch.changesStatus(); sys != nil {
			ch.c.sendMessage(ch.system(sys))
		}
	}
}

// reauthorize hands the dispatcher the channel's current viewer, once its
// bindings are registered (until then the subscription does it).
func (ch *channel) reauthorize() error {
	ch.viewerMu.Lock()
	defer ch.viewerMu.Unlock()
	ch.mu.Lock()
	subscribed, viewer := ch.subscribed, ch.viewer
	ch.mu.Unlock()
	src := ch.c.s.changes
	if src == nil || !subscribed {
		return nil
	}
	ctx, cancel := context.WithTimeout(ch.ctx, authorizeTimeout)
	defer cancel()
	return src.SetViewer(ctx, ch, viewer)
}

// viewerOf is who a token's claims make a subscriber, for the dispatcher's
// authorization.
func viewerOf(claims *auth.Claims) *changes.Viewer {
	if claims == nil {
		return nil
	}
	return &changes.Viewer{Role: claims.Role, Claims: claims.Raw}
}
