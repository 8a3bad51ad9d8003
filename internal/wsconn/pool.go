package wsconn

import (
	"runtime"
	"sync"
	"time"
)

// flushPool writes for every connection on at most max goroutines. A
// connection with something queued is put in line once (conn.writing
// guards that); a flusher takes it, writes what is queued (up to
// batchBytes) in one non-blocking write and moves on. A broadcast to
// thousands of connections thus costs no goroutine per connection and no
// scheduling per message, and the syscalls run on as many goroutines as
// there are cores. A message too big to copy goes out in the same
// non-blocking write, as a vectored send of its own bytes. A socket that
// cannot take the bytes at once gets a writer goroutine of its own
// (Conn.writeBlocking) for the rest, so no flusher ever waits for a client.
//
// Coalescing (Config.WriteCoalesce, off by default): a connection written
// less than hold ago waits in the held heap until hold has passed since
// that write, so that a busy connection gets at most one write per hold,
// carrying everything queued meanwhile, and a quiet one is written at
// once. The price is at most hold of added latency, and only on
// connections that are busy anyway. A backlog (a full batch left queued)
// is never held.
//
// Flushers exist only while there is work: an idle server has none.
type flushPool struct {
	max   int
	hold  time.Duration
	stats *counters // the host's: what the flushers sent is added per batch

	mu       sync.Mutex
	ready    []*Conn // in line: ready[head:]
	head     int
	held     heldHeap // by due time
	sleeping bool     // a flusher waits for the first held connection
	running  int
	wg       sync.WaitGroup // running flushers
}

// flushGrab is how many connections a flusher takes from the line at once:
// few enough that the other flushers find work, enough to amortize the lock.
const flushGrab = 32

func newFlushPool(hold time.Duration, stats *counters) *flushPool {
	return &flushPool{max: runtime.GOMAXPROCS(0), hold: max(hold, 0), stats: stats}
}

// schedule puts c in line. The caller holds c's writer role, which the
// flush that takes c passes on or releases.
func (p *flushPool) schedule(c *Conn) {
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
	var batch [flushGrab]*Conn
	sc := new(writerScratch)
	for {
		n, wait := p.take(batch[:])
		if n == 0 {
			if wait <= 0 {
				return
			}
			time.Sleep(wait)
			p.mu.Lock()
			p.sleeping = false
			p.running++
			p.mu.Unlock()
			continue
		}
		now := time.Now()
		for _, c := range batch[:n] {
			if p.hold > 0 && !c.backlog && now.Sub(c.lastWrite) < p.hold {
				p.holdBack(c, c.lastWrite.Add(p.hold))
				continue
			}
			c.backlog = false
			c.flush(sc, now)
		}
		clear(batch[:n])
		sc.publish(p.stats)
		sc.reset()
	}
}

// take moves up to len(dst) connections from the line into dst, after
// putting the held ones that are due back in line. When there are none it
// returns how long the calling flusher must sleep for the first held
// connection, or 0 after retiring it.
func (p *flushPool) take(dst []*Conn) (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.held) > 0 {
		now := time.Now()
		for len(p.held) > 0 && !p.held[0].due.After(now) {
			p.ready = append(p.ready, p.held.pop())
		}
	}
	n := copy(dst, p.ready[p.head:])
	if n == 0 {
		p.running--
		if len(p.held) > 0 && !p.sleeping {
			// This flusher waits for the held ones; it does not count as
			// running meanwhile, so new work gets a flusher of its own.
			p.sleeping = true
			return 0, max(time.Until(p.held[0].due), time.Microsecond)
		}
		if cap(p.ready) > 4096 {
			p.ready = nil // a burst must not pin a large line
		}
		p.ready, p.head = p.ready[:0], 0
		return 0, 0
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
	return n, 0
}

// holdBack parks c (whose writer role the caller holds) until due. Some
// flusher is running: the caller.
func (p *flushPool) holdBack(c *Conn, due time.Time) {
	p.mu.Lock()
	p.held.push(heldConn{c: c, due: due})
	p.mu.Unlock()
}

type heldConn struct {
	c   *Conn
	due time.Time
}

// heldHeap is a min-heap of held connections by due time (written out
// rather than through container/heap, whose interface boxes every element).
type heldHeap []heldConn

func (h *heldHeap) push(x heldConn) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		parent := (i - 1) / 2
		if !a[i].due.Before(a[parent].due) {
			break
		}
		a[i], a[parent] = a[parent], a[i]
		i = parent
	}
}

func (h *heldHeap) pop() *Conn {
	a := *h
	c := a[0].c
	last := len(a) - 1
	a[0] = a[last]
	a[last] = heldConn{}
	a = a[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(a) && a[l].due.Before(a[least].due) {
			least = l
		}
		if r < len(a) && a[r].due.Before(a[least].due) {
			least = r
		}
		if least == i {
			break
		}
		a[i], a[least] = a[least], a[i]
		i = least
	}
	*h = a
	return c
}

// wait returns when no flusher runs. Connections hold the pool's work, so
// the host calls it after every connection is gone.
func (p *flushPool) wait() { p.wg.Wait() }
