//go:build linux

package wsconn

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// idlePoller watches parked connections: sockets with nothing to read,
// whose read loop has returned (see Conn.park). A goroutine blocked in a
// read keeps a stack of several KiB per connection, most of an idle
// connection's memory; here an idle connection costs one epoll
// registration. One goroutine waits on an epoll instance of our own (the Go
// runtime's poller keeps its own registration of the same socket, which is
// allowed) and, when a parked socket becomes readable or hangs up, starts
// that connection's read loop again. Registrations are one-shot: a socket
// wakes its connection once and is armed again the next time it parks.
//
// The goroutine does not block in epoll_wait: it waits in the runtime's
// poller for our epoll instance to become readable and then collects its
// events without blocking. A thread blocked in a system call gets its P
// taken away by the runtime's monitor, which then keeps polling every
// 20 µs for a while after each such hand-over; with every parked socket
// that wakes, that cost a few percent of a busy server's CPU.
type idlePoller struct {
	epfd  int
	ep    *os.File // epfd, in the runtime's poller
	mu    sync.Mutex
	conns map[uint64]*Conn // parked, by id
	done  chan struct{}
}

func newIdlePoller() (*idlePoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// poller, so waiting for it parks the goroutine, not a thread.
	p := &idlePoller{epfd: epfd, ep: os.NewFile(uintptr(epfd), "idle-epoll"),
		conns: make(map[uint64]*Conn), done: make(chan struct{})}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		return nil, err
	}
	go p.loop(rc)
	return p, nil
}

// watch arms c's socket. The caller set c.parked; c must not be read from
// until the poller (or Conn.unpark) starts its read loop again.
func (p *idlePoller) watch(c *Conn) error {
	p.mu.Lock()
	p.conns[c.id] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.id)),
		Pad:    int32(uint32(c.id >> 32)),
	}
	var err error
	cerr := c.sock.rc.Control(func(fd uintptr) {
		// Re-arm; the first time (or on a new socket with a reused
		// number) there is nothing to modify yet.
		err = epollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(err, syscall.ENOENT) {
			err = epollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
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
func (p *idlePoller) forget(c *Conn) {
	p.mu.Lock()
	delete(p.conns, c.id)
	p.mu.Unlock()
}

func (p *idlePoller) loop(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var n int
	var werr error
	collect := func(fd uintptr) bool {
		n, werr = epollCollect(int(fd), events)
		return n != 0 || werr != nil
	}
	for {
		// Read waits in the runtime's poller while collect finds nothing;
		// it fails once close has closed the file.
		if err := rc.Read(collect); err != nil || werr != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
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
	p.ep.Close()
	<-p.done
}

// epollCtl and epollCollect are epoll_ctl(2) and epoll_wait(2) with a zero
// timeout (retried when interrupted), made as raw system calls: neither blocks, and an ordinary system
// call made as the process wakes from idle (a connection parks after every
// message it sends) wakes the runtime's sysmon thread into a millisecond of
// 20 µs polling (see sock_raw_linux.go).
func epollCtl(epfd, op, fd int, ev *syscall.EpollEvent) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func epollCollect(epfd int, events []syscall.EpollEvent) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
