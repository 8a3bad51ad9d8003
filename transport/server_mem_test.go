package transport

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The idle-memory measurement runs only when asked:
//
//	WALCAST_IDLE_CONNS=2000 go test -run TestIdleConnectionMemory -v ./transport
//
// Clients run in a child process (this test binary again), so their memory
// does not count; the figures are the server process's growth per
// connection after garbage collection.
const (
	envIdleConns  = "WALCAST_IDLE_CONNS"
	envIdleHelper = "WALCAST_IDLE_HELPER_ADDR"
)

func TestIdleConnectionMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envIdleConns))
	if n <= 0 {
		t.Skip("set " + envIdleConns + "=N to measure the memory of N idle connections")
	}
	e := newEnv(t, Config{Logger: slog.New(slog.DiscardHandler), IdleTimeout: time.Hour})
	addr := strings.TrimPrefix(e.http.URL, "http://")

	base := memSnapshot()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$")
	cmd.Env = append(os.Environ(), envIdleHelper+"="+addr, envIdleConns+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	step := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("helper said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	step("connected")
	waitFor(t, "every connection", func() bool { return e.s.Stats().Connections == n })
	idle := memSnapshot()
	fmt.Fprintln(stdin, "join")
	step("joined")
	joined := memSnapshot()
	fmt.Fprintln(stdin, "heartbeat")
	step("heartbeat")
	beat := memSnapshot()

	report := func(name string, m mem) {
		t.Logf("%-28s heap %6.1f KB/conn  stack %5.1f KB/conn  heap+stack %6.1f KB/conn  RSS %6.1f KB/conn  goroutines %.2f/conn",
			name, perConn(m.heap-base.heap, n), perConn(m.stack-base.stack, n), perConn(m.heap+m.stack-base.heap-base.stack, n),
			perConn(m.rss-base.rss, n), float64(m.goroutines-base.goroutines)/float64(n))
	}
	t.Logf("%d connections", n)
	report("idle after upgrade", idle)
	report("idle with one channel", joined)
	report("... after a heartbeat", beat)
}

type mem struct {
	heap, stack, rss uint64
	goroutines       int
}

func memSnapshot() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return mem{heap: ms.HeapInuse, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func perConn(delta uint64, n int) float64 { return float64(int64(delta)) / 1024 / float64(n) }

// TestIdleClientsHelper is the client side of TestIdleConnectionMemory:
// raw sockets that complete the upgrade and then stay silent.
func TestIdleClientsHelper(t *testing.T) {
	addr := os.Getenv(envIdleHelper)
	if addr == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv(envIdleConns))
	tok := token(t, 2*time.Hour)
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "GET /realtime/v1/websocket?vsn=2.0.0&apikey=%s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", tok)
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade %d: %v %v", i, resp, err)
		}
		conns[i], readers[i] = nc, br
	}
	fmt.Println("connected")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		for i, nc := range conns {
			var payload []byte
			switch in.Text() {
			case "join":
				payload = []byte(`["1","1","realtime:room` + strconv.Itoa(i%50) + `","phx_join",{"config":{"postgres_changes":[]}}]`)
			case "heartbeat":
				payload = []byte(`[null,"2","phoenix","heartbeat",{}]`)
			}
			frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
			nc.Write(frame)
			hdr := make([]byte, 2)
			io.ReadFull(readers[i], hdr)
			io.ReadFull(readers[i], make([]byte, hdr[1]&0x7f))
		}
		if in.Text() == "join" {
			fmt.Println("joined")
		} else {
			fmt.Println(in.Text())
		}
	}
	for _, nc := range conns {
		nc.Close()
	}
}
