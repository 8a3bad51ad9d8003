package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walcast/walcast/phoenix"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/broadcast"
)

// Close codes the server sends, besides coder/websocket's 1009 for an
// inbound message over MaxFrameBytes. realtime-js reconnects after any
// close it did not initiate, whatever the code.
const (
	// StatusServiceRestart (1012 "server restarting"): Shutdown, as
	// Supabase does when it drains a node.
	StatusServiceRestart = websocket.StatusServiceRestart
	// StatusSlowConsumer (4000 "slow consumer"): the connection's outbound
	// queue overflowed because the client did not read fast enough.
	StatusSlowConsumer websocket.StatusCode = 4000
	// StatusIdleTimeout (4001 "idle timeout"): no message (heartbeat or
	// other) arrived for IdleTimeout.
	StatusIdleTimeout websocket.StatusCode = 4001
)

// conn is one WebSocket connection. Its goroutines:
//
//   - the read loop (run, readLoop), which also tears the connection down
//     when the socket ends; the Server's WaitGroup counts it. Between
//     messages it is parked: no goroutine until the socket is readable;
//   - a writer, only while the queue has frames and its socket is full
//     (writeBlocking); otherwise the server's flushers write for it;
//   - short-lived helpers: the closer, a join waiting for its
//     subscription, the idle/ping timer's callback, a channel's token
//     expiry. Each is started through spawn/enter, which refuse once the
//     teardown began, and teardown waits for them all.
//
// Lock order: channel.mu, then conn.mu, then the Queue's lock.
type conn struct {
	// The write path's fields come first, together, so that a broadcast
	// to thousands of connections fetches few cache lines of each: Deliver
	// touches s, writing, q, mu, done and wg; a flush q, sock, lastWrite
	// and backlog.
	s         *Server
	writing   atomic.Bool     // the writer role is taken (writer.go)
	backlog   bool            // more than a batch was left: write again without waiting
	lastWrite time.Time       // of the last flush; only the writer role's holder uses it
	q         broadcast.Queue // by value: one object less to fetch per frame
	sw        *sockWriter     // &sock
	sock      sockWriter      // by value: one object less to fetch per write

	mu       sync.Mutex
	done     bool           // teardown began: no new goroutines
	wg       sync.WaitGroup // goroutines other than the read loop
	channels []*channel     // one per topic; nil until the first join

	id     uint64
	ws     *websocket.Conn
	hc     *hijackedConn // the socket under ws, and ws's reader of it:
	br     *bufio.Reader // park checks neither holds unparsed bytes
	vsn    phoenix.Version
	apikey string
	lim    connLimits // join and message rates (limits.go)

	parked   atomic.Bool  // the read loop returned until the socket is readable (park.go)
	closing  atomic.Bool  // a close was started; the first reason wins (set by startClosing)
	closeMu  sync.Mutex   // orders park's look at the read buffer before a close handshake reads it
	lastRead atomic.Int64 // unix nanoseconds of the last inbound message

	timer    *time.Timer // idle and ping checks (tick)
	nextPing time.Time   // only tick reads and writes it
}

// init readies c, allocated before the upgrade so that the upgrade could
// set up c.sock in place, once the WebSocket is accepted.
func (c *conn) init(s *Server, ws *websocket.Conn, vsn phoenix.Version, apikey string) {
	ws.SetReadLimit(int64(s.cfg.MaxFrameBytes))
	c.s, c.id, c.ws, c.sw = s, s.nextConnID.Add(1), ws, &c.sock
	c.vsn, c.apikey = vsn, apikey
	c.q.Init(s.cfg.QueueBytes)
}

// run starts the connection: its idle/ping timer, then the read loop.
func (c *conn) run() {
	// The timer starts here, not in init, so that a connection refused
	// after its upgrade (Shutdown began meanwhile) leaves nothing behind.
	// Under mu: tick reads timer and nextPing after enter() took it.
	c.mu.Lock()
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	c.nextPing = now.Add(c.s.cfg.PingInterval)
	c.timer = time.AfterFunc(c.nextTick(now), c.tick)
	c.mu.Unlock()
	if !c.park() {
		c.readLoop()
	}
}

// readLoop reads and handles messages until nothing is left to read, then
// parks the connection (park.go); when the socket ends it tears the
// connection down. It starts with a read: it runs because the socket is
// readable, or because someone needs a read to end. It reads with a background context: a cancelled context
// would make coder/websocket close the socket, and a context per read would
// cost a timer; timeouts are the tick's job.
func (c *conn) readLoop() {
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.logEnd(err)
			c.teardown()
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.handleFrame(typ, data)
		if c.park() {
			return
		}
	}
}

func (c *conn) logEnd(err error) {
	if !c.s.log.Enabled(context.Background(), levelDebug) {
		return
	}
	status := websocket.CloseStatus(err)
	switch {
	case status != -1:
		c.s.log.Debug("connection closed", "conn", c.id, "code", int(status))
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.s.log.Debug("connection closed", "conn", c.id)
	default:
		c.s.log.Debug("connection ended", "conn", c.id, "error", err)
	}
}

