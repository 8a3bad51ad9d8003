package changes

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// atomicSink counts deliveries; it may be called after its Unsubscribe.
type atomicSink struct{ calls atomic.Int64 }

func (s *atomicSink) DeliverChange([]uint64, []byte) { s.calls.Add(1) }

// TestConcurrentSubscribe churns subscriptions on other goroutines while
// the handler dispatches (run it with -race): a sink subscribed throughout
// gets every change, and nothing deadlocks.
func TestConcurrentSubscribe(t *testing.T) {
	ctx := context.Background()
	d, _ := newMemDispatcher(t, 0, true, false)
	steady := &atomicSink{}
	mustRegister(t, d, steady, Binding{Event: "INSERT", Schema: "public", Table: "items"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := &atomicSink{}
				_, err := registerBindings(d, s, Binding{Event: "*", Schema: "public", Table: "items", Filter: "room=eq.1"},
					Binding{Event: "INSERT", Schema: "*", Table: "*"})
				if err != nil {
					t.Error(err)
					return
				}
				_ = d.Live()
				d.Unsubscribe(s)
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d.HandleStreaming(ctx, i%2 == 0)
		}
	})
	const changes = 20_000
	ch := memInsert(1, 1)
	for range changes {
		_ = d.HandleChange(ctx, ch)
		if err := d.HandleRelation(ctx, memItems); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := steady.calls.Load(); got != changes {
		t.Errorf("steady sink got %d changes, want %d", got, changes)
	}
}
