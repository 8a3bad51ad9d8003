package changes

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/walcast/walcast/replication"
)

// timedHandler measures how long the dispatcher takes on each change of one
// table. The stream calls it from one goroutine, which does nothing else
// meanwhile: its time is the server's CPU per change, give or take
// scheduling on a busy machine.
type timedHandler struct {
	*Dispatcher
	table string
	mu    sync.Mutex
	took  []time.Duration
}

func (h *timedHandler) HandleChange(ctx context.Context, ch *replication.Change) error {
	start := time.Now()
	err := h.Dispatcher.HandleChange(ctx, ch)
	if ch.Relation.Table == h.table {
		h.mu.Lock()
		h.took = append(h.took, time.Since(start))
		h.mu.Unlock()
	}
	return err
}

// TestLikeWorstCaseOnPostgres is the issue's like worst case end to end:
// eight bindings `name=like.%<20,000 a>c` (let in with the limits off) and
// one INSERT of a 500 KB name, among changes to another table that a ninth
// channel subscribes to. That channel receives every change, in order,
// including those committed right after the large one. The time the
// dispatcher spent on the large change is logged (go test -v); the
// benchmark BenchmarkLikeWorstCase gives the CPU per change.
func TestLikeWorstCaseOnPostgres(t *testing.T) {
	var th *timedHandler
	f := newWrappedFixture(t, testSchema, Config{FilterLimits: unlimited}, func(d *Dispatcher) replication.Handler {
		th = &timedHandler{Dispatcher: d, table: "items"}
		return th
	})
	likers := make([]*dropSink, 8)
	for i := range likers {
		likers[i] = &dropSink{}
		f.subscribe(t, likers[i], Binding{Event: "*", Schema: "public", Table: "items", Filter: issueLikeFilter})
	}
	other := &recorder{}
	f.subscribe(t, other, Binding{Event: "INSERT", Schema: "public", Table: "rooms"})

	f.exec(t, "INSERT INTO rooms VALUES (1, 'before')",
		"INSERT INTO items VALUES (1, 1, repeat('a', 500000))",
		"INSERT INTO rooms VALUES (2, 'after')",
		"INSERT INTO items VALUES (2, 1, repeat('a', 500000) || 'c')",
		"INSERT INTO rooms VALUES (3, 'last')")
	f.sync(t)

	got := other.deliveries(t)
	if len(got) != 3 {
		t.Fatalf("the other channel got %d changes, want 3", len(got))
	}
	for i, title := range []string{"before", "after", "last"} {
		if rec := decode(t, got[i].data).Record; rec == nil || (*rec)["title"] != title {
			t.Fatalf("other channel, change %d: %s, want title %q", i, got[i].data, title)
		}
	}
	for i, s := range likers {
		if s.dropped != nil || s.calls != 1 {
			t.Fatalf("like channel %d: %d deliveries, dropped %v (%v); want the matching row only, nothing dropped", i, s.calls, s.dropped, s.err)
		}
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.took) != 2 {
		t.Fatalf("timed %d changes to items, want 2", len(th.took))
	}
	t.Logf("dispatcher time per 500 KB change with 8 like bindings: no match %s, match (encoded, delivered to 8) %s", th.took[0], th.took[1])
}