// teardown runs once, when the read loop ends: the socket is closed, every
// channel is stopped (and unsubscribed) and every helper goroutine has
// returned before the Server forgets the connection.
func (c *conn) teardown() {
	c.drop()
	if p := c.s.idle.Load(); p != nil {
		p.forget(c)
	}
	c.q.Close()
	c.mu.Lock()
	c.done = true
	chans := c.channels
	c.channels = nil
	c.mu.Unlock()
	c.timer.Stop()
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

// send queues f and makes sure a writer runs. It never blocks: when the
// queue is full the connection is closed as a slow consumer.
func (c *conn) send(f broadcast.Frame) bool {
	if !c.q.Push(f) {
		c.overflow()
		return false
	}
	c.startWriter()
	return true
}

func (c *conn) sendMessage(m phoenix.Message) bool {
	return c.send(broadcast.Frame{Body: phoenix.AppendText(nil, c.vsn, m)})
}

func (c *conn) overflow() {
	if c.closeWith(StatusSlowConsumer, "slow consumer") {
		c.s.stats.slowConsumers.Add(1)
		// Rate-limited: a network hiccup can make thousands slow at once.
		if suppressed, ok := c.s.slowLog.allow(time.Now()); ok {
			c.s.log.Warn("closing slow consumer", "conn", c.id, "queue_bytes", c.s.cfg.QueueBytes, "suppressed", suppressed)
		}
	}
}

// closeWith starts a close handshake with code on a helper goroutine, so
// that the caller (the replication dispatcher, a timer) never waits for the
// peer. Queued frames are discarded: the close frame goes out next. It
// reports whether this call started the close.
func (c *conn) closeWith(code websocket.StatusCode, reason string) bool {
	if !c.startClosing() {
		return false
	}
	c.q.Close()
	if !c.spawn(func() {
		c.ws.Close(code, reason)
		c.unpark() // the read that ends the connection
	}) {
		c.ws.CloseNow() // torn down already; make sure
	}
	return true
}

// closeNowWith is closeWith on the calling goroutine.
func (c *conn) closeNowWith(code websocket.StatusCode, reason string) {
	if !c.startClosing() {
		return
	}
	c.q.Close()
	c.ws.Close(code, reason)
	c.unpark()
}

// startClosing marks the connection as closing and reports whether this
// call did. coder/websocket's close handshake reads from the socket's
// buffered reader on the closer's goroutine, so park, which looks at that
// reader from the read loop, must see either the mark or a reader nobody
// else touches yet: closeMu orders the two.
func (c *conn) startClosing() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return !c.closing.Swap(true)
}

// drop closes the socket without a close handshake, also when one is in
// progress (coder/websocket's CloseNow would then wait for it).
func (c *conn) drop() {
	c.sw.closeSocket()
	c.ws.CloseNow()
	c.unpark()
}

// nextTick returns how long until the next idle or ping check.
func (c *conn) nextTick(now time.Time) time.Duration {
	at := time.Unix(0, c.lastRead.Load()).Add(c.s.cfg.IdleTimeout)
	if c.s.cfg.PingInterval > 0 {
		if p := c.pingDue(); p.Before(at) {
			at = p
		}
	}
	return max(at.Sub(now), time.Millisecond)
}

// pingDue is when the connection is pinged next: PingInterval after the
// last ping and after the last inbound message. A client that sends
// heartbeats (realtime-js does every 25 s) is thus never pinged, and its
// parked connection never woken for a pong.
func (c *conn) pingDue() time.Time {
	silent := time.Unix(0, c.lastRead.Load()).Add(c.s.cfg.PingInterval)
	if silent.After(c.nextPing) {
		return silent
	}
	return c.nextPing
}

// tick closes an idle connection and pings a live one. It runs on the
// timer's own goroutine, so an idle connection has no goroutine waiting for
// it beyond its read loop.
func (c *conn) tick() {
	if !c.enter() {
		return
	}
	defer c.wg.Done()
	if c.closing.Load() {
		return // the closer owns the socket now
	}
	cfg := &c.s.cfg
	now := time.Now()
	if now.Sub(time.Unix(0, c.lastRead.Load())) >= cfg.IdleTimeout {
		if c.closeWith(StatusIdleTimeout, "idle timeout") {
			c.s.stats.idleTimeouts.Add(1)
		}
		return
	}
	if cfg.PingInterval > 0 && !now.Before(c.pingDue()) {
		// The pong arrives through a read: the read loop must run.
		c.unpark()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			if !c.closing.Load() {
				c.s.stats.deadLinks.Add(1)
				c.s.log.Debug("ping failed; dropping connection", "conn", c.id, "error", err)
				c.drop()
			}
			return
		}
		now = time.Now()
		c.nextPing = now.Add(cfg.PingInterval)
	}
	c.mu.Lock()
	if !c.done {
		c.timer.Reset(c.nextTick(now))
	}
	c.mu.Unlock()
}
