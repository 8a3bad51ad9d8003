package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/walcast/walcast/phoenix"
)

// joinEnd is why a joined channel stopped being joined.
type joinEnd int

const (
	endDisconnected joinEnd = iota
	endServerError          // phx_error: rejoin
	endServerClose          // phx_close: closed for good
	endUnsubscribed
)

// run is the channel's goroutine: it joins on every connection and
// rejoins after errors, with backoff, until the channel closes.
func (ch *Channel) run() {
	defer ch.finish()
	first := true
	attempt := 0
	for {
		s, err := ch.c.waitSession(ch.ctx)
		if err != nil {
			ch.status(StatusClosed, nil)
			return
		}
		err = ch.join(s, first)
		if err == nil {
			attempt = 0
			ch.goLive()
			if first {
				first = false
				ch.ready <- nil
			} else {
				ch.retrack(s)
			}
			ch.status(StatusSubscribed, nil)
			switch ch.waitEnd(s) {
			case endUnsubscribed:
				ch.leave(s)
				ch.status(StatusClosed, nil)
				return
			case endServerClose:
				ch.status(StatusClosed, ch.closeReason())
				return
			case endServerError:
				ch.status(StatusChannelError, errors.New("realtime channel: the server reported a channel error"))
				if !sleep(ch.ctx, ch.c.opts.Backoff.Delay(attempt)) {
					ch.status(StatusClosed, nil)
					return
				}
				attempt++
			case endDisconnected:
				ch.status(StatusChannelError, ErrDisconnected)
			}
			continue
		}
		ch.setLeft() // the reply may have joined it before the failure
		var refused *ReplyError
		switch {
		case ch.ctx.Err() != nil:
			ch.leave(s)
			ch.status(StatusClosed, nil)
			return
		case errors.Is(err, ErrDisconnected):
			ch.status(StatusChannelError, err)
			continue
		case errors.Is(err, errServerClosed):
			if first {
				ch.ready <- err
			}
			ch.status(StatusClosed, err)
			return
		case first && errors.As(err, &refused), errors.Is(err, errBindingsMismatch):
			ch.leave(s)
			if first {
				ch.ready <- err
			}
			ch.status(StatusClosed, err)
			return
		case errors.Is(err, ErrTimeout):
			ch.leave(s)
			ch.status(StatusTimedOut, err)
		default:
			ch.status(StatusChannelError, err)
		}
		if !sleep(ch.ctx, ch.c.opts.Backoff.Delay(attempt)) {
			ch.status(StatusClosed, nil)
			return
		}
		attempt++
	}
}

var (
	errBindingsMismatch = errors.New("realtime channel: mismatch between server and client bindings for postgres changes")
	errServerClosed     = errors.New("realtime channel: closed by the server")
)

// closeReason is the error of a phx_close, with the last system error (an
// expired token, a rate limit) when there was one.
func (ch *Channel) closeReason() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.lastErr != "" {
		return fmt.Errorf("%w: %s", errServerClosed, ch.lastErr)
	}
	return errServerClosed
}

// join sends phx_join on s and waits for the reply and, with
// postgres_changes, for "Subscribed to PostgreSQL".
func (ch *Channel) join(s *session, first bool) error {
	c := ch.c
	token := c.accessToken(ch.ctx)
	ref := c.nextRef()
	ch.mu.Lock()
	if ch.state == stateClosed {
		ch.mu.Unlock()
		return errServerClosed
	}
	ch.joinRef = ref
	ch.resumeOK = false
	ch.live = false
	ch.heldGaps = nil
	drain(ch.pgReady)
	drainString(ch.serverEnd)
	payload, resume := ch.joinPayload(token)
	hasPG := len(ch.bindings) > 0
	ch.mu.Unlock()

	m := phoenix.Message{JoinRef: ref, Ref: ref, Topic: ch.topic, Event: "phx_join", Payload: payload}
	if _, err := c.request(ch.ctx, s, m, ch.joinReplyHook(s, ref)); err != nil {
		return err
	}
	if resume != "" {
		ch.mu.Lock()
		ok := ch.resumeOK
		ch.mu.Unlock()
		if !ok {
			ch.gap(Gap{After: resume, Unsupported: true,
				Message: "the server did not acknowledge " + ResumeConfigKey + "; postgres_changes since the cursor may be lost"}, true)
		}
	}
	if !hasPG {
		return nil
	}
	select {
	case err := <-ch.pgReady:
		if err != nil && first {
			return err
		}
		if err != nil {
			ch.status(StatusChannelError, err)
		}
		return nil
	case ev := <-ch.serverEnd:
		if ev == "phx_close" {
			return ch.closeReason()
		}
		return errors.New("realtime channel: the server reported a channel error")
	case <-s.ctx.Done():
		return ErrDisconnected
	case <-ch.ctx.Done():
		return ch.ctx.Err()
	}
}

