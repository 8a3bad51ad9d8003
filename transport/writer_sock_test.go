package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the server end
// wrapped as a hijacked connection is.
func tcpPair(t *testing.T) (*hijackedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- nc
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	sw := newSockWriter(nc, time.Second)
	hc := newHijackedConn(nc, nil, sw)
	t.Cleanup(func() {
		nc.Close()
		peer.Close()
	})
	return hc, peer
}

// The raw read path must behave as net.Conn.Read does: data, then the same
// errors for a deadline, a closed socket and the peer's end of stream.
func TestHijackedConnRead(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(hc *hijackedConn, peer net.Conn)
		want    string // bytes read, when no error is wanted
		wantErr error
	}{
		{"data", func(_ *hijackedConn, peer net.Conn) { peer.Write([]byte("hello")) }, "hello", nil},
		{"pending bytes first", func(hc *hijackedConn, peer net.Conn) {
			hc.pending = []byte("early")
			peer.Write([]byte("late"))
		}, "early", nil},
		{"deadline", func(hc *hijackedConn, _ net.Conn) { hc.SetReadDeadline(time.Now().Add(-time.Second)) }, "", os.ErrDeadlineExceeded},
		{"closed here", func(hc *hijackedConn, _ net.Conn) { hc.Close() }, "", net.ErrClosed},
		{"peer closed", func(_ *hijackedConn, peer net.Conn) { peer.Close() }, "", io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc, peer := tcpPair(t)
			if hc.readFn == nil {
				t.Fatal("a TCP connection must take the raw read path")
			}
			tc.setup(hc, peer)
			buf := make([]byte, 64)
			n, err := hc.Read(buf)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Read: %d bytes, error %v; want %v", n, err, tc.wantErr)
				}
				var op *net.OpError
				if tc.wantErr != io.EOF && (!errors.As(err, &op) || op.Op != "read") {
					t.Fatalf("Read error %#v is not a read *net.OpError", err)
				}
				return
			}
			if err != nil || string(buf[:n]) != tc.want {
				t.Fatalf("Read = %q, %v; want %q", buf[:n], err, tc.want)
			}
		})
	}
}

// A read waits in the runtime's poller until data comes, rather than
// failing on the empty non-blocking socket.
func TestHijackedConnReadWaits(t *testing.T) {
	hc, peer := tcpPair(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		peer.Write([]byte("later"))
	}()
	buf := make([]byte, 64)
	n, err := hc.Read(buf)
	if err != nil || string(buf[:n]) != "later" {
		t.Fatalf("Read = %q, %v; want \"later\"", buf[:n], err)
	}
}

// The non-blocking send uses the descriptor number it read once; after the
// socket is closed it must refuse, never send on a number that a new
// connection may have been given.
func TestSockWriterSendAfterClose(t *testing.T) {
	hc, peer := tcpPair(t)
	sw := hc.sw
	sw.mu.Lock()
	n, err := sw.tryLocked([]byte("hi"))
	sw.mu.Unlock()
	if n != 2 || err != nil {
		t.Fatalf("send on an open socket: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, err := io.ReadFull(peer, buf[:2]); n != 2 || err != nil || string(buf[:2]) != "hi" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	if err := hc.Close(); err != nil {
		t.Fatal(err)
	}
	// A new socket is likely to get the closed one's number.
	other, otherPeer := tcpPair(t)
	_ = other
	sw.mu.Lock()
	n, err = sw.tryLocked([]byte("leak"))
	sw.mu.Unlock()
	if n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("send after close: %d, %v; want net.ErrClosed", n, err)
	}
	otherPeer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := otherPeer.Read(buf); n > 0 {
		t.Fatalf("a new connection received %q (%v) meant for a closed one", buf[:n], err)
	}
}
