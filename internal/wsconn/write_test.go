package wsconn

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
)

// BenchmarkFlush measures a flusher writing one connection's queue: the
// frames encoded into one buffer and written with one non-blocking syscall,
// for one frame and for a batch of queued frames; messages over
// assembleMax are sent from their own bytes with one vectored send.
// handoffs/op counts the writes a flusher could not finish and handed to a
// writer goroutine (the socket was full).
func BenchmarkFlush(b *testing.B) {
	for _, tc := range []struct{ size, batch int }{
		{128, 1}, {128, 16}, {2 << 10, 1}, {2 << 10, 16}, {64 << 10, 1}, {64 << 10, 3},
	} {
		b.Run(fmt.Sprintf("body=%d/frames=%d", tc.size, tc.batch), func(b *testing.B) {
			s := newEchoServer(b, Options{})
			client := s.dialRaw(b)
			go io.Copy(io.Discard, client.br)
			c := s.conn(0)
			f := broadcast.Frame{Head: []byte(`[null,null,"realtime:room","postgres_changes",{"ids":[1],"data":`),
				Body: []byte(strings.Repeat("x", tc.size)), Tail: []byte(`}]`)}
			sc := new(writerScratch)
			b.SetBytes(int64(f.Len() * tc.batch))
			b.ReportAllocs()
			handOffs := s.host.Stats().WriterHandOffs
			for b.Loop() {
				if !c.writing.CompareAndSwap(false, true) {
					b.Fatal("writer role taken")
				}
				for range tc.batch {
					c.q.Push(f)
				}
				c.flush(sc, time.Now())
				sc.reset()
				for c.writing.Load() {
					runtime.Gosched() // a hand-off to writeBlocking: the socket was full
				}
			}
			b.ReportMetric(float64(s.host.Stats().WriterHandOffs-handOffs)/float64(b.N), "handoffs/op")
		})
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		bin  bool
		n    int
		want []byte
	}{
		{false, 0, []byte{0x81, 0}},
		{true, 125, []byte{0x82, 125}},
		{false, 126, []byte{0x81, 126, 0, 126}},
		{true, 65535, []byte{0x82, 126, 0xff, 0xff}},
		{false, 65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{true, 1<<31 - 1, []byte{0x82, 127, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}}, // the largest on 32-bit systems
	} {
		got := appendFrameHeader(nil, tc.bin, tc.n)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("appendFrameHeader(%v, %d) = %x, want %x", tc.bin, tc.n, got, tc.want)
		}
		if len(got) > maxFrameHeader {
			t.Errorf("header of %d bytes is longer than maxFrameHeader", len(got))
		}
	}
}

func TestClosePayload(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, tc := range []struct {
		code   StatusCode
		reason string
		want   string
	}{
		{0, "", ""},
		{statusNoStatus, "ignored", ""},
		{1000, "", "\x03\xe8"},
		{4000, "slow consumer", "\x0f\xa0slow consumer"},
		{1001, long, "\x03\xe9" + strings.Repeat("é", 61)}, // cut to 123 bytes, not inside a rune
	} {
		got := closePayload(nil, tc.code, tc.reason)
		if string(got) != tc.want {
			t.Errorf("closePayload(%d, %.10q) = %q, want %q", tc.code, tc.reason, got, tc.want)
		}
		if len(got) > maxControlPayload {
			t.Errorf("close payload of %d bytes", len(got))
		}
	}
}

func TestHeldHeapOrder(t *testing.T) {
	var h heldHeap
	base := time.Now()
	conns := make([]*Conn, 50)
	for i := range conns {
		conns[i] = &Conn{id: uint64(i)}
	}
	// Push in a scrambled order; pop must return them by due time.
	for i := range conns {
		j := (i * 37) % len(conns)
		h.push(heldConn{c: conns[j], due: base.Add(time.Duration(j) * time.Microsecond)})
	}
	for i := range conns {
		if c := h.pop(); c != conns[i] {
			t.Fatalf("pop %d returned conn %d", i, c.id)
		}
	}
	if len(h) != 0 {
		t.Fatalf("%d left after popping all", len(h))
	}
	if n := testing.AllocsPerRun(100, func() {
		h.push(heldConn{c: conns[0], due: base})
		h.pop()
	}); n != 0 {
		t.Errorf("push+pop allocates %.1f times", n)
	}
}

// TestBigMessagesInOrder: messages over the flusher's copy limit go out
// from their own bytes, in order with small ones around them.
func TestBigMessagesInOrder(t *testing.T) {
	s := newEchoServer(t, Options{})
	c := s.dialRaw(t)
	sc := s.conn(0)
	var want [][]byte
	for i := range 20 {
		n := 10
		if i%3 == 0 {
			n = assembleMax + 1 + i*1000
		}
		body := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, body)
		if !sc.Send(broadcast.Frame{Binary: i%2 == 0, Body: body}) {
			t.Fatal("Send refused")
		}
	}
	for i, w := range want {
		f, err := c.read(5 * time.Second)
		if err != nil || !bytes.Equal(f.payload, w) {
			t.Fatalf("message %d: %d bytes, %v; want %d bytes of %q", i, len(f.payload), err, len(w), w[0])
		}
		if bin := f.b0 == fin|opBinary; bin != (i%2 == 0) {
			t.Fatalf("message %d: header %#x", i, f.b0)
		}
	}
}

// TestReadBufferFollowsBytes: a frame announcing megabytes gets a buffer
// that grows with the bytes that arrive, not with the announced length.
func TestReadBufferFollowsBytes(t *testing.T) {
	var rd reader
	rd.room()
	if len(rd.buf) != readBufSize {
		t.Fatalf("first buffer of %d bytes", len(rd.buf))
	}
	rd.need = 5_000_000
	rd.w = len(rd.buf) // full of the frame's first bytes
	rd.room()
	if len(rd.buf) != 2*readBufSize || rd.w != readBufSize {
		t.Fatalf("grown to %d bytes holding %d, want %d holding %d", len(rd.buf), rd.w, 2*readBufSize, readBufSize)
	}
	rd.need = 3 * readBufSize
	rd.w = len(rd.buf)
	rd.room()
	if len(rd.buf) != 3*readBufSize {
		t.Fatalf("grown to %d bytes, want the %d the frame needs", len(rd.buf), 3*readBufSize)
	}
	// Parsed bytes at the front make room without growing.
	rd.r, rd.w = 100, len(rd.buf)
	rd.room()
	if rd.r != 0 || rd.w != 3*readBufSize-100 || len(rd.buf) != 3*readBufSize {
		t.Fatalf("compacted to r=%d w=%d len=%d", rd.r, rd.w, len(rd.buf))
	}
}
