package transport

import (
	"context"
	"sync"

	"github.com/walcast/walcast/changes"
)

// fakeChanges stands in for *changes.Dispatcher: it assigns ids, records
// the sinks and lets a test deliver changes and switch liveness.
type fakeChanges struct {
	mu     sync.Mutex
	nextID uint64
	sinks  map[changes.Sink][]uint64
	subErr error
	live   bool
	liveCh chan struct{}
}

func newFakeChanges(live bool) *fakeChanges {
	f := &fakeChanges{nextID: 100, sinks: make(map[changes.Sink][]uint64), liveCh: make(chan struct{})}
	if live {
		f.setLive()
	}
	return f
}

func (f *fakeChanges) Subscribe(_ context.Context, sink changes.Sink, bindings []changes.Binding) ([]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]uint64, len(bindings))
	for i := range ids {
		f.nextID++
		ids[i] = f.nextID
	}
	f.sinks[sink] = append(f.sinks[sink], ids...)
	return ids, f.subErr
}

func (f *fakeChanges) Unsubscribe(sink changes.Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sinks, sink)
}

func (f *fakeChanges) Live() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live
}

func (f *fakeChanges) WaitLive(ctx context.Context) error {
	f.mu.Lock()
	ch := f.liveCh
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeChanges) setLive() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live {
		f.live = true
		close(f.liveCh)
	}
}

func (f *fakeChanges) setSubscribeError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subErr = err
}

// deliver hands data to every sink subscribed with one of ids, as the
// dispatcher does: one call per sink with the ids it owns.
func (f *fakeChanges) deliver(data string, ids ...uint64) {
	f.mu.Lock()
	type call struct {
		sink changes.Sink
		ids  []uint64
	}
	var calls []call
	for sink, own := range f.sinks {
		var match []uint64
		for _, id := range ids {
			for _, o := range own {
				if o == id {
					match = append(match, id)
				}
			}
		}
		if len(match) > 0 {
			calls = append(calls, call{sink, match})
		}
	}
	f.mu.Unlock()
	for _, c := range calls {
		c.sink.DeliverChange(c.ids, []byte(data))
	}
}

func (f *fakeChanges) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sinks)
}
