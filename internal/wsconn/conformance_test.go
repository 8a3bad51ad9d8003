package wsconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	fin     = 0x80
	rsv1    = 0x40
	rsv2    = 0x20
	rsv3    = 0x10
	testMax = 1024 // MaxMessageBytes of the frame tests
)

func text(s string) rawFrame   { return rawFrame{b0: fin | opText, payload: []byte(s)} }
func binMsg(s string) rawFrame { return rawFrame{b0: fin | opBinary, payload: []byte(s)} }

// TestFrameConformance sends raw frames to an echo server and checks, byte
// for byte, the frames it answers with and how the connection ends.
func TestFrameConformance(t *testing.T) {
	long := strings.Repeat("p", 125)
	tests := []struct {
		name string
		send []rawFrame
		want []serverFrame // before the close frame, if any
		// close is the close frame the server must send (nil: none, the
		// connection stays open and answers a final text message).
		close []byte
	}{
		{"text", []rawFrame{text("hello")}, []serverFrame{{fin | opText, []byte("hello")}}, nil},
		{"binary", []rawFrame{binMsg("\x00\xff")}, []serverFrame{{fin | opBinary, []byte("\x00\xff")}}, nil},
		{"empty text", []rawFrame{text("")}, []serverFrame{{fin | opText, []byte{}}}, nil},
		{"16-bit length", []rawFrame{text(strings.Repeat("a", 300))}, []serverFrame{{fin | opText, []byte(strings.Repeat("a", 300))}}, nil},
		{"64-bit length form", []rawFrame{{b0: fin | opText, payload: []byte("x"), len64: true}}, []serverFrame{{fin | opText, []byte("x")}}, nil},
		{"fragmented text", []rawFrame{
			{b0: opText, payload: []byte("hel")},
			{b0: opContinuation, payload: []byte("lo ")},
			{b0: fin | opContinuation, payload: []byte("world")},
		}, []serverFrame{{fin | opText, []byte("hello world")}}, nil},
		{"fragmented binary", []rawFrame{
			{b0: opBinary, payload: []byte{1, 2}},
			{b0: fin | opContinuation, payload: []byte{3}},
		}, []serverFrame{{fin | opBinary, []byte{1, 2, 3}}}, nil},
		{"UTF-8 split across fragments", []rawFrame{
			{b0: opText, payload: []byte("caf\xc3")},
			{b0: fin | opContinuation, payload: []byte("\xa9")},
		}, []serverFrame{{fin | opText, []byte("café")}}, nil},
		{"ping between fragments", []rawFrame{
			{b0: opText, payload: []byte("a")},
			{b0: fin | opPing, payload: []byte("p1")},
			{b0: fin | opContinuation, payload: []byte("b")},
		}, []serverFrame{{fin | opPong, []byte("p1")}, {fin | opText, []byte("ab")}}, nil},
		{"ping", []rawFrame{{b0: fin | opPing, payload: []byte(long)}}, []serverFrame{{fin | opPong, []byte(long)}}, nil},
		{"empty ping", []rawFrame{{b0: fin | opPing}}, []serverFrame{{fin | opPong, []byte{}}}, nil},
		{"unsolicited pong ignored", []rawFrame{{b0: fin | opPong, payload: []byte("x")}}, nil, nil},
		{"message at the limit", []rawFrame{binMsg(strings.Repeat("m", testMax))}, []serverFrame{{fin | opBinary, []byte(strings.Repeat("m", testMax))}}, nil},

		{"close with a code", []rawFrame{{b0: fin | opClose, payload: closeFrame(1000, "bye")}}, nil, closeFrame(1000, "")},
		{"close with an application code", []rawFrame{{b0: fin | opClose, payload: closeFrame(4321, "")}}, nil, closeFrame(4321, "")},
		{"close without a code", []rawFrame{{b0: fin | opClose}}, nil, []byte{}},
		{"close of one byte", []rawFrame{{b0: fin | opClose, payload: []byte{3}}}, nil, closeFrame(StatusProtocolError, "")},
		{"close with 1005 on the wire", []rawFrame{{b0: fin | opClose, payload: []byte{0x03, 0xed}}}, nil, closeFrame(StatusProtocolError, "")},
		{"close with code 999", []rawFrame{{b0: fin | opClose, payload: []byte{3, 231}}}, nil, closeFrame(StatusProtocolError, "")},
		{"close reason not UTF-8", []rawFrame{{b0: fin | opClose, payload: append(closeFrame(1000, ""), 0xff)}}, nil, closeFrame(StatusInvalidPayload, "")},

		{"unmasked frame", []rawFrame{{b0: fin | opText, payload: []byte("x"), unmasked: true}}, nil, closeFrame(StatusProtocolError, "")},
		{"RSV1", []rawFrame{{b0: fin | rsv1 | opText, payload: []byte("x")}}, nil, closeFrame(StatusProtocolError, "")},
		{"RSV2", []rawFrame{{b0: fin | rsv2 | opBinary}}, nil, closeFrame(StatusProtocolError, "")},
		{"RSV3 on a ping", []rawFrame{{b0: fin | rsv3 | opPing}}, nil, closeFrame(StatusProtocolError, "")},
		{"reserved data opcode", []rawFrame{{b0: fin | 0x3}}, nil, closeFrame(StatusProtocolError, "")},
		{"reserved control opcode", []rawFrame{{b0: fin | 0xB}}, nil, closeFrame(StatusProtocolError, "")},
		{"ping over 125 bytes", []rawFrame{{b0: fin | opPing, payload: []byte(long + "x")}}, nil, closeFrame(StatusProtocolError, "")},
		{"close over 125 bytes", []rawFrame{{b0: fin | opClose, payload: append(closeFrame(1000, ""), long...)}}, nil, closeFrame(StatusProtocolError, "")},
		{"fragmented ping", []rawFrame{{b0: opPing, payload: []byte("p")}}, nil, closeFrame(StatusProtocolError, "")},
		{"continuation without a message", []rawFrame{{b0: fin | opContinuation, payload: []byte("x")}}, nil, closeFrame(StatusProtocolError, "")},
		{"new message inside a fragmented one", []rawFrame{{b0: opText, payload: []byte("a")}, text("b")}, nil, closeFrame(StatusProtocolError, "")},
		{"length with the high bit", []rawFrame{{b0: fin | opBinary, payload: nil, len64: true}}, nil, nil}, // replaced below
		{"invalid UTF-8", []rawFrame{text("a\xffb")}, nil, closeFrame(StatusInvalidPayload, "")},
		{"invalid UTF-8 split across fragments", []rawFrame{
			{b0: opText, payload: []byte("caf\xc3")},
			{b0: fin | opContinuation, payload: []byte("(")},
		}, nil, closeFrame(StatusInvalidPayload, "")},
		{"surrogate in UTF-8", []rawFrame{text("\xed\xa0\x80")}, nil, closeFrame(StatusInvalidPayload, "")},
		{"message over the limit", []rawFrame{binMsg(strings.Repeat("m", testMax+1))}, nil, closeFrame(StatusMessageTooBig, "")},
		{"fragments over the limit", []rawFrame{
			{b0: opText, payload: []byte(strings.Repeat("m", testMax/2))},
			{b0: opContinuation, payload: []byte(strings.Repeat("m", testMax/2))},
			{b0: fin | opContinuation, payload: []byte("m")},
		}, nil, closeFrame(StatusMessageTooBig, "")},
	}
	s := newEchoServer(t, Options{MaxMessageBytes: testMax})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dialRaw(t)
			if tc.name == "length with the high bit" {
				// 2^63: no frame is that long.
				c.nc.Write([]byte{fin | opBinary, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
				tc.close = closeFrame(StatusProtocolError, "")
			} else {
				c.send(tc.send...)
			}
			for i, want := range tc.want {
				got, err := c.read(5 * time.Second)
				if err != nil {
					t.Fatalf("frame %d: %v, want %v", i, err, want)
				}
				if got.b0 != want.b0 || !bytes.Equal(got.payload, want.payload) {
					t.Fatalf("frame %d = %v, want %v", i, got, want)
				}
			}
			if tc.close == nil {
				// Still open: a message is still answered.
				c.send(text("still open"))
				if got, err := c.read(5 * time.Second); err != nil || string(got.payload) != "still open" {
					t.Fatalf("after the frames: %v, %v; want the echo", got, err)
				}
				c.send(rawFrame{b0: fin | opClose, payload: closeFrame(1000, "")})
				tc.close = closeFrame(1000, "")
			}
			got, err := c.read(5 * time.Second)
			if err != nil {
				t.Fatalf("read: %v, want close frame %v", err, serverFrame{fin | opClose, tc.close})
			}
			if got.b0 != fin|opClose || !bytes.Equal(got.payload[:min(2, len(got.payload))], tc.close[:min(2, len(tc.close))]) ||
				(len(tc.close) == 0) != (len(got.payload) == 0) {
				t.Fatalf("got %v, want close frame %v", got, serverFrame{fin | opClose, tc.close})
			}
			// Nothing follows the close frame: the server closes the TCP
			// connection.
			if extra, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("after the close frame: %v, %v; want the end of the stream", extra, err)
			}
			err = s.end()
			if code := CloseStatus(err); len(tc.close) >= 2 && code == 0 {
				t.Errorf("HandleEnd(%v): no close status", err)
			}
		})
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// TestServerClose: Close discards what is queued; the close frame goes out
// next and nothing after it, and the connection ends once the client
// answers.
func TestServerClose(t *testing.T) {
	s := newEchoServer(t, Options{})
	c := s.dialRaw(t)
	sc := s.conn(0)
	var release func()
	for ok := false; !ok; {
		release, ok = sc.HoldWrites()
	}
	for range 10 {
		c.send(text("queued"))
	}
	waitUntil(t, "ten messages queued", func() bool { return sc.q.Len() == 10 })
	if !sc.Close(4002, "going") {
		t.Fatal("Close did not start the close")
	}
	if sc.Close(4003, "again") {
		t.Fatal("a second Close started another close")
	}
	release()
	got, err := c.read(5 * time.Second)
	if err != nil || got.b0 != fin|opClose || string(got.payload) != string(closeFrame(4002, "going")) {
		t.Fatalf("first frame after Close: %v, %v; want close 4002", got, err)
	}
	c.send(rawFrame{b0: fin | opClose, payload: closeFrame(4002, "")})
	if extra, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("after the close frame: %v, %v; want the end of the stream", extra, err)
	}
	var ce *CloseError
	if err := s.end(); !errors.As(err, &ce) || ce.Code != 4002 || !ce.Received {
		t.Fatalf("HandleEnd(%v), want the client's answer 4002", err)
	}
}

