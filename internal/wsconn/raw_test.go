package wsconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

type endRecorder struct{ ends chan error }

func (endRecorder) HandleMessage(bool, []byte) { panic("a raw stream handles no message") }
func (h endRecorder) HandleEnd(err error)      { h.ends <- err }

// rawPair adopts the server end of a loopback TCP connection as a raw
// stream, starts it and returns it with the client end.
func rawPair(t *testing.T, o Options, cfg RawConfig) (*Conn, net.Conn, chan error) {
	t.Helper()
	if portableIO() {
		o.Parking, o.RawIO = false, false
	} else {
		o.Parking, o.RawIO = true, true
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 2 * time.Second
	}
	h := NewHost(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc := <-accepted
	if nc == nil {
		t.Fatal("accept failed")
	}
	c := new(Conn)
	ends := make(chan error, 1)
	if err := h.AdoptRaw(nc, nil, c, endRecorder{ends}, cfg); err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() {
		c.Drop()
		select {
		case <-ends:
		case <-time.After(10 * time.Second):
			t.Error("the stream did not end within 10 s of Drop")
		}
		h.Close()
		peer.Close()
	})
	return c, peer, ends
}

// waitEnd returns the stream's end (and puts it back for the cleanup).
func waitEnd(t *testing.T, ends chan error) error {
	t.Helper()
	select {
	case err := <-ends:
		ends <- err
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
		return nil
	}
}

// Queued frames go out as they are, in order, big ones (written from their
// own bytes) too; Close writes the final payload and closes the socket.
func TestRawFramesVerbatim(t *testing.T) {
	c, peer, ends := rawPair(t, Options{}, RawConfig{Final: []byte("<final>")})
	big := bytes.Repeat([]byte("b"), assembleMax+1000)
	var want bytes.Buffer
	for i, f := range []broadcast.Frame{
		{Body: []byte("head\r\n\r\n")},
		{Head: []byte("5\r\n"), Body: []byte("hello"), Tail: []byte("\r\n")},
		{Body: big},
		{Head: []byte("["), Body: []byte("x"), Tail: []byte("]")},
	} {
		if !c.Send(f) {
			t.Fatalf("frame %d refused", i)
		}
		want.Write(f.Head)
		want.Write(f.Body)
		want.Write(f.Tail)
	}
	// Close discards what is still queued: wait until everything is out.
	got := make([]byte, want.Len())
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the stream differs from the frames queued (%d bytes, want %d)", len(got), want.Len())
	}
	if !c.Close(StatusNormalClosure, "") {
		t.Fatal("Close did not start the close")
	}
	rest, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "<final>" {
		t.Fatalf("after Close the peer read %q, want the final payload and the end", rest)
	}
	var ce *CloseError
	if err := waitEnd(t, ends); !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		t.Fatalf("HandleEnd got %v, want the close Close started", err)
	}
}

// CloseWith writes its own final payload instead of the configured one.
func TestRawCloseWith(t *testing.T) {
	c, peer, ends := rawPair(t, Options{}, RawConfig{Final: []byte("<final>")})
	c.CloseWith(StatusNormalClosure, "", []byte("<bye>"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "<bye>" {
		t.Fatalf("the peer read %q, want CloseWith's payload and the end", rest)
	}
	waitEnd(t, ends)
}

// A silent stream gets the heartbeat; a stream written to does not.
func TestRawHeartbeatAfterSilence(t *testing.T) {
	const every = 100 * time.Millisecond
	c, peer, _ := rawPair(t, Options{}, RawConfig{Heartbeat: []byte(": ping\n\n"), HeartbeatEvery: every})
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != ": ping\n\n" {
		t.Fatalf("a silent stream got %q, want the heartbeat", buf[:n])
	}
	// Written to more often than every: the data comes through, and no
	// heartbeat between it.
	var got strings.Builder
	for range 10 {
		c.Send(broadcast.Frame{Body: []byte("d")})
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
		time.Sleep(every / 5)
	}
	// One may slip in on a slow machine; every 20 ms they would be many.
	if strings.Count(got.String(), "ping") > 1 {
		t.Fatalf("a stream written to every %v got heartbeats: %q", every/5, got.String())
	}
	if strings.Count(got.String(), "d") != 10 {
		t.Fatalf("the data did not all come through: %q", got.String())
	}
}

// An idle stream is parked (no goroutine); the peer hanging up wakes it
// and ends it, and so does the peer sending anything, which gets the
// final payload.
func TestRawPeerEndsStream(t *testing.T) {
	t.Run("hang-up", func(t *testing.T) {
		c, peer, ends := rawPair(t, Options{}, RawConfig{Final: []byte("end")})
		if !portableIO() {
			waitParked(t, c)
		}
		peer.Close()
		if err := waitEnd(t, ends); !errors.Is(err, io.EOF) && !isConnReset(err) {
			t.Fatalf("HandleEnd got %v, want the end of the stream", err)
		}
	})
	t.Run("data", func(t *testing.T) {
		c, peer, ends := rawPair(t, Options{}, RawConfig{Final: []byte("end")})
		if !portableIO() {
			waitParked(t, c)
		}
		if _, err := peer.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(peer)
		if err != nil && !isConnReset(err) {
			t.Fatal(err)
		}
		if err == nil && string(rest) != "end" {
			t.Fatalf("the peer read %q, want the final payload", rest)
		}
		var ce *CloseError
		if err := waitEnd(t, ends); !errors.As(err, &ce) || ce.Reason != ErrPeerSent.Error() {
			t.Fatalf("HandleEnd got %v, want %v", err, ErrPeerSent)
		}
	})
}

func waitParked(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Parked() {
		if time.Now().After(deadline) {
			t.Fatal("the idle stream did not park")
		}
		time.Sleep(time.Millisecond)
	}
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// A peer that does not read: Offer refuses without closing, Send past the
// bound closes the stream as a slow consumer, which is dropped when even
// the final payload cannot be written.
func TestRawSlowConsumer(t *testing.T) {
	c, _, ends := rawPair(t, Options{WriteTimeout: 300 * time.Millisecond}, RawConfig{QueueBytes: 64 << 10, Final: []byte("end")})
	chunk := broadcast.Frame{Body: bytes.Repeat([]byte("x"), 16<<10)}
	deadline := time.Now().Add(10 * time.Second)
	offered := false
	for {
		if time.Now().After(deadline) {
			t.Fatal("the queue never filled")
		}
		queued, closed := c.Offer(chunk)
		if closed {
			t.Fatal("Offer closed the stream")
		}
		if !queued {
			offered = true
			break
		}
	}
	if !offered || c.QueuedBytes() == 0 {
		t.Fatal("Offer refused a frame into an empty queue")
	}
	for c.Send(chunk) {
		if time.Now().After(deadline) {
			t.Fatal("Send never overflowed")
		}
	}
	var ce *CloseError
	if err := waitEnd(t, ends); !errors.As(err, &ce) || ce.Code != StatusSlowConsumer {
		t.Fatalf("HandleEnd got %v, want the slow consumer close", err)
	}
}
