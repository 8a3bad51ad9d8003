package wsconn

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// Messages over assembleMax: the flusher sends them from their own bytes
// (gather, trySendv), and a send the socket cuts short is continued by the
// writer goroutine from the byte where it stopped (unsent).

// noise returns n bytes in which a lost, repeated or shifted run shows
// (xorshift32, seeded).
func noise(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// bigFrame is a message over assembleMax with an envelope around it, as
// the transport sends a change.
func bigFrame(n int, seed uint32) broadcast.Frame {
	return broadcast.Frame{Binary: seed%2 == 0, Head: []byte(`[null,null,"realtime:room","broadcast",`),
		Body: noise(n, seed), Tail: []byte(`]`)}
}

// wireOf is what frames must look like on the wire.
func wireOf(c *Conn, frames []broadcast.Frame) []byte { return c.appendOut(nil, frames) }

func concat(bufs [][]byte) []byte {
	var b []byte
	for _, p := range bufs {
		b = append(b, p...)
	}
	return b
}

// TestGatherUnsent: gather lays a batch out as it goes on the wire,
// copying small messages, headers and small parts and referencing big
// parts; what unsent returns after any cut is exactly the rest, the runs of
// the scratch buffer copied (the flusher reuses it), the big parts not.
func TestGatherUnsent(t *testing.T) {
	big := bigFrame(assembleMax+1, 1)
	huge := bigFrame(200_000, 2)
	bigHead := broadcast.Frame{Head: noise(partMax+1, 3), Body: noise(assembleMax, 4), Tail: noise(partMax+1, 5)}
	small := broadcast.Frame{Body: []byte("small")}
	for _, tc := range []struct {
		name   string
		raw    bool
		ctl    []byte // framed bytes already in the buffer
		frames []broadcast.Frame
	}{
		{"one big", false, nil, []broadcast.Frame{big}},
		{"control first", false, appendControl(nil, opPong, []byte("p")), []broadcast.Frame{big, small}},
		{"mixed", false, nil, []broadcast.Frame{small, big, small, huge, small}},
		{"big ones in a row", false, nil, []broadcast.Frame{big, huge, bigHead}},
		{"big head and tail", false, nil, []broadcast.Frame{bigHead}},
		{"raw stream", true, nil, []broadcast.Frame{small, big, bigHead, small}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := new(Conn)
			if tc.raw {
				c.raw = new(rawStream)
			}
			want := append(bytes.Clone(tc.ctl), wireOf(c, tc.frames)...)
			sc := new(writerScratch)
			sc.buf = append(sc.buf, tc.ctl...)
			sc.frames = append(sc.frames, tc.frames...)
			total := c.gather(sc, sc.frames)
			if got := concat(sc.segs); total != len(want) || !bytes.Equal(got, want) {
				t.Fatalf("gathered %d bytes (total %d), want %d as framed", len(got), total, len(want))
			}
			if len(sc.segs)%2 != 1 {
				t.Fatalf("%d buffers: runs and parts must alternate", len(sc.segs))
			}
			for i := 1; i < len(sc.segs); i += 2 {
				if len(sc.segs[i]) <= partMax {
					t.Errorf("buffer %d: a part of %d bytes was not copied", i, len(sc.segs[i]))
				}
			}
			cuts := []int{0, 1, len(tc.ctl) + 1, len(want) / 3, len(want) / 2, len(want) - assembleMax, len(want) - 2, len(want) - 1}
			for i, s := range sc.segs { // every boundary and either side of it
				at := len(concat(sc.segs[:i])) + len(s)
				cuts = append(cuts, at-1, at, at+1)
			}
			for _, n := range cuts {
				if n < 0 || n >= len(want) {
					continue
				}
				rest := sc.unsent(n)
				buf := bytes.Clone(sc.buf)
				for i := range sc.buf {
					sc.buf[i] = 0xee // the flusher's next batch
				}
				if got := concat(rest); !bytes.Equal(got, want[n:]) {
					t.Fatalf("cut at %d: the rest is %d bytes, want the %d after the cut", n, len(got), len(want)-n)
				}
				copy(sc.buf, buf)
				// A big part not sent whole is passed on where it lies.
				off := 0
				for i, p := range sc.segs {
					off += len(p)
					if i%2 == 1 && n < off && !referenced(rest, p) {
						t.Fatalf("cut at %d: a part of %d bytes was copied", n, len(p))
					}
				}
			}
		})
	}
}

