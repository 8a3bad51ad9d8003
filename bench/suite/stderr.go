package suite

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/walcast/walcast/bench/report"
)

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// withStderrTail runs fn with os.Stderr going through a pipe that copies
// everything to the real stderr and returns the last 16 KiB of it. run
// prints a failed command's error to stderr; this is how the suite quotes
// it in the summary without changing how the commands report errors.
func withStderrTail(fn func()) string {
	r, w, err := os.Pipe()
	if err != nil {
		fn()
		return ""
	}
	orig := os.Stderr
	tail := &tailBuffer{max: 16 << 10}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(io.MultiWriter(orig, tail), r)
	}()
	func() {
		os.Stderr = w
		defer func() { os.Stderr = orig }()
		fn()
	}()
	w.Close()
	// A process the command left behind may still hold the pipe open; stop
	// copying after a moment rather than waiting for it to exit.
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	r.Close()
	<-copied
	return tail.String()
}

// failureReason finds the error that run printed for command name in the
// tail of its stderr: the first line after "bench NAME: " or, for an
// unknown command, after "bench: ".
func failureReason(tail, name string, code int) string {
	tail = "\n" + tail
	for _, prefix := range []string{"\nbench " + name + ": ", "\nbench: "} {
		if i := strings.LastIndex(tail, prefix); i >= 0 {
			line, _, _ := strings.Cut(tail[i+len(prefix):], "\n")
			if line = strings.TrimSpace(line); line != "" {
				return report.TruncateText(line, 300)
			}
		}
	}
	return fmt.Sprintf("exit code %d", code)
}
