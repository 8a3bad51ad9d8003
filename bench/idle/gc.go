package idle

import (
	"context"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// awaitGC waits up to limit for a collection that started after every
// connection was up, polling the server's gctrace, and notes the last
// collection and whether it was such a one.
func (r *idleRow) awaitGC(ctx context.Context, logPath string, limit time.Duration) error {
	var err error
	r.gcAfter, r.gcAfterConnect, r.gcWaited, err = harness.AwaitGCAfter(ctx, logPath, r.serverStart, r.upSince, limit)
	return err
}
