package transport

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The SSE idle-memory profile runs only when asked:
//
//	WALCAST_SSE_IDLE_STREAMS=2000 WALCAST_SSE_HEAP_PROFILE=heap.out go test -run TestSSEIdleMemory -v ./transport
//
// It opens the streams from raw sockets in this process (a few hundred
// bytes each), collects, and reports the goroutines and heap the server
// holds per idle stream; the heap profile says where it is held.
func TestSSEIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WALCAST_SSE_IDLE_STREAMS"))
	if n <= 0 {
		t.Skip("set WALCAST_SSE_IDLE_STREAMS=N to measure the memory of N idle SSE streams")
	}
	e := newEnv(t, Config{Logger: slog.New(slog.DiscardHandler)})
	addr := strings.TrimPrefix(e.http.URL, "http://")
	req := "GET /realtime/v1/sse?apikey=" + token(t, time.Hour) + "&schema=public&table=t HTTP/1.1\r\nHost: x\r\n\r\n"
	settle := func() (heap uint64, stack uint64, goroutines int) {
		for range 3 {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine()
	}
	heap0, stack0, g0 := settle()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		// Read up to the "Subscribed" event, so the stream is idle.
		br := bufio.NewReaderSize(c, 512)
		readUntilSubscribed(t, br)
	}
	time.Sleep(time.Second)
	heap1, stack1, g1 := settle()
	t.Logf("%d idle SSE streams: %.1f goroutines, %.1f KB heap (clients' sockets included), %.1f KB stacks per stream",
		n, float64(g1-g0)/float64(n), float64(int64(heap1-heap0))/1024/float64(n), float64(int64(stack1-stack0))/1024/float64(n))
	if path := os.Getenv("WALCAST_SSE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(os.Stderr, "heap profile:", path)
	}
}