// TestCloseHandshakeTimesOut: a client that never answers the close frame
// is cut off after WriteTimeout.
func TestCloseHandshakeTimesOut(t *testing.T) {
	s := newEchoServer(t, Options{WriteTimeout: 200 * time.Millisecond})
	c := s.dialRaw(t)
	s.conn(0).Close(StatusNormalClosure, "")
	got, err := c.read(5 * time.Second)
	if err != nil || got.b0 != fin|opClose {
		t.Fatalf("read %v, %v; want the close frame", got, err)
	}
	start := time.Now()
	if extra, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("after the close frame: %v, %v; want the end of the stream", extra, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cut off after %v", d)
	}
	var ce *CloseError
	if err := s.end(); !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Received {
		t.Fatalf("HandleEnd(%v), want the close sent", err)
	}
}

// TestIdleTimeoutAndPing: a silent client is pinged; one that answers but
// sends no message is closed with 4001 after IdleTimeout; one that does not
// answer pings is dropped without a close frame.
func TestIdleTimeoutAndPing(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		s := newEchoServer(t, Options{IdleTimeout: 300 * time.Millisecond, PingInterval: 50 * time.Millisecond})
		c := s.dialRaw(t)
		pings := 0
		for {
			f, err := c.read(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f.b0 == fin|opPing {
				pings++
				c.send(rawFrame{b0: fin | opPong, payload: f.payload})
				continue
			}
			if f.b0 != fin|opClose || string(f.payload[:2]) != string(closeFrame(StatusIdleTimeout, "")[:2]) {
				t.Fatalf("got %v, want close 4001", f)
			}
			break
		}
		if pings == 0 {
			t.Error("a silent client was not pinged")
		}
		c.send(rawFrame{b0: fin | opClose, payload: closeFrame(StatusIdleTimeout, "")})
		s.end()
		if st := s.host.Stats(); st.IdleTimeouts != 1 || st.DeadLinks != 0 {
			t.Errorf("Stats = %+v, want one idle timeout", st)
		}
	})
	t.Run("dead", func(t *testing.T) {
		s := newEchoServer(t, Options{IdleTimeout: time.Minute, PingInterval: 50 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
		c := s.dialRaw(t)
		f, err := c.read(5 * time.Second)
		if err != nil || f.b0 != fin|opPing {
			t.Fatalf("read %v, %v; want a ping", f, err)
		}
		// No pong: dropped, without a close frame.
		if extra, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("after the ping: %v, %v; want the end of the stream", extra, err)
		}
		s.end()
		if st := s.host.Stats(); st.DeadLinks != 1 {
			t.Errorf("Stats = %+v, want one dead link", st)
		}
	})
}

