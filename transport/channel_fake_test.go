package transport

import (
	"context"
	"sync"

	"github.com/walcast/walcast/changes"
	"github.com/walcast/walcast/replication"
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
	// replay, when set, is what a resumed subscription's catch-up
	// delivers after the cursor it was given (nil: a gap).
	replay  func(after replication.Cursor) []string
	batch   int                  // changes the catch-up delivers between two waits (0: 1), as changes.Resume does 64
	resumed []replication.Cursor // the cursors SubscribeAfter was given
	// viewers are the viewers SetViewer was given, by sink; setViewerErr
	// is what it returns.
	viewers      map[changes.Sink]*changes.Viewer
	setViewerErr error
}

// SubscribeAfter subscribes like Subscribe and returns a catch-up that
// delivers f.replay(after) to the sink, one message per string, for
// every binding.
func (f *fakeChanges) SubscribeAfter(ctx context.Context, sink changes.Sink, bindings []changes.Binding, after replication.Cursor) ([]uint64, catchUp, error) {
	ids, err := f.Subscribe(ctx, sink, bindings)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumed = append(f.resumed, after)
	if f.replay == nil {
		return ids, fakeCatchUp{gap: &changes.Gap{After: after}}, err
	}
	return ids, fakeCatchUp{sink: sink, ids: ids, data: f.replay(after), batch: f.batch}, err
}

type fakeCatchUp struct {
	gap   *changes.Gap
	sink  changes.Sink
	ids   []uint64
	data  []string
	batch int
}

func (c fakeCatchUp) Gap() *changes.Gap { return c.gap }

func (c fakeCatchUp) Run(ctx context.Context, wait func(context.Context) error) error {
	for i, d := range c.data {
		if i%max(c.batch, 1) == 0 {
			if err := wait(ctx); err != nil {
				return err
			}
		}
		c.sink.DeliverChange(c.ids, []byte(d))
	}
	return nil
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

// Head is where a feed without a cursor starts: the fake has no stream.
func (f *fakeChanges) Head() replication.Cursor { return replication.Cursor{LSN: 0x10} }

// SetViewer records the viewer a refreshed token gave the sink.
func (f *fakeChanges) SetViewer(_ context.Context, sink changes.Sink, viewer *changes.Viewer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.viewers == nil {
		f.viewers = make(map[changes.Sink]*changes.Viewer)
	}
	f.viewers[sink] = viewer
	return f.setViewerErr
}