// joinReplyHook applies a join reply on the reader goroutine: the binding
// ids must be in place before the next frame, which may be a change.
func (ch *Channel) joinReplyHook(s *session, ref string) func(reply) reply {
	return func(r reply) reply {
		if r.Status != "ok" {
			r.err = &ReplyError{Op: "join", Topic: ch.topic, Reason: r.reason()}
			return r
		}
		var resp struct {
			PostgresChanges []struct {
				Event, Schema, Table, Filter string
				ID                           json.Number
			} `json:"postgres_changes"`
			Resume *ResumeConfig `json:"postgres_changes_resume"`
		}
		if len(r.Response) > 0 {
			if err := json.Unmarshal(r.Response, &resp); err != nil {
				r.err = &ReplyError{Op: "join", Topic: ch.topic, Reason: "malformed join reply: " + err.Error()}
				return r
			}
		}
		ch.mu.Lock()
		defer ch.mu.Unlock()
		if ch.joinRef != ref || ch.state == stateClosed {
			r.err = ErrDisconnected // a join given up on: the channel rejoins
			return r
		}
		if len(resp.PostgresChanges) != len(ch.bindings) {
			r.err = errBindingsMismatch
			return r
		}
		for i, b := range ch.bindings {
			got := resp.PostgresChanges[i]
			if got.Event != b.filter.event() || got.Schema != b.filter.schema() || got.Table != b.filter.Table || got.Filter != b.filter.Filter {
				r.err = errBindingsMismatch
				return r
			}
		}
		for i, b := range ch.bindings {
			b.id = resp.PostgresChanges[i].ID.String()
		}
		ch.resumeOK = resp.Resume != nil
		ch.sess = s
		if ch.state != stateJoined {
			ch.state = stateJoined
			close(ch.joinedC)
			ch.leftC = make(chan struct{})
		}
		return r
	}
}

// waitEnd waits until the joined channel stops being joined, and marks it
// so.
func (ch *Channel) waitEnd(s *session) joinEnd {
	var end joinEnd
	select {
	case <-s.ctx.Done():
		end = endDisconnected
	case <-ch.ctx.Done():
		end = endUnsubscribed
	case ev := <-ch.serverEnd:
		end = endServerError
		if ev == "phx_close" {
			end = endServerClose
		}
	}
	ch.setLeft()
	return end
}

// setLeft marks a joined channel as no longer joined (Send and Track wait
// for the next join).
func (ch *Channel) setLeft() {
	ch.mu.Lock()
	ch.live = false
	if ch.state == stateJoined {
		ch.state = stateJoining
		close(ch.leftC)
		ch.joinedC = make(chan struct{})
	}
	ch.mu.Unlock()
}

// leave sends phx_leave for the current join and waits a little for the
// reply, unless the client is closing.
func (ch *Channel) leave(s *session) {
	c := ch.c
	if c.ctx.Err() != nil || s.ctx.Err() != nil {
		return
	}
	ch.mu.Lock()
	joinRef := ch.joinRef
	ch.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
	defer cancel()
	_, _ = c.request(ctx, s, phoenix.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: "phx_leave"}, nil)
}

// joinedSession returns the connection of the current join, if joined.
func (ch *Channel) joinedSession() (*session, string, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.state != stateJoined || ch.sess == nil || ch.sess.ctx.Err() != nil {
		return nil, "", false
	}
	return ch.sess, ch.joinRef, true
}

// waitJoined waits until the channel is joined on a live connection.
func (ch *Channel) waitJoined(ctx context.Context) (*session, string, error) {
	for {
		ch.mu.Lock()
		switch ch.state {
		case stateIdle:
			ch.mu.Unlock()
			return nil, "", ErrNotSubscribed
		case stateClosed:
			ch.mu.Unlock()
			return nil, "", ErrChannelClosed
		}
		wait := ch.joinedC
		if ch.state == stateJoined {
			if s := ch.sess; s.ctx.Err() == nil {
				ref := ch.joinRef
				ch.mu.Unlock()
				return s, ref, nil
			}
			wait = ch.leftC // the connection died; the goroutine notices soon
		}
		ch.mu.Unlock()
		select {
		case <-wait:
		case <-ch.done:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
}
