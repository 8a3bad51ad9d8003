package changes

import (
	"context"
	"testing"

	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// BenchmarkReplayWindow replays a window of 100,000 kept changes (three
// small columns each, as memInsert makes them) to one subscriber without a
// filter: the dispatcher's share of a client resuming after a long
// outage, matching and encoding each change once more. The socket's share
// is the fan-out benchmark's.
func BenchmarkReplayWindow(b *testing.B) {
	const n = 100_000
	d := New(Config{Retention: &Retention{MaxBytes: 1 << 30}})
	d.HandleRelation(context.Background(), memItems)
	d.HandleStart(context.Background(), 1)
	for i := range n {
		ch := memInsert(i, i%10)
		ch.Cursor = replication.Cursor{LSN: replication.LSN(0x1000 + i), Ordinal: 1}
		d.HandleChange(context.Background(), ch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink := &countSink{}
		ids, e, err := registerResuming(d, sink, Binding{Event: "*", Schema: "public", Table: "items"})
		if err != nil {
			b.Fatal(err)
		}
		r := &Resume{d: d, e: e}
		r.next, r.gap = d.win.find(replication.Cursor{LSN: 0x1000 - 1})
		if r.gap != nil {
			b.Fatal(r.gap)
		}
		if err := r.Run(context.Background(), func(context.Context) error { return nil }); err != nil {
			b.Fatal(err)
		}
		if sink.calls != n || len(ids) != 1 {
			b.Fatalf("replayed %d changes, want %d", sink.calls, n)
		}
		d.Unsubscribe(sink)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/replay")
}

// registerResuming is registerBindings for a subscription that resumes.
func registerResuming(d *Dispatcher, sink Sink, b Binding) ([]uint64, *sinkEntry, error) {
	s, err := parseBinding(b, filter.Limits{})
	if err != nil {
		return nil, nil, err
	}
	ids := []uint64{d.lastID.Add(1)}
	e := d.register(sink, ids, []spec{s}, []error{nil}, nil, &replication.Cursor{})
	return ids, e, nil
}

// A restarted node reads its window again from the slot: those changes
// come through the live path, and a client that resumed meanwhile after a
// later cursor must not get them twice.
func TestLiveSkipsWhatTheResumedClientHas(t *testing.T) {
	d := New(Config{})
	ctx := context.Background()
	d.HandleRelation(ctx, memItems)
	d.HandleStart(ctx, 0x1000)
	sink := &recorder{}
	ids, e, err := registerResuming(d, sink, Binding{Event: "*", Schema: "public", Table: "items"})
	if err != nil || len(ids) != 1 {
		t.Fatal(err)
	}
	e.after = replication.Cursor{LSN: 0x2000, Ordinal: 1}
	r := &Resume{d: d, e: e}
	r.next, r.gap = d.win.find(e.after)
	if r.gap != nil {
		t.Fatal(r.gap)
	}
	if err := r.Run(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, lsn := range []replication.LSN{0x1500, 0x2000, 0x2500} {
		ch := memInsert(int(lsn), 1)
		ch.Cursor = replication.Cursor{LSN: lsn, Ordinal: 1}
		d.HandleChange(ctx, ch)
	}
	got := sink.deliveries(t)
	if len(got) != 1 || decode(t, got[0].data).Cursor != (replication.Cursor{LSN: 0x2500, Ordinal: 1}).String() {
		t.Errorf("resumed sink got %d changes, want only the one after its cursor", len(got))
	}
}
