package idle

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"time"
)

// awaitGC waits up to limit for a collection that started after every
// connection was up, polling the server's gctrace, and notes the last
// collection and whether it was such a one.
func (r *idleRow) awaitGC(ctx context.Context, logPath string, limit time.Duration) error {
	began := time.Now()
	for {
		var ok bool
		if r.gcAfter, ok = lastGC(logPath); ok {
			r.gcAfterConnect = r.serverStart.Add(r.gcAfter.at).After(r.upSince)
		}
		r.gcWaited = time.Since(began)
		if r.gcAfterConnect || r.gcWaited >= limit {
			return nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// gcLine is one line of the Go runtime's gctrace.
type gcLine struct {
	at                         time.Duration // since the process started
	heapLiveMB, goalMB, stacks int
	forced                     bool
}

var gcTrace = regexp.MustCompile(`(?m)^gc \d+ @([\d.]+)s .*? \d+->\d+->(\d+) MB, (\d+) MB goal, (\d+) MB stacks.*$`)

// lastGC returns the last gctrace line in the server's log.
func lastGC(logPath string) (gcLine, bool) {
	b, _ := os.ReadFile(logPath)
	all := gcTrace.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return gcLine{}, false
	}
	m := all[len(all)-1]
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	live, _ := strconv.Atoi(string(m[2]))
	goal, _ := strconv.Atoi(string(m[3]))
	stacks, _ := strconv.Atoi(string(m[4]))
	return gcLine{at: time.Duration(secs * float64(time.Second)), heapLiveMB: live, goalMB: goal, stacks: stacks,
		forced: bytes.HasSuffix(bytes.TrimSpace(m[0]), []byte("(forced)"))}, true
}