// referenced reports whether some buffer of bufs ends where p does: the
// part, or its tail after a cut, shares p's memory.
func referenced(bufs [][]byte, p []byte) bool {
	for _, b := range bufs {
		if len(b) > 0 && &b[len(b)-1] == &p[len(p)-1] {
			return true
		}
	}
	return false
}

// A vectored send the socket cuts short: the writer that takes over
// writes exactly the bytes after the cut, and the peer receives the frames
// whole.
func TestTrySendvPartial(t *testing.T) {
	small := broadcast.Frame{Body: []byte("small")}
	var many []broadcast.Frame
	for i := range maxIovecs {
		many = append(many, broadcast.Frame{Head: []byte{byte(i)}, Body: noise(assembleMax+1, uint32(i))})
	}
	for _, tc := range []struct {
		name    string
		sndbuf  int // the server socket's send buffer
		frames  []broadcast.Frame
		partial bool // the socket cannot take it all
	}{
		{"fits", 1 << 20, []broadcast.Frame{small, bigFrame(100_000, 1), small, bigFrame(40_000, 2)}, false},
		{"cut short", 16 << 10, []broadcast.Frame{small, bigFrame(1<<20, 3), small, bigFrame(300_000, 4), small}, true},
		{"over maxIovecs", 16 << 10, many, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, peer := tcpPair(t, true)
			if s.rc == nil {
				t.Skip("no raw I/O on this system")
			}
			s.timeout = time.Minute
			s.nc.(*net.TCPConn).SetWriteBuffer(tc.sndbuf)
			peer.(*net.TCPConn).SetReadBuffer(16 << 10)
			c := new(Conn)
			want := wireOf(c, tc.frames)
			sc := new(writerScratch)
			sc.frames = append(sc.frames, tc.frames...)
			total := c.gather(sc, sc.frames)
			got := make(chan []byte, 1)
			read := func() {
				b := make([]byte, len(want))
				n, _ := io.ReadFull(peer, b)
				got <- b[:n]
			}
			if !tc.partial {
				go read()
			}
			n, err := s.trySendv(sc.segs)
			switch {
			case err != nil:
				t.Fatalf("trySendv: %v", err)
			case !tc.partial && n != total:
				t.Fatalf("trySendv wrote %d of %d bytes into a socket with room", n, total)
			case tc.partial && (n <= 0 || n >= total):
				t.Fatalf("trySendv wrote %d of %d bytes; want a part", n, total)
			case tc.partial:
				rest := sc.unsent(n)
				for i := range sc.buf {
					sc.buf[i] = 0xee // the flusher's next batch
				}
				go read()
				if err := s.writev(rest); err != nil {
					t.Fatalf("writing the rest: %v", err)
				}
			}
			if b := <-got; !bytes.Equal(b, want) {
				i := 0
				for i < len(b) && b[i] == want[i] {
					i++
				}
				t.Fatalf("the peer got %d bytes, want %d; the first difference at %d (the send stopped at %d)", len(b), len(want), i, n)
			}
		})
	}
}

// More buffers than one call takes go out in several calls, in order;
// empty ones are skipped.
func TestTrySendvManyBuffers(t *testing.T) {
	s, peer := tcpPair(t, true)
	if s.rc == nil {
		t.Skip("no raw I/O on this system")
	}
	s.nc.(*net.TCPConn).SetWriteBuffer(1 << 20)
	var bufs [][]byte
	for i := range 3*maxIovecs + 5 {
		bufs = append(bufs, noise(i%7*20, uint32(i))) // every 7th empty
	}
	want := concat(bufs)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		n, _ := io.ReadFull(peer, b)
		got <- b[:n]
	}()
	if n, err := s.trySendv(bufs); n != len(want) || err != nil {
		t.Fatalf("trySendv = %d, %v; want %d bytes written", n, err, len(want))
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer got %d bytes, not the %d sent", len(b), len(want))
	}
}

