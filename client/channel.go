package client

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// ChannelConfig is the config of a channel's phx_join.
type ChannelConfig struct {
	Broadcast BroadcastConfig
	Presence  PresenceConfig
	// Private joins the private room of the topic (authorized by the
	// server's policies); public and private rooms of one name differ.
	Private bool
	// ResumeAfter is a postgres_changes cursor the app kept from an
	// earlier run (Change.Cursor, or Channel.Cursor): changes at or before
	// it are skipped, and the first join already asks the server to
	// resume after it. See "Resume and gaps" in the package documentation.
	ResumeAfter string
}

// BroadcastConfig is config.broadcast.
type BroadcastConfig struct {
	// Self delivers this channel's own broadcasts to it too.
	Self bool `json:"self"`
	// Ack makes Send wait for the server's reply.
	Ack bool `json:"ack"`
	// Replay asks the join of a private channel for the broadcasts its
	// room had before (config.broadcast.replay); nil asks for none. See
	// "Broadcast replay" in the package documentation.
	Replay *ReplayConfig `json:"-"`
}

// ReplayConfig is config.broadcast.replay: the broadcasts of the room
// sent at or after Since, the newest Limit of them, oldest first, before
// any live one. Only private channels may ask (the server refuses the
// join of a public one).
type ReplayConfig struct {
	// Since is compared with the server's clock, to the millisecond.
	Since time.Time
	// Limit bounds how many (Supabase and walcast take 1 to 25; 0 leaves
	// it to the server, which sends up to 25).
	Limit int
}

// PresenceConfig is config.presence.
type PresenceConfig struct {
	// Key is the presence key this channel tracks under; empty lets the
	// server pick a random one.
	Key string `json:"key"`
	// Enabled asks for presence state and diffs. It is turned on by itself
	// when presence callbacks are registered before Subscribe.
	Enabled bool `json:"enabled"`
}

type chanState int

const (
	stateIdle    chanState = iota // not subscribed yet
	stateJoining                  // subscribed, waiting for a (re)join
	stateJoined
	stateClosed
)

// Channel is one topic of a Client: postgres_changes, broadcast and
// presence. Register callbacks, then Subscribe. Its methods are safe for
// concurrent use; its callbacks run one at a time on the client's delivery
// goroutine (see "Callbacks" in the package documentation).
type Channel struct {
	c           *Client
	topic, name string
	cfg         ChannelConfig

	mu        sync.Mutex
	state     chanState
	sess      *session // the connection of the current join
	joinRef   string
	joinedC   chan struct{} // closed when the channel joins
	leftC     chan struct{} // closed when it stops being joined
	bindings  []*binding
	bcast     []broadcastHandler
	onSystem  []func(System)
	onStatus  []func(Status, error)
	onGap     []func(Gap)
	pres      presence
	cursor    string          // of the last change queued for the callbacks
	tracked   json.RawMessage // the meta to track again after a rejoin
	resumeOK  bool            // the last join reply acknowledged the resume extension
	live      bool            // the current join is complete ("Subscribed to PostgreSQL")
	heldGaps  []Gap           // gaps of the current join, reported once it is live
	lastErr   string          // message of the last system error
	lastBcast time.Time       // when the newest broadcast was queued for the callbacks (a rejoin replays after it)

	ctx       context.Context // the channel goroutine's lifetime
	cancel    context.CancelFunc
	done      chan struct{} // closed when the channel is closed
	closeOnce sync.Once
	ready     chan error  // the first subscription's outcome
	pgReady   chan error  // "Subscribed to PostgreSQL" or its error, per join
	serverEnd chan string // phx_close or phx_error from the server
}

func newChannel(c *Client, topic, name string, cfg ChannelConfig) *Channel {
	return &Channel{
		c: c, topic: topic, name: name, cfg: cfg,
		cursor:    cfg.ResumeAfter,
		joinedC:   make(chan struct{}),
		leftC:     make(chan struct{}),
		done:      make(chan struct{}),
		ready:     make(chan error, 1),
		pgReady:   make(chan error, 1),
		serverEnd: make(chan string, 1),
	}
}

// Topic is the channel's topic, "realtime:" + name.
func (ch *Channel) Topic() string { return ch.topic }

// Cursor returns the cursor of the last postgres_changes event handed to
// the callbacks' queue (ChannelConfig.ResumeAfter before any), which a
// rejoin resumes after. An app that keeps it across restarts passes it as
// ResumeAfter.
func (ch *Channel) Cursor() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.cursor
}

// OnSystem registers fn for every system message of the channel.
func (ch *Channel) OnSystem(fn func(System)) {
	ch.mu.Lock()
	ch.onSystem = append(ch.onSystem, fn)
	ch.mu.Unlock()
}

