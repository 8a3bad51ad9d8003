package wsconn

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Handler is what a Conn calls. Both methods run on the connection's read
// goroutine, one call at a time.
type Handler interface {
	// HandleMessage is called for every data message, in order. data is
	// valid only during the call: the connection reuses its memory.
	HandleMessage(binary bool, data []byte)
	// HandleEnd is called once, after the socket is closed and every
	// goroutine of the Conn but the caller has returned. err says how the
	// connection ended: a *CloseError when a close frame was exchanged
	// (CloseStatus reads its code), else the read error.
	HandleEnd(err error)
}

// errTornDown is what a close frame that was never written reports.
var errTornDown = errors.New("connection torn down")

// Conn is one WebSocket connection, readied in place by Host.Accept. It
// must not be copied. See doc.go for its goroutines and locks.
type Conn struct {
	// The write path's fields come first, together, so that a broadcast
	// to thousands of connections fetches few cache lines of each: Send
	// touches host, writing, q; a flush also ctlPending, backlog,
	// lastWrite and sock.
	host       *Host
	writing    atomic.Bool     // the writer role is taken (write.go)
	ctlPending atomic.Bool     // control frames wait in ctl
	backlog    bool            // more than a batch was left: write again without waiting
	lastWrite  time.Time       // of the last flush; only the writer role's holder uses it
	q          broadcast.Queue // by value: one object less to fetch per frame
	sock       sock            // by value: one object less to fetch per write

	closing  atomic.Bool   // a close frame is queued, or the connection is over: no more data
	parked   atomic.Bool   // the read loop returned until the socket is readable (park.go)
	lastRead atomic.Int64  // unix nanoseconds of the last inbound data message
	pongs    atomic.Uint32 // inbound pongs so far
	id       uint64
	handler  Handler

	mu       sync.Mutex
	done     bool           // torn down: no new goroutines
	wg       sync.WaitGroup // goroutines other than the read loop: a blocking writer, the timer's callback
	timer    *time.Timer    // idle, ping and close checks (tick)
	nextPing time.Time      // the next ping is due no earlier
	pingSent time.Time      // of the unanswered ping; zero when none
	pingAt   uint32         // pongs when it was sent: a pong since answers it
	closeBy  time.Time      // a close handshake not over by then is cut

	ctlMu     sync.Mutex
	ctl       control       // control frames waiting for the writer role
	sent      *CloseError   // the close frame queued by this side
	closeDone chan struct{} // closed once that frame is written, or cannot be
	closeOut  bool          // closeDone is closed

	rd reader // the read loop's

	raw *rawStream // nil for a WebSocket (raw.go)
}

// ID returns the connection's number, unique within its Host.
func (c *Conn) ID() uint64 { return c.id }

// Start arms the connection's timer and starts reading. It is called once,
// after a successful Accept.
func (c *Conn) Start() {
	c.mu.Lock()
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	c.nextPing = now.Add(c.host.opts.PingInterval)
	c.timer = time.AfterFunc(c.nextTick(now), c.tick)
	c.mu.Unlock()
	if c.rd.empty() && c.park() {
		return
	}
	go c.run()
}

// Send queues f and makes sure a writer runs. It never blocks: when the
// queue (Options.QueueBytes) is full the connection is closed with 4000
// "slow consumer". It reports whether f was queued; after Close it drops f.
func (c *Conn) Send(f broadcast.Frame) bool {
	if !c.q.Push(f) {
		c.overflow()
		return false
	}
	c.startWriter()
	return true
}

func (c *Conn) overflow() {
	if c.closing.Load() {
		return // closed meanwhile: the queue refuses, nobody is slow
	}
	if c.Close(StatusSlowConsumer, "slow consumer") {
		c.host.stats.slowConsumers.Add(1)
		// Rate-limited: a network hiccup can make thousands slow at once.
		if suppressed, ok := c.host.slowLog.allow(time.Now()); ok {
			c.host.log.Warn("closing slow consumer", "conn", c.id, "queue_bytes", c.host.opts.QueueBytes, "suppressed", suppressed)
		}
	}
}

// QueuedBytes returns the bytes waiting in the outbound queue.
func (c *Conn) QueuedBytes() int { return c.q.Bytes() }

// Close starts the close handshake: queued data is discarded, the close
// frame with code and reason goes out next and nothing after it, and the
// socket is closed when the peer answers, hangs up, or has not done so
// within WriteTimeout. It never blocks. It reports whether this call
// started the close (the first one wins).
func (c *Conn) Close(code StatusCode, reason string) bool {
	return c.startClose(&CloseError{Code: code, Reason: reason}, nil)
}

// startClose queues the close frame of ce (a raw stream: final, or its
// RawConfig.Final when final is nil).
func (c *Conn) startClose(ce *CloseError, final []byte) bool {
	if !c.closing.CompareAndSwap(false, true) {
		return false
	}
	c.q.Close()
	c.ctlMu.Lock()
	c.ctl.close = true
	c.ctl.final = final
	c.ctl.closeData = closePayload(c.ctl.closeData, ce.Code, ce.Reason)
	c.sent = ce
	c.closeDone = make(chan struct{})
	c.ctlMu.Unlock()
	c.ctlPending.Store(true)
	c.startWriter()
	c.mu.Lock()
	now := time.Now()
	c.closeBy = now.Add(c.host.opts.WriteTimeout)
	if c.timer != nil && !c.done {
		c.timer.Reset(c.nextTick(now))
	}
	c.mu.Unlock()
	return true
}

// closeStarted reports whether a close frame was queued. (Conn.closing is
// also set by the teardown, which may follow a failed write at once when
// the read loop sees the socket closed.)
func (c *Conn) closeStarted() bool {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	return c.sent != nil
}