// holdWrites takes c's writer role once its writer has let it go.
func holdWrites(t *testing.T, c *Conn) (release func()) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	release, ok := c.HoldWrites()
	for !ok {
		if time.Now().After(deadline) {
			t.Fatal("the writer role stayed taken")
		}
		time.Sleep(time.Millisecond)
		release, ok = c.HoldWrites()
	}
	return release
}

// sendAll queues frames into c as one batch: the writer role is held
// meanwhile, so that one flush takes them together (up to batchBytes).
func sendAll(t *testing.T, c *Conn, frames []broadcast.Frame) {
	t.Helper()
	release := holdWrites(t, c)
	for _, f := range frames {
		if !c.Send(f) {
			t.Fatal("Send refused")
		}
	}
	release()
}

// expectFrames reads len(frames) frames and compares them with frames.
func expectFrames(t *testing.T, client *rawClient, frames []broadcast.Frame) {
	t.Helper()
	for i, f := range frames {
		got, err := client.read(10 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		op := byte(fin | opText)
		if f.Binary {
			op = fin | opBinary
		}
		want := append(append(append([]byte(nil), f.Head...), f.Body...), f.Tail...)
		if got.b0 != op || !bytes.Equal(got.payload, want) {
			t.Fatalf("message %d: header %#x and %d bytes; want %#x and %d bytes", i, got.b0, len(got.payload), op, len(want))
		}
	}
}

// TestBigFramesFromFlusher: big messages, alone or among small ones and
// control frames, reach the peer verbatim, written by the flusher itself
// into a socket with room: no writer goroutine (with raw I/O).
func TestBigFramesFromFlusher(t *testing.T) {
	s := newEchoServer(t, Options{QueueBytes: 4 << 20})
	client := s.dialRaw(t)
	c := s.conn(0)
	c.sock.nc.(*net.TCPConn).SetWriteBuffer(1 << 20)
	small := broadcast.Frame{Body: []byte(`{"small":1}`)}
	for i, batch := range [][]broadcast.Frame{
		{bigFrame(assembleMax+1, 1)},
		{bigFrame(64<<10, 2)},
		{small, bigFrame(64<<10, 3), small, bigFrame(50_000, 4), small},
		{bigFrame(40_000, 5), bigFrame(40_000, 6), bigFrame(40_000, 7)},
		{{Head: noise(partMax+1, 8), Body: noise(60_000, 9), Tail: noise(2*partMax, 10)}},
		{{Binary: true, Body: noise(150_000, 11)}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			sendAll(t, c, batch)
			expectFrames(t, client, batch)
		})
	}
	// A pong queued with a batch goes out first, then the batch.
	release := holdWrites(t, c)
	client.send(rawFrame{b0: fin | opPing, payload: []byte("ping")})
	deadline := time.Now().Add(10 * time.Second)
	for !c.ctlPending.Load() { // the read loop queues the pong
		if time.Now().After(deadline) {
			t.Fatal("no pong queued")
		}
		time.Sleep(time.Millisecond)
	}
	batch := []broadcast.Frame{bigFrame(64<<10, 12), small}
	for _, f := range batch {
		c.Send(f)
	}
	release()
	if f, err := client.read(10 * time.Second); err != nil || f.b0 != fin|opPong || string(f.payload) != "ping" {
		t.Fatalf("read %v, %v; want the pong first", f, err)
	}
	expectFrames(t, client, batch)
	if st := s.host.Stats(); !portableIO() && st.WriterHandOffs != 0 {
		t.Errorf("%d writes handed to a writer goroutine; want the flusher to write every one", st.WriterHandOffs)
	}
}

