package broadcast

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
)

func frame(s string) Frame {
	return Frame{Head: []byte("<"), Body: []byte(s), Tail: []byte(">")}
}

func TestFrameLen(t *testing.T) {
	if got, want := frame("abc").Len(), 5; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	if got := (Frame{}).Len(); got != 0 {
		t.Fatalf("zero Frame Len = %d, want 0", got)
	}
}

func TestQueueBound(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		pushes  []int // body sizes (each frame is 2 bytes more)
		want    []bool
		dropped uint64
	}{
		{"fits exactly", 12, []int{4, 4}, []bool{true, true}, 0},
		{"one byte over", 11, []int{4, 4}, []bool{true, false}, 1},
		{"oversized into empty queue", 4, []int{10}, []bool{true}, 0},
		{"oversized behind another", 20, []int{1, 30}, []bool{true, false}, 1},
		{"smaller frame fits after a refused one", 10, []int{6, 6, 0}, []bool{true, false, true}, 1},
		{"default bound", 0, []int{DefaultQueueBytes - 2, 1}, []bool{true, false}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(tc.max)
			for i, size := range tc.pushes {
				if got := q.Push(frame(string(make([]byte, size)))); got != tc.want[i] {
					t.Fatalf("push %d (%d bytes): got %v, want %v", i, size+2, got, tc.want[i])
				}
			}
			if got := q.Dropped(); got != tc.dropped {
				t.Fatalf("Dropped = %d, want %d", got, tc.dropped)
			}
			var wantBytes, wantLen int
			for i, size := range tc.pushes {
				if tc.want[i] {
					wantBytes += size + 2
					wantLen++
				}
			}
			if got := q.Bytes(); got != wantBytes {
				t.Fatalf("Bytes = %d, want %d", got, wantBytes)
			}
			if got := q.Len(); got != wantLen {
				t.Fatalf("Len = %d, want %d", got, wantLen)
			}
		})
	}
}

func TestQueuePopAllReleasesBytes(t *testing.T) {
	q := NewQueue(10)
	if !q.Push(frame("12345678")) {
		t.Fatal("first push refused")
	}
	if q.Push(frame("1")) {
		t.Fatal("push past the bound accepted")
	}
	got := q.PopAll(nil)
	if len(got) != 1 || string(got[0].Body) != "12345678" {
		t.Fatalf("PopAll = %d frames, want one with the pushed body", len(got))
	}
	if q.Bytes() != 0 || q.Len() != 0 {
		t.Fatalf("after PopAll: Bytes %d Len %d, want 0 0", q.Bytes(), q.Len())
	}
	if !q.Push(frame("12345678")) {
		t.Fatal("push after PopAll refused")
	}
}

