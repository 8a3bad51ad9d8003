package transport

// Parking. Between messages a connection's read loop returns instead of
// blocking in a read, when nothing it has read ahead is waiting to be
// parsed; the server's idlePoller starts it again when the socket becomes
// readable or hangs up (park_linux.go). Whoever ends a parked connection
// (drop, a close handshake) unparks it too, so that its read fails and the
// read loop tears the connection down as it always does.

// park reports whether the read loop must return because the connection is
// parked now (or another read loop already took over).
func (c *conn) park() bool {
	if c.sw.rc == nil || !c.idleBuffers() {
		return false
	}
	p := c.s.idlePoller()
	if p == nil {
		return false
	}
	c.parked.Store(true)
	if err := p.watch(c); err != nil {
		// The socket is closed (the next read reports it) or epoll
		// refused: read on, unless someone unparked meanwhile.
		return !c.parked.CompareAndSwap(true, false)
	}
	return true
}

// idleBuffers reports whether nothing read ahead waits to be parsed and no
// close has begun (see startClosing).
func (c *conn) idleBuffers() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return !c.closing.Load() && c.br.Buffered() == 0 && len(c.hc.pending) == 0
}

// unpark starts the read loop of a parked connection again. It does
// nothing when the read loop runs.
func (c *conn) unpark() {
	if c.parked.CompareAndSwap(true, false) {
		go c.readLoop()
	}
}

// idlePoller returns the server's poller, started on first use, or nil
// when parking is not available or the server is stopping.
func (s *Server) idlePoller() *idlePoller {
	if p := s.idle.Load(); p != nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.idle.Load(); p != nil || s.draining || s.idleFailed {
		return p
	}
	p, err := newIdlePoller()
	if err != nil {
		s.idleFailed = true
		s.log.Info("idle connections keep a read goroutine", "reason", err)
		return nil
	}
	s.idle.Store(p)
	return p
}

// stopIdlePoller stops the poller once every connection is gone.
func (s *Server) stopIdlePoller() {
	s.mu.Lock()
	p := s.idle.Swap(nil)
	s.idleFailed = true // no new one
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
}
