package transport

import (
	"context"
	"testing"

	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/replication"
)

// runStream streams the database at url through publication pub to h until
// the test ends, and returns once the slot is active (the stream has created
// the publication the dispatcher checks bindings against).
func runStream(t *testing.T, url, pub string, h replication.Handler) {
	t.Helper()
	stream, err := replication.NewStream(replication.Config{DatabaseURL: url, Publication: pub, Logger: testLogger(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("stream: %v", err)
		}
	})
	pgtest.WaitForActiveSlot(t, url)
}