// closeWritten records that the close frame is written, or will not be.
func (c *Conn) closeWritten(error) {
	c.ctlMu.Lock()
	if c.closeDone != nil && !c.closeOut {
		c.closeOut = true
		close(c.closeDone)
	}
	c.ctlMu.Unlock()
}

// waitCloseWritten waits, at most WriteTimeout, until the queued close
// frame is out, so that closing the socket does not cut it off.
func (c *Conn) waitCloseWritten() {
	c.ctlMu.Lock()
	done := c.closeDone
	c.ctlMu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(c.host.opts.WriteTimeout)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
}

// Drop closes the socket at once, without a close frame. The read loop
// then tears the connection down.
func (c *Conn) Drop() { c.drop() }

func (c *Conn) drop() {
	c.sock.close()
	c.unpark() // the read that ends the connection
}

// enter registers the calling goroutine with the connection, or reports
// that the connection is torn down and the caller must return.
func (c *Conn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.wg.Add(1)
	return true
}

// finish ends the connection from the read loop after a close frame (ce
// received when peer is set) or a protocol error (ce to send): the close
// frame goes out (an echo of the peer's code, or ours), then the socket is
// closed and the connection torn down.
func (c *Conn) finish(ce *CloseError, peer bool) {
	if peer {
		echo := &CloseError{Code: ce.Code}
		if ce.Code == statusNoStatus {
			echo.Code = 0 // an empty close frame answers one
		}
		c.startClose(echo, nil)
	} else {
		c.startClose(ce, nil)
	}
	c.waitCloseWritten()
	c.teardown(ce)
}

// teardown runs once, on the read loop, when the connection ends: the
// socket is closed, every goroutine of the connection has returned, and
// then the handler hears of the end.
func (c *Conn) teardown(err error) {
	c.closing.Store(true)
	c.sock.close()
	if p := c.host.idle.Load(); p != nil {
		p.forget(c)
	}
	c.q.Close()
	c.mu.Lock()
	c.done = true
	t := c.timer
	c.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	c.wg.Wait()
	c.closeWritten(errTornDown)
	c.rd.release()
	var ce *CloseError
	if !errors.As(err, &ce) {
		c.ctlMu.Lock()
		if c.sent != nil {
			err = c.sent
		}
		c.ctlMu.Unlock()
	}
	c.handler.HandleEnd(err)
}

// nextTick returns how long until the next idle, ping or close check.
// c.mu must be held.
func (c *Conn) nextTick(now time.Time) time.Duration {
	if c.raw != nil {
		return c.rawNextTick(now)
	}
	o := &c.host.opts
	var at time.Time
	if c.closing.Load() && !c.closeBy.IsZero() {
		at = c.closeBy
	} else {
		at = time.Unix(0, c.lastRead.Load()).Add(o.IdleTimeout)
		if o.PingInterval > 0 {
			if p := c.pingDue(); p.Before(at) {
				at = p
			}
		}
		if !c.pingSent.IsZero() {
			if d := c.pingSent.Add(o.WriteTimeout); d.Before(at) {
				at = d
			}
		}
	}
	return max(at.Sub(now), time.Millisecond)
}

// pingDue is when the connection is pinged next: PingInterval after the
// last ping and after the last inbound message. A client that sends
// heartbeats (realtime-js does every 25 s) is thus never pinged, and its
// parked connection never woken for a pong. c.mu must be held.
func (c *Conn) pingDue() time.Time {
	silent := time.Unix(0, c.lastRead.Load()).Add(c.host.opts.PingInterval)
	if silent.After(c.nextPing) {
		return silent
	}
	return c.nextPing
}

// tick closes an idle connection, pings a silent one, drops one whose
// ping went unanswered or whose close handshake is overdue. It runs on the
// timer's own goroutine, so an idle connection has no goroutine waiting
// for it. A pong needs no read loop waiting for it either: it makes the
// parked socket readable, which wakes the connection.
func (c *Conn) tick() {
	if !c.enter() {
		return
	}
	defer c.wg.Done()
	if c.raw != nil {
		c.rawTick()
		return
	}
	o := &c.host.opts
	now := time.Now()
	c.mu.Lock()
	closeBy, pingSent := c.closeBy, c.pingSent
	if !pingSent.IsZero() && c.pongs.Load() != c.pingAt {
		pingSent, c.pingSent = time.Time{}, time.Time{} // answered
	}
	ping := o.PingInterval > 0 && pingSent.IsZero() && !now.Before(c.pingDue())
	if ping {
		c.pingSent, c.nextPing, c.pingAt = now, now.Add(o.PingInterval), c.pongs.Load()
	}
	c.mu.Unlock()
	switch {
	case c.closing.Load():
		if !closeBy.IsZero() && !now.Before(closeBy) {
			c.host.log.Debug("close handshake timed out; dropping connection", "conn", c.id)
			c.drop()
			return
		}
	case !pingSent.IsZero() && now.Sub(pingSent) >= o.WriteTimeout:
		c.host.stats.deadLinks.Add(1)
		c.host.log.Debug("ping unanswered; dropping connection", "conn", c.id)
		c.drop()
		return
	case now.Sub(time.Unix(0, c.lastRead.Load())) >= o.IdleTimeout:
		if c.Close(StatusIdleTimeout, "idle timeout") {
			c.host.stats.idleTimeouts.Add(1)
		}
		return // Close set the timer
	case ping:
		c.queueControl(opPing, nil)
	}
	c.mu.Lock()
	if !c.done {
		c.timer.Reset(c.nextTick(time.Now()))
	}
	c.mu.Unlock()
}
