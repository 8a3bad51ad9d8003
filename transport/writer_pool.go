package transport

import (
	"runtime"
	"sync"
)

// flushPool writes for every connection on at most max goroutines. A
// connection with something queued is put in line once (conn.writing
// guards that); a flusher takes it, writes its whole queue in one
// non-blocking write and moves on. A broadcast to thousands of connections
// thus costs no goroutine per connection and no scheduling per message, and
// the syscalls run on as many goroutines as there are cores. A socket that
// cannot take the bytes at once, or a message too big to copy, gets a
// writer goroutine of its own (conn.writeBlocking), so no flusher ever
// waits for a client.
//
// Flushers exist only while there is work: an idle server has none.
type flushPool struct {
	max int

	mu      sync.Mutex
	ready   []*conn // in line: ready[head:]
	head    int
	running int
	wg      sync.WaitGroup // running flushers
}

// flushGrab is how many connections a flusher takes from the line at once:
// few enough that the other flushers find work, enough to amortize the lock.
const flushGrab = 32

func newFlushPool() *flushPool {
	return &flushPool{max: runtime.GOMAXPROCS(0)}
}

// schedule puts c in line. The caller holds c's writer role and one count
// of c.wg, which the flush that takes c passes on or releases.
func (p *flushPool) schedule(c *conn) {
	p.mu.Lock()
	p.ready = append(p.ready, c)
	start := p.running < p.max
	if start {
		p.running++
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.run()
	}
}

func (p *flushPool) run() {
	defer p.wg.Done()
	var batch [flushGrab]*conn
	sc := new(writerScratch)
	for {
		n := p.take(batch[:])
		if n == 0 {
			return
		}
		for _, c := range batch[:n] {
			c.flush(sc)
		}
		clear(batch[:n])
		sc.reset()
	}
}

// take moves up to len(dst) connections from the line into dst. When the
// line is empty it retires the calling flusher and returns 0.
func (p *flushPool) take(dst []*conn) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := copy(dst, p.ready[p.head:])
	if n == 0 {
		p.running--
		if cap(p.ready) > 4096 {
			p.ready = nil // a burst must not pin a large line
		}
		p.ready, p.head = p.ready[:0], 0
		return 0
	}
	clear(p.ready[p.head : p.head+n])
	p.head += n
	// Compact now and then, so that a line that never empties under
	// steady load does not grow without bound.
	if p.head >= 1024 && 2*p.head >= len(p.ready) {
		m := copy(p.ready, p.ready[p.head:])
		clear(p.ready[m:])
		p.ready, p.head = p.ready[:m], 0
	}
	return n
}

// wait returns when no flusher runs. Connections hold the pool's work, so
// the server calls it after every connection is gone.
func (p *flushPool) wait() { p.wg.Wait() }
