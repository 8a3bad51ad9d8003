package changes

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// dropSink records deliveries and dropped bindings.
type dropSink struct {
	countSink
	dropped []uint64
	err     error
}

func (s *dropSink) BindingsDropped(ids []uint64, err error) {
	s.dropped = append(s.dropped, ids...)
	s.err = err
}

func memInsertName(id, room int, name string) *replication.Change {
	ch := memInsert(id, room)
	ch.New[2] = replication.Value{State: replication.ValueText, Data: []byte(name)}
	return ch
}

// TestGroupBudget: a binding whose filter takes longer than the budget on a
// change is dropped with a BudgetError to its sink; the other bindings of
// that sink and of other sinks get the change, and later changes.
func TestGroupBudget(t *testing.T) {
	ctx := context.Background()
	d := New(Config{GroupBudget: time.Millisecond})
	if err := d.HandleRelation(ctx, memItems); err != nil {
		t.Fatal(err)
	}
	// Seconds of RE2 work on 500 KB, unless cut short.
	slow := Binding{Event: "*", Schema: "public", Table: "items", Filter: "name=match.[ab]{990}c"}
	cheap := Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"}
	a, b, c := &dropSink{}, &countSink{}, &countSink{}
	aIDs := mustRegister(t, d, a, slow, cheap)
	mustRegister(t, d, b, cheap)
	mustRegister(t, d, c, slow) // not an ErrorSink: dropped silently

	start := time.Now()
	if err := d.HandleChange(ctx, memInsertName(1, 1, strings.Repeat("a", 500_000))); err != nil {
		t.Fatal(err)
	}
	t.Logf("change with a 500 KB value handled in %s", time.Since(start))
	var be *BudgetError
	if !slices.Equal(a.dropped, aIDs[:1]) || !errors.As(a.err, &be) || be.Table != "items" {
		t.Fatalf("sink a: dropped %v with %v, want [%d] with a BudgetError on items", a.dropped, a.err, aIDs[0])
	}
	if !strings.Contains(a.err.Error(), "took more than 1ms") {
		t.Fatalf("error text %q", a.err)
	}
	if a.calls != 1 || a.ids != 1 || b.calls != 1 || c.calls != 0 {
		t.Fatalf("deliveries: a %d (%d ids), b %d, c %d; want 1 (1), 1, 0", a.calls, a.ids, b.calls, c.calls)
	}

	// The slow filter matches this one, but its bindings are gone.
	if err := d.HandleChange(ctx, memInsertName(2, 1, strings.Repeat("ab", 500)+"c")); err != nil {
		t.Fatal(err)
	}
	if a.calls != 2 || a.ids != 2 || b.calls != 2 || c.calls != 0 {
		t.Fatalf("after the drop: a %d (%d ids), b %d, c %d; want 2 (2), 2, 0", a.calls, a.ids, b.calls, c.calls)
	}
	d.mu.RLock()
	_, cLeft := d.sinks[c]
	d.mu.RUnlock()
	if cLeft {
		t.Fatal("sink c has no binding left but is still registered")
	}
}

// issueLikeFilter is the filter of the like worst case: eight bindings of it
// and one 500 KB value took a minute of CPU with a backtracking matcher.
var issueLikeFilter = "name=like.%" + strings.Repeat("a", 20_000) + "c"

// unlimited lets the issue's 20 KB pattern in: the default limits refuse it.
var unlimited = filter.Limits{MaxFilterBytes: -1, MaxPatternBytes: -1}

func TestIssueLikeFilterRefusedByDefault(t *testing.T) {
	_, err := registerBindings(New(Config{}), &countSink{}, Binding{Event: "*", Schema: "public", Table: "items", Filter: issueLikeFilter})
	if err == nil || !strings.Contains(err.Error(), "longer than the limit") {
		t.Fatalf("default limits: %v, want a refusal", err)
	}
}

// BenchmarkLikeWorstCase is the issue's like worst case at the dispatcher:
// eight sinks bind `name=like.%<20,000 a>c`, a ninth `room=eq.1`, and each
// op is one INSERT whose name is 500 KB of 'a'. It reports the CPU per
// change; the ninth sink receives every change.
func BenchmarkLikeWorstCase(b *testing.B) {
	ctx := context.Background()
	for _, pattern := range []struct{ name, filter string }{
		{"suffix", issueLikeFilter},
		{"middle", issueLikeFilter + "%"},
	} {
		b.Run(pattern.name, func(b *testing.B) {
			d := New(Config{FilterLimits: unlimited})
			if err := d.HandleRelation(ctx, memItems); err != nil {
				b.Fatal(err)
			}
			likers := make([]*dropSink, 8)
			for i := range likers {
				likers[i] = &dropSink{}
				mustRegisterLimited(b, d, likers[i], Binding{Event: "*", Schema: "public", Table: "items", Filter: pattern.filter})
			}
			other := &countSink{}
			mustRegisterLimited(b, d, other, Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"})
			ch := memInsertName(1, 1, strings.Repeat("a", 500_000))
			for b.Loop() {
				_ = d.HandleChange(ctx, ch)
			}
			if other.calls != b.N {
				b.Fatalf("other sink got %d of %d changes", other.calls, b.N)
			}
			for i, s := range likers {
				if s.dropped != nil {
					b.Fatalf("like binding %d dropped: %v", i, s.err)
				}
			}
		})
	}
}

func mustRegisterLimited(tb testing.TB, d *Dispatcher, sink Sink, bindings ...Binding) {
	tb.Helper()
	ids := make([]uint64, len(bindings))
	specs := make([]spec, len(bindings))
	errs := make([]error, len(bindings))
	for i, bd := range bindings {
		ids[i] = d.lastID.Add(1)
		if specs[i], errs[i] = parseBinding(bd, d.cfg.FilterLimits); errs[i] != nil {
			tb.Fatal(errs[i])
		}
	}
	d.register(sink, ids, specs, errs, nil, nil)
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
}