func TestQueueOrderAcrossWrap(t *testing.T) {
	q := NewQueue(1 << 20)
	var want, got []string
	next := 0
	push := func(n int) {
		for i := 0; i < n; i++ {
			s := fmt.Sprint(next)
			next++
			want = append(want, s)
			if !q.Push(frame(s)) {
				t.Fatalf("push %s refused", s)
			}
		}
	}
	// Interleave pushes and pops so the head moves and the ring wraps and grows.
	var buf []Frame
	for _, n := range []int{5, 3, 8, 1, 20, 0, 7} {
		push(n)
		buf = q.PopAll(buf[:0])
		for _, f := range buf {
			got = append(got, string(f.Body))
		}
	}
	push(6)
	for _, f := range q.PopAll(nil) {
		got = append(got, string(f.Body))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
}

func TestQueueGrowKeepsOrderWithOffsetHead(t *testing.T) {
	q := NewQueue(1 << 20)
	for i := 0; i < 6; i++ {
		q.Push(frame(fmt.Sprint(i)))
	}
	q.PopAll(nil)
	// head is 0 again after PopAll; fill past the first ring so grow copies.
	var want []string
	for i := 0; i < 40; i++ {
		want = append(want, fmt.Sprint(i))
		q.Push(frame(fmt.Sprint(i)))
	}
	var got []string
	for _, f := range q.PopAll(nil) {
		got = append(got, string(f.Body))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestQueuePopAllForgetsFrames: neither a pooled small ring nor a kept
// bigger one may keep popped bodies alive.
func TestQueuePopAllForgetsFrames(t *testing.T) {
	for _, n := range []int{2, smallRingLen, smallRingLen + 1, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			q := NewQueue(1 << 20)
			for i := 0; i < n; i++ {
				q.Push(frame(fmt.Sprint(i)))
			}
			ring := q.ring
			q.PopAll(nil)
			for i, f := range ring {
				if f.Body != nil || f.Head != nil {
					t.Fatalf("ring[%d] of %d still references a popped frame", i, len(ring))
				}
			}
		})
	}
}

// TestQueueEmptiedHoldsNoRing: an idle connection's queue must not pin a
// ring once its writer has taken everything, and a lone frame needs none.
func TestQueueEmptiedHoldsNoRing(t *testing.T) {
	q := NewQueue(1 << 20)
	if q.ring != nil {
		t.Fatal("new queue already holds a ring")
	}
	for _, tc := range []struct{ n, ring int }{{1, 0}, {2, smallRingLen}, {smallRingLen, smallRingLen}, {1, 0}} {
		n := tc.n
		for i := 0; i < n; i++ {
			q.Push(frame("a"))
		}
		if len(q.ring) != tc.ring {
			t.Fatalf("after %d pushes: ring of %d, want %d", n, len(q.ring), tc.ring)
		}
		if got := len(q.PopAll(nil)); got != n {
			t.Fatalf("popped %d frames, want %d", got, n)
		}
		if q.ring != nil {
			t.Fatalf("emptied queue still holds a ring of %d", len(q.ring))
		}
	}
	// An empty PopAll keeps it that way.
	q.PopAll(nil)
	if q.ring != nil {
		t.Fatal("empty PopAll gave the queue a ring")
	}
}

// TestQueueOrderWithPooledRings: two queues pushed in turn hand pooled rings
// back and forth, through growth past the small ring and the shrink after a
// burst; each must still deliver its own frames in order.
func TestQueueOrderWithPooledRings(t *testing.T) {
	queues := []*Queue{NewQueue(1 << 30), NewQueue(1 << 30)}
	next := make([]int, len(queues))
	popped := make([]int, len(queues))
	var buf []Frame
	for _, n := range []int{3, smallRingLen + 1, 1, smallRingLen, 2*shrinkAbove + 1, 2, 17, 5} {
		for i := 0; i < n; i++ {
			for qi, q := range queues {
				if !q.Push(frame(fmt.Sprintf("%d:%d", qi, next[qi]))) {
					t.Fatalf("queue %d: push %d refused", qi, next[qi])
				}
				next[qi]++
			}
		}
		for qi, q := range queues {
			buf = q.PopAll(buf[:0])
			if len(buf) != n {
				t.Fatalf("queue %d: popped %d frames, want %d", qi, len(buf), n)
			}
			for _, f := range buf {
				if want := fmt.Sprintf("%d:%d", qi, popped[qi]); string(f.Body) != want {
					t.Fatalf("queue %d: got frame %s, want %s", qi, f.Body, want)
				}
				popped[qi]++
			}
			if len(q.ring) == smallRingLen || len(q.ring) > shrinkAbove {
				t.Fatalf("queue %d: emptied queue kept a ring of %d", qi, len(q.ring))
			}
		}
		clear(buf)
	}
}

func TestQueueShrinksAfterBurst(t *testing.T) {
	q := NewQueue(1 << 30)
	for i := 0; i < 3*shrinkAbove; i++ {
		q.Push(frame("x"))
	}
	if got := len(q.PopAll(nil)); got != 3*shrinkAbove {
		t.Fatalf("popped %d frames, want %d", got, 3*shrinkAbove)
	}
	if q.ring != nil {
		t.Fatalf("ring of %d kept after a burst", len(q.ring))
	}
	if !q.Push(frame("y")) || q.Len() != 1 {
		t.Fatal("push after shrink failed")
	}
}

func TestQueueClose(t *testing.T) {
	q := NewQueue(100)
	q.Push(frame("a"))
	q.Push(frame("b"))
	ring := q.ring
	q.Close()
	q.Close() // idempotent
	if !q.Closed() {
		t.Fatal("Closed = false after Close")
	}
	if q.Push(frame("c")) {
		t.Fatal("push after Close accepted")
	}
	if got, want := q.Dropped(), uint64(3); got != want {
		t.Fatalf("Dropped = %d, want %d (2 discarded + 1 refused)", got, want)
	}
	if got := q.PopAll(nil); len(got) != 0 {
		t.Fatalf("PopAll after Close = %d frames, want 0", len(got))
	}
	if q.ring != nil {
		t.Fatalf("closed queue still holds a ring of %d", len(q.ring))
	}
	// The ring went back to the pool: it must not keep discarded bodies alive.
	for i, f := range ring {
		if f.Body != nil || f.Head != nil {
			t.Fatalf("released ring[%d] still references a discarded frame", i)
		}
	}
}

func TestQueuePushDoesNotAllocate(t *testing.T) {
	q := NewQueue(1 << 20)
	body := bytes.Repeat([]byte("x"), 512)
	f := Frame{Head: []byte("[null,null,"), Body: body, Tail: []byte("]")}
	buf := make([]Frame, 0, 64)
	// Warm up: the ring reaches its working size once.
	for i := 0; i < 64; i++ {
		q.Push(f)
	}
	buf = q.PopAll(buf[:0])
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 32; i++ {
			if !q.Push(f) {
				t.Fatal("push refused")
			}
		}
		buf = q.PopAll(buf[:0])
		clear(buf)
	})
	if allocs != 0 {
		t.Fatalf("Push+PopAll allocates %v times per run, want 0", allocs)
	}
}

