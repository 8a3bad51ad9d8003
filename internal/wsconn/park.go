package wsconn

// Parking. Between messages a connection's read loop returns instead of
// blocking in a read, when nothing it has read is waiting to be parsed;
// the host's idlePoller starts it again when the socket becomes readable
// or hangs up (park_linux.go). Whoever ends a parked connection (drop, a
// close handshake that timed out) unparks it too, so that its read fails
// and the read loop tears the connection down as it always does.

// park reports whether the read loop must return because the connection is
// parked now (or another read loop already took over). The read buffer is
// empty: it goes back to the pool.
func (c *Conn) park() bool {
	if !c.host.opts.Parking || c.sock.rc == nil {
		return false
	}
	p := c.host.idlePoller()
	if p == nil {
		return false
	}
	c.rd.release()
	c.parked.Store(true)
	if err := p.watch(c); err != nil {
		// The socket is closed (the next read reports it) or epoll
		// refused: read on, unless someone unparked meanwhile.
		return !c.parked.CompareAndSwap(true, false)
	}
	return true
}

// unpark starts the read loop of a parked connection again. It does
// nothing when the read loop runs.
func (c *Conn) unpark() {
	if c.parked.CompareAndSwap(true, false) {
		go c.readLoop()
	}
}

// idlePoller returns the host's poller, started on first use, or nil when
// parking is not available or the host is closed.
func (h *Host) idlePoller() *idlePoller {
	if p := h.idle.Load(); p != nil {
		return p
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.idle.Load(); p != nil || h.idleFailed {
		return p
	}
	p, err := newIdlePoller()
	if err != nil {
		h.idleFailed = true
		h.log.Info("idle connections keep a read goroutine", "reason", err)
		return nil
	}
	h.idle.Store(p)
	return p
}

// stopIdlePoller stops the poller once every connection is gone.
func (h *Host) stopIdlePoller() {
	h.mu.Lock()
	p := h.idle.Swap(nil)
	h.idleFailed = true // no new one
	h.mu.Unlock()
	if p != nil {
		p.close()
	}
}
