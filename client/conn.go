package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

var (
	errHeartbeatTimeout = errors.New("heartbeat timeout: no reply to the last heartbeat")
	errQueueFull        = errors.New("callback queue full: callbacks are slower than the messages arrive")
)

// session is one WebSocket connection. Its ctx ends when the connection
// does; writes are serialized by writeMu (one writer per socket).
type session struct {
	conn    *websocket.Conn
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	writeMu sync.Mutex
	version phoenix.Version

	causeMu sync.Mutex
	cause   error // why the client ended the connection, if it did
}

// connect dials one connection; ctx bounds the handshake only.
func (c *Client) connect(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{HTTPClient: c.opts.HTTPClient, HTTPHeader: c.opts.Header})
	if err != nil {
		return nil, dialError(resp, err)
	}
	conn.SetReadLimit(c.opts.MaxMessageBytes)
	s := &session{conn: conn, timeout: c.opts.Timeout, version: c.opts.Version}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	return s, nil
}

// dialError names the server's refusal: the status and the body's
// {"error": msg}, as Supabase and walcast answer a bad apikey.
func dialError(resp *http.Response, err error) error {
	if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return fmt.Errorf("realtime: connect: %w", err)
	}
	var body struct{ Error, Message string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &body) == nil && body.Error+body.Message != "" {
		msg = body.Error + body.Message
	}
	return fmt.Errorf("realtime: connect: server answered %s: %s", resp.Status, msg)
}

func (s *session) write(ctx context.Context, typ websocket.MessageType, b []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.conn.Write(wctx, typ, b); err != nil {
		if s.ctx.Err() != nil {
			return ErrDisconnected
		}
		return fmt.Errorf("realtime: write: %w", err)
	}
	return nil
}

func (s *session) writePush(ctx context.Context, m phoenix.Message) error {
	return s.write(ctx, websocket.MessageText, phoenix.AppendPush(nil, s.version, m))
}

// closeNormally sends a 1000 close, as realtime-js's disconnect() does.
func (s *session) closeNormally() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
}

// run owns the connection: it serves each one until it ends, then dials
// again with backoff, until Close.
func (c *Client) run(s *session) {
	for {
		err := c.serve(s)
		if c.closing() {
			return
		}
		c.log.Warn("realtime: connection lost; reconnecting", "error", err)
		for attempt := 0; ; attempt++ {
			if !sleep(c.ctx, c.opts.Backoff.Delay(attempt)) {
				return
			}
			if s, err = c.connect(c.ctx); err == nil {
				c.log.Info("realtime: reconnected", "attempts", attempt+1)
				break
			}
			if c.ctx.Err() != nil {
				return
			}
			c.log.Warn("realtime: reconnect failed", "attempt", attempt+1, "error", err)
		}
	}
}

// serve publishes s to the channels (which rejoin on it), runs its
// heartbeat, and reads it until it fails.
func (c *Client) serve(s *session) error {
	c.mu.Lock()
	c.sess = s
	close(c.up)
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { c.heartbeat(s) })
	err := c.read(s)
	// Unpublish before ending the context, so that whoever wakes up on it
	// waits for the next connection rather than finding this one.
	c.mu.Lock()
	c.sess = nil
	c.up = make(chan struct{})
	c.mu.Unlock()
	s.cancel()
	_ = s.conn.CloseNow()
	wg.Wait()
	return err
}

// heartbeat sends a heartbeat every interval and ends the connection when
// the previous one got no reply, as realtime-js does.
func (c *Client) heartbeat(s *session) {
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	var ref string
	var replied chan reply
	defer func() {
		if ref != "" {
			c.unregister(ref)
		}
	}()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if replied != nil {
			select {
			case <-replied:
			default:
				s.fail(errHeartbeatTimeout)
				return
			}
			c.unregister(ref)
		}
		ref = c.nextRef()
		replied = c.register(ref, nil)
		if err := s.writePush(s.ctx, phoenix.Message{Ref: ref, Topic: "phoenix", Event: "heartbeat"}); err != nil {
			s.fail(err)
			return
		}
		c.refreshToken(s.ctx)
	}
}

// fail ends the connection for cause; the read loop returns and the client
// reconnects.
func (s *session) fail(cause error) {
	s.causeMu.Lock()
	if s.cause == nil {
		s.cause = cause
	}
	s.causeMu.Unlock()
	_ = s.conn.CloseNow()
}

func (s *session) failure() error {
	s.causeMu.Lock()
	defer s.causeMu.Unlock()
	return s.cause
}

// read reads frames until the connection fails or a callback queue
// overflows.
func (c *Client) read(s *session) error {
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			if cause := s.failure(); cause != nil {
				return cause
			}
			return err
		}
		var m phoenix.Message
		if typ == websocket.MessageBinary {
			m, err = phoenix.DecodeBroadcast(data)
		} else {
			m, err = phoenix.DecodeText(c.opts.Version, data)
		}
		if err != nil {
			c.log.Warn("realtime: malformed frame dropped", "error", err, "bytes", len(data))
			continue
		}
		if !c.route(m) {
			c.log.Error("realtime: callbacks fell behind; dropping the connection to resume", "queue", c.opts.QueueSize)
			return errQueueFull
		}
	}
}

// route hands one message to its waiter or channel. It returns false when
// the callback queue is full.
func (c *Client) route(m phoenix.Message) bool {
	if m.Event == "phx_reply" && m.Ref != "" {
		c.mu.Lock()
		p := c.pending[m.Ref]
		c.mu.Unlock()
		if p != nil {
			var r reply
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				r = reply{Status: "error", Response: m.Payload, err: fmt.Errorf("realtime: malformed reply: %w", err)}
			}
			if p.hook != nil {
				r = p.hook(r)
			}
			select {
			case p.ch <- r:
			default:
			}
			return true
		}
	}
	if m.Topic == "phoenix" {
		return true
	}
	c.mu.Lock()
	ch := c.channels[m.Topic]
	c.mu.Unlock()
	if ch == nil {
		return true
	}
	return ch.handle(m)
}