// TestSendOverflow: a client that does not read is closed with 4000 once
// its queue is full, and Send never blocks meanwhile.
func TestSendOverflow(t *testing.T) {
	s := newEchoServer(t, Options{QueueBytes: 64 << 10, WriteTimeout: time.Minute})
	c := s.dialRaw(t)
	c.nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	sc := s.conn(0)
	body := []byte(strings.Repeat("z", 1000))
	sent := 0
	for sc.Send(frameOf(body)) {
		sent++
		if sent > 1e6 {
			t.Fatal("no overflow after a million frames")
		}
	}
	if st := s.host.Stats(); st.SlowConsumers != 1 {
		t.Fatalf("Stats = %+v, want one slow consumer", st)
	}
	// The client reads again: a prefix of the messages, then the close.
	for n := 0; ; n++ {
		f, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		if f.b0 == fin|opClose {
			if string(f.payload) != string(closeFrame(StatusSlowConsumer, "slow consumer")) {
				t.Fatalf("close frame %v, want 4000", f)
			}
			if n >= sent {
				t.Fatalf("all %d messages arrived before the close", n)
			}
			break
		}
		if !bytes.Equal(f.payload, body) {
			t.Fatalf("message %d: %v", n, f)
		}
	}
	c.send(rawFrame{b0: fin | opClose, payload: closeFrame(StatusSlowConsumer, "")})
	s.end()
}