// OnStatus registers fn for the channel's status changes; err says why
// for StatusChannelError, StatusTimedOut and a server's StatusClosed.
func (ch *Channel) OnStatus(fn func(Status, error)) {
	ch.mu.Lock()
	ch.onStatus = append(ch.onStatus, fn)
	ch.mu.Unlock()
}

// OnGap registers fn for gaps in postgres_changes: after a rejoin, changes
// since the channel's cursor may be missing and the app should refetch.
func (ch *Channel) OnGap(fn func(Gap)) {
	ch.mu.Lock()
	ch.onGap = append(ch.onGap, fn)
	ch.mu.Unlock()
}

// Subscribe joins the channel and returns once it is joined and, when it
// has postgres_changes callbacks, the server said "Subscribed to
// PostgreSQL" (changes committed from then on are delivered). After that
// the channel rejoins by itself after every reconnect or channel error,
// until Unsubscribe, Client.Close or a phx_close from the server.
//
// A refused join (or postgres_changes subscription) is returned as a
// *ReplyError and closes the channel; a join that times out is retried
// until ctx is done. When Subscribe returns an error the channel is
// closed: get a new one with Client.Channel.
func (ch *Channel) Subscribe(ctx context.Context) error {
	ch.mu.Lock()
	switch ch.state {
	case stateClosed:
		ch.mu.Unlock()
		return ErrChannelClosed
	case stateJoining, stateJoined:
		ch.mu.Unlock()
		return errors.New("realtime channel: Subscribe called twice")
	}
	ch.state = stateJoining
	ch.ctx, ch.cancel = context.WithCancel(ch.c.ctx)
	ch.mu.Unlock()

	c := ch.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ch.finish()
		return ErrClosed
	}
	c.wg.Go(ch.run)
	c.mu.Unlock()

	select {
	case err := <-ch.ready:
		if err != nil {
			<-ch.done
		}
		return err
	case <-ctx.Done():
		ch.cancel()
		<-ch.done
		return ctx.Err()
	}
}

// Unsubscribe leaves the channel (phx_leave, waiting up to
// Options.Timeout for the reply) and closes it. It returns once the
// channel is closed or ctx is done.
func (ch *Channel) Unsubscribe(ctx context.Context) error {
	ch.mu.Lock()
	st, cancel := ch.state, ch.cancel
	ch.mu.Unlock()
	switch st {
	case stateIdle:
		ch.finish()
		return nil
	case stateClosed:
		return nil
	}
	cancel()
	select {
	case <-ch.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish closes the channel for good.
func (ch *Channel) finish() {
	ch.mu.Lock()
	if ch.state == stateJoined {
		close(ch.leftC)
	}
	ch.state = stateClosed
	ch.mu.Unlock()
	ch.c.removeChannel(ch)
	ch.closeOnce.Do(func() { close(ch.done) })
}

// status queues the status callbacks.
func (ch *Channel) status(st Status, err error) {
	ch.mu.Lock()
	fns := ch.onStatus
	ch.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	ch.queue(func() {
		for _, fn := range fns {
			fn(st, err)
		}
	})
}

// maxHeldGaps bounds the gaps held for a join that is not complete yet.
const maxHeldGaps = 16

// gap reports g to the OnGap callbacks once the current join is complete
// (after "Subscribed to PostgreSQL"), so that what the app refetches then
// is followed by the live changes. On the reader goroutine (block false)
// it reports false when the callback queue is full.
func (ch *Channel) gap(g Gap, block bool) bool {
	ch.mu.Lock()
	if !ch.live {
		if len(ch.heldGaps) < maxHeldGaps {
			ch.heldGaps = append(ch.heldGaps, g)
		}
		ch.mu.Unlock()
		return true
	}
	fns := ch.onGap
	ch.mu.Unlock()
	if len(fns) == 0 {
		ch.c.log.Warn("realtime: postgres_changes gap and no OnGap callback", "topic", ch.topic, "after", g.After, "message", g.Message)
		return true
	}
	f := func() {
		for _, fn := range fns {
			fn(g)
		}
	}
	if !block {
		return ch.c.enqueue(f)
	}
	ch.queue(f)
	return true
}

// goLive marks the current join complete and reports the gaps held for it.
func (ch *Channel) goLive() {
	ch.mu.Lock()
	ch.live = true
	held := ch.heldGaps
	ch.heldGaps = nil
	ch.mu.Unlock()
	for _, g := range held {
		ch.gap(g, true)
	}
}

// queue hands f to the callbacks from a goroutine other than the reader,
// waiting for room in the queue (or the client's end).
func (ch *Channel) queue(f func()) {
	select {
	case ch.c.events <- f:
	case <-ch.c.ctx.Done():
	}
}

func drain(c chan error) {
	select {
	case <-c:
	default:
	}
}

func drainString(c chan string) {
	select {
	case <-c:
	default:
	}
}