// TestQueuePooledRingDoesNotAllocate: the common idle-connection cycle (a
// frame or two, then the writer empties the queue) takes a ring from the
// pool and gives it back without allocating.
func TestQueuePooledRingDoesNotAllocate(t *testing.T) {
	if raceEnabled() {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	q := NewQueue(1 << 20)
	f := Frame{Head: []byte("[null,null,"), Body: bytes.Repeat([]byte("x"), 512), Tail: []byte("]")}
	buf := make([]Frame, 0, smallRingLen)
	cycle := func() {
		for i := 0; i < 2; i++ {
			if !q.Push(f) {
				t.Fatal("push refused")
			}
		}
		buf = q.PopAll(buf[:0])
		clear(buf)
		if q.ring != nil {
			t.Fatal("emptied queue kept its ring")
		}
	}
	cycle() // warm-up: the pool holds a ring
	if allocs := testing.AllocsPerRun(1000, cycle); allocs != 0 {
		t.Fatalf("Push+PopAll through the pool allocates %v times per run, want 0", allocs)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestQueueConcurrent(t *testing.T) {
	const pushers, each = 8, 2000
	q := NewQueue(1 << 30)
	var wg sync.WaitGroup
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				q.Push(Frame{Body: []byte{byte(p)}, Head: []byte{byte(i), byte(i >> 8)}})
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Per pusher, frames must come out in push order.
	last := make([]int, pushers)
	for i := range last {
		last[i] = -1
	}
	count := 0
	var buf []Frame
	drain := func() {
		buf = q.PopAll(buf[:0])
		for _, f := range buf {
			p, i := int(f.Body[0]), int(f.Head[0])|int(f.Head[1])<<8
			if i != last[p]+1 {
				t.Fatalf("pusher %d: frame %d after %d", p, i, last[p])
			}
			last[p] = i
			count++
		}
	}
	// Nothing wakes a writer, so this one polls until the pushers are done.
	for {
		select {
		case <-done:
		default:
			drain()
			runtime.Gosched()
			continue
		}
		break
	}
	drain()
	if count != pushers*each {
		t.Fatalf("popped %d frames, want %d", count, pushers*each)
	}
}

func BenchmarkQueuePush(b *testing.B) {
	q := NewQueue(1 << 30)
	f := Frame{Head: []byte("[null,null,"), Body: make([]byte, 512), Tail: []byte("]")}
	buf := make([]Frame, 0, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q.Push(f)
		if i%256 == 255 {
			buf = q.PopAll(buf[:0])
		}
	}
}

// TestQueuePushRacesClose: a Push that takes a pooled ring while another
// goroutine closes the queue must neither leave a frame queued nor lose
// count.
func TestQueuePushRacesClose(t *testing.T) {
	for range 2000 {
		q := NewQueue(100)
		var wg sync.WaitGroup
		wg.Go(func() { q.Push(frame("a")) })
		wg.Go(q.Close)
		wg.Wait()
		if q.Len() != 0 {
			t.Fatal("frames queued after Close")
		}
		if d := q.Dropped(); d != 1 {
			t.Fatalf("Dropped = %d, want 1 (the frame was refused or discarded)", d)
		}
	}
}

// BenchmarkQueuePushPop is the common case of a mostly idle connection: one
// frame arrives and the writer takes it before the next one does.
func BenchmarkQueuePushPop(b *testing.B) {
	q := NewQueue(1 << 20)
	f := Frame{Head: []byte("[null,null,"), Body: make([]byte, 512), Tail: []byte("]")}
	buf := make([]Frame, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		q.Push(f)
		buf = q.PopAll(buf[:0])
		clear(buf)
	}
}

func TestQueuePopBounded(t *testing.T) {
	q := NewQueue(1 << 20)
	for i := range 20 {
		q.Push(Frame{Body: make([]byte, 100+i)}) // lengths 100..119
	}
	var got []int
	for round := 0; q.Len() > 0; round++ {
		batch := q.Pop(nil, 250)
		if len(batch) == 0 || len(batch) > 2 {
			t.Fatalf("round %d: popped %d frames under a 250-byte bound, want 1 or 2", round, len(batch))
		}
		for _, f := range batch {
			got = append(got, f.Len())
		}
	}
	for i, l := range got {
		if l != 100+i {
			t.Fatalf("frame %d has length %d, want %d (order lost)", i, l, 100+i)
		}
	}
	if q.Bytes() != 0 || q.Len() != 0 {
		t.Fatalf("drained queue holds %d frames, %d bytes", q.Len(), q.Bytes())
	}
	// A frame over the bound still comes out, alone.
	q.Push(Frame{Body: make([]byte, 1000)})
	q.Push(Frame{Body: make([]byte, 10)})
	if b := q.Pop(nil, 100); len(b) != 1 || b[0].Len() != 1000 {
		t.Fatalf("oversized frame: popped %d frames", len(b))
	}
	if b := q.Pop(nil, 100); len(b) != 1 || b[0].Len() != 10 {
		t.Fatalf("after the oversized frame: popped %d frames", len(b))
	}
}

// Offer queues what Push would, but a refusal is not a drop, and it says
// whether the queue is closed.
func TestQueueOffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		offers []int // body sizes (each frame is 2 bytes more)
		want   []bool
		close  bool
	}{
		{"fits exactly", 12, []int{4, 4}, []bool{true, true}, false},
		{"one byte over", 11, []int{4, 4}, []bool{true, false}, false},
		{"oversized into empty queue", 4, []int{10}, []bool{true}, false},
		{"smaller frame fits after a refused one", 10, []int{6, 6, 0}, []bool{true, false, true}, false},
		{"closed", 100, []int{1}, []bool{false}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(tc.max)
			if tc.close {
				q.Close()
			}
			for i, n := range tc.offers {
				queued, closed := q.Offer(frame(string(bytes.Repeat([]byte("x"), n))))
				if queued != tc.want[i] || closed != tc.close {
					t.Fatalf("offer %d: queued %v closed %v, want %v %v", i, queued, closed, tc.want[i], tc.close)
				}
			}
			if d := q.Dropped(); d != 0 {
				t.Fatalf("Dropped = %d after offers, want 0", d)
			}
		})
	}
}
