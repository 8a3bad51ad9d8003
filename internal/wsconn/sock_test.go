package wsconn

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the server end
// readied as Accept readies a connection's socket.
func tcpPair(t *testing.T, raw bool) (*sock, net.Conn) {
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
	s := new(sock)
	s.init(nc, time.Second, raw)
	t.Cleanup(func() {
		s.close()
		peer.Close()
	})
	return s, peer
}

// The socket read behaves alike with and without raw I/O: data, the end
// of the stream as io.EOF, an error once closed here, and a wait in the
// runtime's poller until data comes.
func TestSockRead(t *testing.T) {
	for _, raw := range []bool{true, false} {
		tests := []struct {
			name    string
			setup   func(s *sock, peer net.Conn)
			want    string
			wantErr error
		}{
			{"data", func(_ *sock, peer net.Conn) { peer.Write([]byte("hello")) }, "hello", nil},
			{"later", func(_ *sock, peer net.Conn) {
				go func() {
					time.Sleep(50 * time.Millisecond)
					peer.Write([]byte("later"))
				}()
			}, "later", nil},
			{"peer closed", func(_ *sock, peer net.Conn) { peer.Close() }, "", io.EOF},
			{"closed here", func(s *sock, _ net.Conn) { s.close() }, "", net.ErrClosed},
		}
		for _, tc := range tests {
			name := tc.name + "/portable"
			if raw {
				name = tc.name + "/raw"
			}
			t.Run(name, func(t *testing.T) {
				s, peer := tcpPair(t, raw)
				if raw && rawConnOf(s.nc) != nil && s.readFn == nil {
					t.Fatal("a TCP socket must take the raw read path")
				}
				tc.setup(s, peer)
				buf := make([]byte, 64)
				n, err := s.read(buf)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("read: %d bytes, error %v; want %v", n, err, tc.wantErr)
					}
					return
				}
				if err != nil || string(buf[:n]) != tc.want {
					t.Fatalf("read = %q, %v; want %q", buf[:n], err, tc.want)
				}
			})
		}
	}
}

// The non-blocking send uses the descriptor number it read once; after the
// socket is closed it must refuse, never send on a number that a new
// connection may have been given.
func TestSendAfterClose(t *testing.T) {
	s, peer := tcpPair(t, true)
	if s.rc == nil {
		t.Skip("no raw I/O on this system")
	}
	n, err := s.trySend([]byte("hi"))
	if n != 2 || err != nil {
		t.Fatalf("send on an open socket: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, err := io.ReadFull(peer, buf[:2]); n != 2 || err != nil || string(buf[:2]) != "hi" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	s.close()
	// A new socket is likely to get the closed one's number.
	_, otherPeer := tcpPair(t, true)
	n, err = s.trySend([]byte("leak"))
	if n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("send after close: %d, %v; want net.ErrClosed", n, err)
	}
	otherPeer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := otherPeer.Read(buf); n > 0 {
		t.Fatalf("a new connection received %q (%v) meant for a closed one", buf[:n], err)
	}
}