// TestHandshake: what Accept refuses, and with which status.
func TestHandshake(t *testing.T) {
	valid := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {sampleKey},
	}
	with := func(k, v string) http.Header {
		h := valid.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		header http.Header
		status int
	}{
		{"POST", http.MethodPost, valid, http.StatusMethodNotAllowed},
		{"no Upgrade", http.MethodGet, with("Upgrade", ""), http.StatusUpgradeRequired},
		{"Upgrade not websocket", http.MethodGet, with("Upgrade", "h2c"), http.StatusUpgradeRequired},
		{"no Connection: upgrade", http.MethodGet, with("Connection", "keep-alive"), http.StatusUpgradeRequired},
		{"version 8", http.MethodGet, with("Sec-WebSocket-Version", "8"), http.StatusUpgradeRequired},
		{"no version", http.MethodGet, with("Sec-WebSocket-Version", ""), http.StatusUpgradeRequired},
		{"no key", http.MethodGet, with("Sec-WebSocket-Key", ""), http.StatusBadRequest},
		{"key of 15 bytes", http.MethodGet, with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), http.StatusBadRequest},
		{"key not base64", http.MethodGet, with("Sec-WebSocket-Key", "not base64 at all!!!!!!="), http.StatusBadRequest},
		{"origin refused", http.MethodGet, with("Origin", "https://evil.example"), http.StatusForbidden},
	}
	s := newEchoServer(t, Options{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") != "https://evil.example"
	}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.http.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version: 13 (%v)", resp.Header)
			}
		})
	}
	// A valid handshake with a frame sent right behind the request: the
	// bytes net/http read ahead reach the connection.
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + sampleKey + "\r\n\r\n"
	nc.Write(append([]byte(req), text("early").bytes()...))
	c := &rawClient{t: t, nc: nc}
	c.br = newReader(nc)
	if _, err := http.ReadResponse(c.br, nil); err != nil {
		t.Fatal(err)
	}
	if f, err := c.read(5 * time.Second); err != nil || string(f.payload) != "early" {
		t.Fatalf("read %v, %v; want the early message echoed", f, err)
	}
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStalledReaderDropped: a client that takes no write for WriteTimeout
// is dropped without a close frame (it would not read one): reading again,
// it finds data and then the end of the stream.
func TestStalledReaderDropped(t *testing.T) {
	s := newEchoServer(t, Options{QueueBytes: 64 << 20, WriteTimeout: 300 * time.Millisecond})
	c := s.dialRaw(t)
	// Default socket buffers: a tiny receive window would make the kernel
	// probe a closed window with backoff, and the drain below take minutes.
	sc := s.conn(0)
	body := []byte(strings.Repeat("s", 256<<10))
	for range 128 { // 32 MiB: far more than the socket buffers hold
		if !sc.Send(frameOf(body)) {
			t.Fatal("Send refused")
		}
	}
	waitUntil(t, "the dead link", func() bool { return s.host.Stats().DeadLinks == 1 })
	for n := 0; ; n++ {
		f, err := c.read(5 * time.Second)
		if errors.Is(err, io.EOF) || isReset(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", n, err)
		}
		if f.b0 != fin|opText {
			t.Fatalf("frame %d: %v, want only data before the end", n, f)
		}
	}
	if err := s.end(); CloseStatus(err) != 0 {
		t.Errorf("HandleEnd(%v): a close frame was exchanged", err)
	}
	if st := s.host.Stats(); st.SlowConsumers != 0 {
		t.Errorf("Stats = %+v, want no slow consumer", st)
	}
}

