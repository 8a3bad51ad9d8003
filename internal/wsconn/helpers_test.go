package wsconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// envPortable, set to 1, runs the tests without parking and raw I/O: the
// path other systems and TLS take, which CI runs too.
const envPortable = "WALCAST_TEST_WS_PORTABLE"

func portableIO() bool { return os.Getenv(envPortable) == "1" }

// echoServer accepts WebSockets on a Host and echoes every message back as
// it came (text or binary).
type echoServer struct {
	t    testing.TB
	host *Host
	http *httptest.Server

	mu    sync.Mutex
	conns []*Conn
	ends  chan error // HandleEnd's errors, one per connection
}

type echoHandler struct {
	c    *Conn
	ends chan<- error
}

func (h *echoHandler) HandleMessage(bin bool, data []byte) {
	h.c.Send(broadcast.Frame{Binary: bin, Body: bytes.Clone(data)})
}

func (h *echoHandler) HandleEnd(err error) { h.ends <- err }

func newEchoServer(t testing.TB, o Options) *echoServer {
	t.Helper()
	if portableIO() {
		o.Parking, o.RawIO = false, false
	} else if !o.Parking && !o.RawIO {
		o.Parking, o.RawIO = true, true
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 2 * time.Second
	}
	s := &echoServer{t: t, host: NewHost(o), ends: make(chan error, 1000)}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := new(Conn)
		if err := s.host.Accept(w, r, c, &echoHandler{c: c, ends: s.ends}); err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		c.Start()
	}))
	t.Cleanup(s.close)
	return s
}

// close drops every connection, waits for their ends and closes the host.
func (s *echoServer) close() {
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	for _, c := range conns {
		c.Drop()
	}
	for range conns {
		select {
		case <-s.ends:
		case <-time.After(10 * time.Second):
			s.t.Errorf("a connection did not end within 10 s of Drop")
		}
	}
	s.host.Close()
	s.http.Close()
}

// conn returns the server side of the n-th connection.
func (s *echoServer) conn(n int) *Conn {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.conns) > n {
			c := s.conns[n]
			s.mu.Unlock()
			return c
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			s.t.Fatalf("no connection %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// end waits for the next connection's HandleEnd.
func (s *echoServer) end() error {
	s.t.Helper()
	select {
	case err := <-s.ends:
		// HandleEnd ran: the connection is gone.
		s.mu.Lock()
		s.conns = s.conns[1:]
		s.mu.Unlock()
		return err
	case <-time.After(10 * time.Second):
		s.t.Fatal("the connection did not end")
		return nil
	}
}

func (s *echoServer) addr() string { return strings.TrimPrefix(s.http.URL, "http://") }

func (s *echoServer) wsURL() string { return "ws://" + s.addr() + "/" }

const sampleKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3's example

// rawClient is a client that speaks frames byte by byte.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dialRaw completes the handshake of RFC 6455 §1.3's example.
func (s *echoServer) dialRaw(t testing.TB) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", sampleKey)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept = %q", got)
	}
	return &rawClient{t: t, nc: nc, br: br}
}

// rawFrame is a frame to send: b0 is FIN, RSV and opcode; unmasked sends
// it without a mask.
type rawFrame struct {
	b0       byte
	payload  []byte
	unmasked bool
	len64    bool // the 8-byte length form, whatever the length
}

func (f rawFrame) bytes() []byte {
	n := len(f.payload)
	mask := byte(0x80)
	if f.unmasked {
		mask = 0
	}
	b := []byte{f.b0}
	switch {
	case f.len64:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n <= 125:
		b = append(b, mask|byte(n))
	case n <= 0xffff:
		b = append(b, mask|126, byte(n>>8), byte(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if f.unmasked {
		return append(b, f.payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range f.payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func (c *rawClient) send(frames ...rawFrame) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f.bytes()...)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// serverFrame is a frame the server sent.
type serverFrame struct {
	b0      byte
	payload []byte
}

func (f serverFrame) String() string {
	if f.b0&0x0f == opClose && len(f.payload) >= 2 {
		return fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(f.payload), f.payload[2:])
	}
	return fmt.Sprintf("%#x %q", f.b0, f.payload)
}

// read reads one frame; server frames must not be masked.
func (c *rawClient) read(timeout time.Duration) (serverFrame, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return serverFrame{}, err
	}
	if hdr[1]&0x80 != 0 {
		return serverFrame{}, errors.New("masked server frame")
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return serverFrame{}, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return serverFrame{}, err
		}
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{b0: hdr[0], payload: p}, nil
}

func closeFrame(code StatusCode, reason string) []byte {
	return closePayload(nil, code, reason)
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

func frameOf(body []byte) broadcast.Frame { return broadcast.Frame{Body: body} }
