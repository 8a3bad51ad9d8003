package harness

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"time"
)

// GCLine is one line of the Go runtime's gctrace (GODEBUG=gctrace=1).
type GCLine struct {
	At                         time.Duration // since the process started
	HeapLiveMB, GoalMB, Stacks int
	Forced                     bool
}

var gcTraceLine = regexp.MustCompile(`(?m)^gc \d+ @([\d.]+)s .*? \d+->\d+->(\d+) MB, (\d+) MB goal, (\d+) MB stacks.*$`)

// LastGC returns the last gctrace line in a server's log.
func LastGC(logPath string) (GCLine, bool) {
	b, _ := os.ReadFile(logPath)
	all := gcTraceLine.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return GCLine{}, false
	}
	m := all[len(all)-1]
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	live, _ := strconv.Atoi(string(m[2]))
	goal, _ := strconv.Atoi(string(m[3]))
	stacks, _ := strconv.Atoi(string(m[4]))
	return GCLine{At: time.Duration(secs * float64(time.Second)), HeapLiveMB: live, GoalMB: goal, Stacks: stacks,
		Forced: bytes.HasSuffix(bytes.TrimSpace(m[0]), []byte("(forced)"))}, true
}

// AwaitGCAfter waits up to limit for a collection of the server started at
// serverStart (taken just before it was started) that began after since,
// polling its gctrace. It returns the last collection, whether it began
// after since, and how long it waited. No Go server can be made to collect
// from outside; the runtime forces a collection 2 minutes after the last.
func AwaitGCAfter(ctx context.Context, logPath string, serverStart, since time.Time, limit time.Duration) (last GCLine, after bool, waited time.Duration, err error) {
	began := time.Now()
	for {
		var ok bool
		if last, ok = LastGC(logPath); ok {
			after = serverStart.Add(last.At).After(since)
		}
		waited = time.Since(began)
		if after || waited >= limit {
			return last, after, waited, nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return last, false, waited, ctx.Err()
		}
	}
}
