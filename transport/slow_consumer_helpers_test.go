package transport

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

var seqKey = []byte(`"i":`)

// seqOf returns the sequence number of a broadcast frame (text, or binary
// kind 4), or -1.
func seqOf(b []byte) int {
	j := bytes.Index(b, seqKey)
	if j < 0 || (b[0] != phoenix.KindUserBroadcast && !bytes.Contains(b, []byte(`"broadcast"`))) {
		return -1
	}
	b = b[j+len(seqKey):]
	k := 0
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, err := strconv.Atoi(string(b[:k]))
	if err != nil {
		return -1
	}
	return n
}

// readInOrder reads until it has seen messages 0..n-1 in order, counting
// them in got. Other frames (presence, system) are skipped.
func readInOrder(ctx context.Context, ws *websocket.Conn, n int, got *atomic.Int64) error {
	for next := 0; next < n; {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("healthy reader after %d messages: %w", next, err)
		}
		i := seqOf(b)
		if i < 0 {
			continue
		}
		if i != next {
			return fmt.Errorf("healthy reader got message %d, want %d: %s", i, next, b)
		}
		next++
		got.Store(int64(next))
	}
	return nil
}

// waitReaders waits until every healthy reader has at least want messages,
// failing on a reader error or after 30 s without progress.
func waitReaders(t *testing.T, got []atomic.Int64, want int64, errs chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := range got {
		for got[i].Load() < want {
			select {
			case err := <-errs:
				if err != nil {
					t.Fatal(err)
				}
				errs <- nil // a finished reader; keep its slot
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("reader %d stuck at %d messages, want %d", i, got[i].Load(), want)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// drainPrefix reads a socket that was stalled until it ends, checking that
// the broadcasts it got are 0, 1, 2, ... without a gap, and returns how
// many there were and the close status.
func drainPrefix(ws *websocket.Conn) (int, websocket.StatusCode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	var gap error
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return n, websocket.CloseStatus(err), gap
		}
		i := seqOf(b)
		if i < 0 {
			continue
		}
		if i != n && gap == nil {
			gap = fmt.Errorf("stalled client got message %d after %d messages", i, n)
		}
		n++
	}
}

// heapInuse returns the heap in use, after a collection when gc is set.
func heapInuse(gc bool) uint64 {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// sample calls f every period until stopped.
func sample(period time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// maxTo raises *p to v; only the sampling goroutine writes it.
func maxTo(p *atomic.Uint64, v uint64) {
	if v > p.Load() {
		p.Store(v)
	}
}

// newestConn returns the server's most recently accepted connection.
func newestConn(s *Server) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var newest *conn
	for c := range s.conns {
		if newest == nil || c.id > newest.id {
			newest = c
		}
	}
	return newest
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