// TestCloseBeforeStart: a connection closed between Accept and Start (a
// server that began shutting down meanwhile) sends its close frame first
// and ends when the client answers.
func TestCloseBeforeStart(t *testing.T) {
	o := Options{WriteTimeout: 2 * time.Second}
	if portableIO() {
		o.Parking, o.RawIO = false, false
	} else {
		o.Parking, o.RawIO = true, true
	}
	h := NewHost(o)
	ends := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := new(Conn)
		if err := h.Accept(w, r, c, &echoHandler{c: c, ends: ends}); err != nil {
			return
		}
		c.Close(StatusServiceRestart, "server restarting")
		c.Start()
	}))
	defer srv.Close()
	defer h.Close()
	s := &echoServer{t: t, http: srv}
	c := s.dialRaw(t)
	f, err := c.read(5 * time.Second)
	if err != nil || f.b0 != fin|opClose || string(f.payload) != string(closeFrame(StatusServiceRestart, "server restarting")) {
		t.Fatalf("read %v, %v; want close 1012", f, err)
	}
	c.send(rawFrame{b0: fin | opClose, payload: closeFrame(StatusServiceRestart, "")})
	select {
	case err := <-ends:
		if CloseStatus(err) != StatusServiceRestart {
			t.Fatalf("HandleEnd(%v), want 1012", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
}
