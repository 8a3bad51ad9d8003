package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// Client is one WebSocket connection to a Supabase Realtime server
// (walcast or Supabase's) and its channels. It reconnects by itself until
// Close. All methods are safe for concurrent use.
type Client struct {
	opts   Options
	url    string
	log    *slog.Logger
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the run loop, the delivery goroutine, channel goroutines
	events chan func()    // callbacks waiting for the delivery goroutine
	refs   atomic.Uint64

	mu       sync.Mutex
	closed   bool
	sess     *session      // nil while disconnected
	up       chan struct{} // closed once sess is set; replaced when it ends
	channels map[string]*Channel
	pending  map[string]*pending
	token    string
}

// pending is a push waiting for its phx_reply. hook, when set, runs on the
// reader goroutine before the reply is handed over, so that what the reply
// sets up (a join's binding ids) is in place before the next frame is read.
type pending struct {
	ch   chan reply
	hook func(reply) reply
}

type reply struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
	err      error           // set by a hook that refuses the reply
}

// reason is the text of an error reply: response.reason, or the response
// itself.
func (r reply) reason() string {
	var v struct{ Reason string }
	if json.Unmarshal(r.Response, &v) == nil && v.Reason != "" {
		return v.Reason
	}
	var s string
	if json.Unmarshal(r.Response, &s) == nil && s != "" {
		return s
	}
	if len(r.Response) > 0 {
		return string(r.Response)
	}
	return r.Status
}

// Dial connects to a Supabase Realtime endpoint and returns the connected
// client. rawURL is what realtime-js takes: http(s) or ws(s), with the path
// of the endpoint ("/realtime/v1", or "/socket" for self-hosted Supabase);
// "/websocket" is appended, and a bare host gets "/realtime/v1". ctx bounds
// this first connection only: a failure is returned, not retried, so that
// a wrong URL or apikey shows at once. Later disconnects are retried with
// opts.Backoff until Close.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	opts.setDefaults()
	if opts.APIKey == "" {
		return nil, errors.New("realtime: Options.APIKey is required")
	}
	if opts.Version != phoenix.V1 && opts.Version != phoenix.V2 {
		return nil, fmt.Errorf("realtime: Options.Version %v: want phoenix.V1 or phoenix.V2", opts.Version)
	}
	u, err := websocketURL(rawURL, opts.APIKey, opts.Version)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     opts,
		url:      u,
		log:      opts.Logger.With("component", "realtime-client"),
		events:   make(chan func(), opts.QueueSize),
		up:       make(chan struct{}),
		channels: make(map[string]*Channel),
		pending:  make(map[string]*pending),
		token:    opts.AccessToken,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	s, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.wg.Go(func() { c.run(s) })
	c.wg.Go(c.deliver)
	return c, nil
}