// TestBigFramesPartialWrite: a peer that does not read at first, small
// socket buffers: the flusher's send of a big message stops inside it, the
// writer goroutine continues from there, and the peer, reading at last,
// gets every message whole and in order.
func TestBigFramesPartialWrite(t *testing.T) {
	s := newEchoServer(t, Options{QueueBytes: 16 << 20, WriteTimeout: time.Minute})
	client := s.dialRaw(t)
	client.nc.(*net.TCPConn).SetReadBuffer(16 << 10)
	c := s.conn(0)
	c.sock.nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
	small := broadcast.Frame{Body: []byte(`{"small":1}`)}
	frames := []broadcast.Frame{
		small, bigFrame(200_000, 1), small, // one batch: the send stops in the big one
		bigFrame(1<<20, 2), // a batch of its own, over batchBytes
		small, bigFrame(assembleMax+1, 3), small, bigFrame(64<<10, 4), small,
	}
	sendAll(t, c, frames)
	deadline := time.Now().Add(10 * time.Second)
	for s.host.Stats().WriterHandOffs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no writer goroutine took over from the flusher")
		}
		time.Sleep(time.Millisecond)
	}
	expectFrames(t, client, frames)
	// And the connection goes on: a ping is answered.
	client.send(rawFrame{b0: fin | opPing, payload: []byte("after")})
	if f, err := client.read(10 * time.Second); err != nil || f.b0 != fin|opPong || string(f.payload) != "after" {
		t.Fatalf("read %v, %v; want the pong", f, err)
	}
}

// TestRawBigFrames: a raw stream's big messages go out as they are, whole
// and in order, whether the socket takes them at once or not.
func TestRawBigFrames(t *testing.T) {
	c, peer, _ := rawPair(t, Options{WriteTimeout: time.Minute}, RawConfig{QueueBytes: 8 << 20})
	frames := []broadcast.Frame{
		{Head: []byte("data: "), Body: []byte("small"), Tail: []byte("\n\n")},
		{Head: []byte("data: "), Body: noise(300_000, 1), Tail: []byte("\n\n")},
		{Head: noise(2*partMax, 2), Body: noise(assembleMax+1, 3), Tail: noise(partMax+1, 4)},
		{Head: []byte("data: "), Body: []byte("small"), Tail: []byte("\n\n")},
	}
	for _, f := range frames {
		if !c.Send(f) {
			t.Fatal("Send refused")
		}
	}
	want := wireOf(c, frames)
	got := make([]byte, len(want))
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes (%v), or not as sent", n, len(want), err)
	}
}

// TestFlushBigFrameAllocs: the flusher writes a big message into a socket
// with room without allocating: no copy, no goroutine, no iovec on the
// heap.
func TestFlushBigFrameAllocs(t *testing.T) {
	if portableIO() {
		t.Skip("without raw I/O every write is handed to a writer goroutine")
	}
	s := newEchoServer(t, Options{})
	client := s.dialRaw(t)
	c := s.conn(0)
	if c.sock.rc == nil {
		t.Skip("no raw I/O on this system")
	}
	c.sock.nc.(*net.TCPConn).SetWriteBuffer(1 << 20)
	f := bigFrame(64<<10, 1)
	want := wireOf(c, []broadcast.Frame{f})
	got := make(chan bool)
	go func() {
		b := make([]byte, len(want))
		for {
			if _, err := io.ReadFull(client.br, b); err != nil {
				close(got)
				return
			}
			got <- bytes.Equal(b, want)
		}
	}()
	sc := new(writerScratch)
	allocs := testing.AllocsPerRun(100, func() {
		if !c.writing.CompareAndSwap(false, true) {
			t.Fatal("writer role taken")
		}
		c.q.Push(f)
		c.flush(sc, time.Now())
		if !<-got {
			t.Fatal("the peer got something else")
		}
	})
	if st := s.host.Stats(); st.WriterHandOffs != 0 {
		t.Fatalf("%d writes handed to a writer goroutine into a socket with room", st.WriterHandOffs)
	}
	if allocs != 0 {
		t.Errorf("flushing a big message allocates %.1f times", allocs)
	}
}
