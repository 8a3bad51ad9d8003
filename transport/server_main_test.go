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
	before := runtime.NumGoroutine()
	code := pgtest.Run(m)
	http.DefaultClient.CloseIdleConnections()
	smallBufferClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before && code == 0 {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		fmt.Fprintf(os.Stderr, "transport: %d goroutines leaked (%d before, %d after):\n%s\n",
			n-before, before, n, strings.TrimSpace(stacks))
		code = 1
	}
	os.Exit(code)
}