// websocketURL builds the socket URL as realtime-js does: the endpoint,
// "/websocket", then apikey and vsn.
func websocketURL(raw, apikey string, v phoenix.Version) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("realtime: URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("realtime: URL %q: want an http, https, ws or wss URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("realtime: URL %q has no host", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if p == "" {
		p = "/realtime/v1"
	}
	if !strings.HasSuffix(p, "/websocket") {
		p += "/websocket"
	}
	u.Path, u.RawPath = p, ""
	q := u.Query()
	q.Set("apikey", apikey)
	q.Set("vsn", v.String())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Close closes the connection and every channel, and waits until every
// goroutine of the client has stopped; queued callbacks that have not run
// are dropped. It must not be called from a callback (it would wait for
// itself). Calling it again does nothing.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		s.closeNormally()
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

// Channel returns the channel of topic "realtime:"+name. As in
// realtime-js, one client has one channel per topic: while a channel of
// that name is open, Channel returns it and ignores cfg. After it was
// unsubscribed or closed, Channel returns a new one.
func (c *Client) Channel(name string, cfg ChannelConfig) *Channel {
	topic := "realtime:" + name
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.channels[topic]; ch != nil {
		return ch
	}
	ch := newChannel(c, topic, name, cfg)
	if !c.closed {
		c.channels[topic] = ch
	}
	return ch
}

// SetAuth replaces the access token: every joined channel gets it at once
// (an access_token push, which the server does not answer; a token it
// refuses closes the channel with a system error), and later joins and
// rejoins carry it. Channels that are not joined just keep it for their
// next join, so SetAuth succeeds while disconnected.
func (c *Client) SetAuth(ctx context.Context, token string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if token == c.token {
		c.mu.Unlock()
		return nil
	}
	c.token = token
	chans := make([]*Channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	c.mu.Unlock()
	var errs []error
	payload, _ := json.Marshal(map[string]string{"access_token": token})
	for _, ch := range chans {
		s, joinRef, ok := ch.joinedSession()
		if !ok {
			continue
		}
		err := s.writePush(ctx, phoenix.Message{JoinRef: joinRef, Ref: c.nextRef(), Topic: ch.topic, Event: "access_token", Payload: payload})
		if err != nil {
			errs = append(errs, fmt.Errorf("send access token to %s: %w", ch.topic, err))
		}
	}
	return errors.Join(errs...)
}

// accessToken returns the token for a join, asking AccessTokenFunc first.
func (c *Client) accessToken(ctx context.Context) string {
	if f := c.opts.AccessTokenFunc; f != nil {
		fctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		tok, err := f(fctx)
		cancel()
		if err != nil {
			c.log.Warn("realtime: access token callback failed; keeping the last token", "error", err)
		} else {
			c.mu.Lock()
			c.token = tok
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// refreshToken asks AccessTokenFunc and sends a changed token (heartbeat).
func (c *Client) refreshToken(ctx context.Context) {
	f := c.opts.AccessTokenFunc
	if f == nil {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	tok, err := f(fctx)
	if err != nil {
		c.log.Warn("realtime: access token callback failed; keeping the last token", "error", err)
		return
	}
	if err := c.SetAuth(fctx, tok); err != nil && !errors.Is(err, ErrClosed) {
		c.log.Warn("realtime: sending the refreshed access token failed", "error", err)
	}
}

// closing reports whether Close was called.
func (c *Client) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) nextRef() string { return strconv.FormatUint(c.refs.Add(1), 10) }

// register makes ref wait for its phx_reply.
func (c *Client) register(ref string, hook func(reply) reply) chan reply {
	p := &pending{ch: make(chan reply, 1), hook: hook}
	c.mu.Lock()
	c.pending[ref] = p
	c.mu.Unlock()
	return p.ch
}

func (c *Client) unregister(ref string) {
	c.mu.Lock()
	delete(c.pending, ref)
	c.mu.Unlock()
}

// request writes m and waits for its reply, the connection's end, ctx or
// Options.Timeout.
func (c *Client) request(ctx context.Context, s *session, m phoenix.Message, hook func(reply) reply) (reply, error) {
	ch := c.register(m.Ref, hook)
	defer c.unregister(m.Ref)
	if err := s.writePush(ctx, m); err != nil {
		return reply{}, err
	}
	return c.await(ctx, s, ch)
}

func (c *Client) await(ctx context.Context, s *session, ch chan reply) (reply, error) {
	t := time.NewTimer(c.opts.Timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, r.err
	case <-t.C:
		return reply{}, ErrTimeout
	case <-s.ctx.Done():
		return reply{}, ErrDisconnected
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// waitSession returns the live connection, waiting for one if needed.
func (c *Client) waitSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		s, up := c.sess, c.up
		c.mu.Unlock()
		if s != nil && s.ctx.Err() == nil {
			return s, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// enqueue hands f to the delivery goroutine; false means the queue is
// full.
func (c *Client) enqueue(f func()) bool {
	select {
	case c.events <- f:
		return true
	default:
		return false
	}
}

// deliver runs the callbacks, one at a time, in the order their messages
// arrived.
func (c *Client) deliver() {
	for {
		select {
		case f := <-c.events:
			f()
		case <-c.ctx.Done():
			return
		}
	}
}

// removeChannel forgets ch once it is closed.
func (c *Client) removeChannel(ch *Channel) {
	c.mu.Lock()
	if c.channels[ch.topic] == ch {
		delete(c.channels, ch.topic)
	}
	c.mu.Unlock()
}
