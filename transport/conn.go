package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/wsconn"
	"github.com/walcast/walcast/phoenix"
)

// Close codes the server sends, besides wsconn's 1002, 1007 and 1009 for
// inbound frames that break RFC 6455, are not UTF-8 text or exceed
// MaxFrameBytes. realtime-js reconnects after any close it did not
// initiate, whatever the code. Untyped, so that they compare with any
// client library's status type.
const (
	// StatusServiceRestart (1012 "server restarting"): Shutdown, as
	// Supabase does when it drains a node.
	StatusServiceRestart = 1012
	// StatusSlowConsumer (4000 "slow consumer"): the connection's outbound
	// queue overflowed because the client did not read fast enough.
	StatusSlowConsumer = 4000
	// StatusIdleTimeout (4001 "idle timeout"): no message (heartbeat or
	// other) arrived for IdleTimeout.
	StatusIdleTimeout = 4001
)

// conn is one WebSocket connection's protocol state: its channels and
// limits. Its socket is ws (package wsconn), which reads frames, writes
// them and calls the conn's HandleMessage and HandleEnd on its read
// goroutine. Besides that read goroutine, a conn has short-lived helpers:
// a join waiting for its subscription, a channel's token expiry. Each is
// started through spawn/enter, which refuse once the teardown began, and
// teardown waits for them all.
//
// Lock order: channel.mu, then conn.mu, then wsconn's locks (see
// internal/wsconn's doc.go); wsconn never calls back into the conn while it
// holds a lock of its own.
type conn struct {
	// ws comes first and holds the write path's fields, so that a
	// broadcast to thousands of connections fetches few cache lines of
	// each (wsconn.Conn keeps them at its start).
	ws wsconn.Conn
	s  *Server

	mu       sync.Mutex
	done     bool           // teardown began: no new goroutines
	wg       sync.WaitGroup // helper goroutines
	channels []*channel     // one per topic; nil until the first join

	id     uint64
	vsn    phoenix.Version
	apikey string
	ip     string     // the client's address, counted for MaxConnsPerIP
	lim    connLimits // join and message rates (limits.go)
}

// init readies c once its WebSocket is accepted.
func (c *conn) init(s *Server, vsn phoenix.Version, apikey string) {
	c.s, c.id = s, c.ws.ID()
	c.vsn, c.apikey = vsn, apikey
}

// HandleMessage is wsconn's: one inbound data message, on the read
// goroutine. data is valid only during the call.
func (c *conn) HandleMessage(binary bool, data []byte) { c.handleFrame(binary, data) }

// HandleEnd is wsconn's: the socket is closed and wsconn's goroutines are
// gone.
func (c *conn) HandleEnd(err error) {
	c.logEnd(err)
	c.teardown()
}

func (c *conn) logEnd(err error) {
	if !c.s.log.Enabled(context.Background(), levelDebug) {
		return
	}
	status := wsconn.CloseStatus(err)
	switch {
	case status != 0:
		c.s.log.Debug("connection closed", "conn", c.id, "code", int(status))
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.s.log.Debug("connection closed", "conn", c.id)
	default:
		c.s.log.Debug("connection ended", "conn", c.id, "error", err)
	}
}

// teardown runs once, when the socket has ended: every channel is
// stopped (and unsubscribed) and every helper goroutine has returned
// before the Server forgets the connection.
func (c *conn) teardown() {
	c.mu.Lock()
	c.done = true
	chans := c.channels
	c.channels = nil
	c.mu.Unlock()
	for _, ch := range chans {
		ch.stop()
	}
	c.wg.Wait()
	c.s.remove(c)
	c.s.wg.Done()
}

// enter registers the calling goroutine with the connection, or reports
// that the connection is being torn down and the caller must return.
func (c *conn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.wg.Add(1)
	return true
}

// spawn runs f on a goroutine owned by the connection.
func (c *conn) spawn(f func()) bool {
	if !c.enter() {
		return false
	}
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// send queues f for the socket. It never blocks: when the queue is full
// the connection is closed as a slow consumer (wsconn counts it).
func (c *conn) send(f broadcast.Frame) bool { return c.ws.Send(f) }

func (c *conn) sendMessage(m phoenix.Message) bool {
	return c.send(broadcast.Frame{Body: phoenix.AppendText(nil, c.vsn, m)})
}
