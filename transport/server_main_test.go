package transport

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/internal/pgtest"
)

// TestMain runs the tests, stops the shared Postgres cluster if one was
// started, and fails the run when goroutines were left behind: every
// goroutine a connection starts must be gone once its server is closed.
func TestMain(m *testing.M) {
	before, _ := goroutines()
	code := pgtest.Run(m)
	http.DefaultClient.CloseIdleConnections()
	smallBufferClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	n, stacks := goroutines()
	for n > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, stacks = goroutines()
	}
	if n > before && code == 0 {
		fmt.Fprintf(os.Stderr, "transport: %d goroutines leaked (%d before, %d after):\n%s\n",
			n-before, before, n, stacks)
		code = 1
	}
	os.Exit(code)
}

// goroutines counts the running goroutines and returns their stacks,
// leaving out the signal watcher that the fuzzing engine starts and never
// stops.
func goroutines() (int, string) {
	buf := make([]byte, 1<<20)
	var kept []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "os/signal.loop") {
			kept = append(kept, g)
		}
	}
	return len(kept), strings.Join(kept, "\n\n")
}
