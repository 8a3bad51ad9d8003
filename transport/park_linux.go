//go:build linux

package transport

import (
	"errors"
	"sync"
	"syscall"
)

// idlePoller watches parked connections: sockets with nothing to read,
// whose read loop has returned (see conn.park). A goroutine blocked in a
// read keeps a stack of several KiB per connection, most of an idle
// connection's memory; here an idle connection costs one epoll
// registration. One goroutine waits on an epoll instance of our own (the Go
// runtime's poller keeps its own registration of the same socket, which is
// allowed) and, when a parked socket becomes readable or hangs up, starts
// that connection's read loop again. Registrations are one-shot: a socket
// wakes its connection once and is armed again the next time it parks.
type idlePoller struct {
	epfd  int
	wake  [2]int // a pipe: writing to wake[1] stops the loop
	mu    sync.Mutex
	conns map[uint64]*conn // parked, by id
	done  chan struct{}
}

// stopID tags the stop pipe's event; connection ids start at 1.
const stopID = 0

func newIdlePoller() (*idlePoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &idlePoller{epfd: epfd, conns: make(map[uint64]*conn), done: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	go p.loop()
	return p, nil
}

// watch arms c's socket. The caller set c.parked; c must not be read from
// until the poller (or conn.unpark) starts its read loop again.
func (p *idlePoller) watch(c *conn) error {
	p.mu.Lock()
	p.conns[c.id] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.id)),
		Pad:    int32(uint32(c.id >> 32)),
	}
	var err error
	cerr := c.sw.rc.Control(func(fd uintptr) {
		// Re-arm; the first time (or on a new socket with a reused
		// number) there is nothing to modify yet.
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(err, syscall.ENOENT) {
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.forget(c)
	}
	return err
}

// forget drops c from the parked set. Its registration ends with its socket.
func (p *idlePoller) forget(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.id)
	p.mu.Unlock()
}

func (p *idlePoller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return // EBADF and the like: nothing can be watched any more
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == stopID {
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			delete(p.conns, id)
			p.mu.Unlock()
			if c != nil {
				c.unpark()
			}
		}
	}
}

// close stops the loop and releases the epoll instance. Parked connections
// must be gone by then (the server closes them first).
func (p *idlePoller) close() {
	syscall.Write(p.wake[1], []byte{0})
	<-p.done
	p.closeFDs()
}

func (p *idlePoller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}
