package replication

import (
	"context"
	"errors"
	"testing"
)

// recorder is a Handler with every optional interface, recording calls.
type recorder struct{ calls []string }

func (r *recorder) HandleChange(context.Context, *Change) error {
	r.calls = append(r.calls, "change")
	return nil
}
func (r *recorder) HandleCommit(context.Context, Commit) error {
	r.calls = append(r.calls, "commit")
	return nil
}
func (r *recorder) HandleRelation(context.Context, *Relation) error {
	r.calls = append(r.calls, "relation")
	return nil
}
func (r *recorder) HandleStreaming(_ context.Context, on bool) {
	r.calls = append(r.calls, map[bool]string{true: "live", false: "down"}[on])
}
func (r *recorder) Flush(context.Context) error { r.calls = append(r.calls, "flush"); return nil }
func (r *recorder) HandleMessage(_ context.Context, m *LogicalMessage) error {
	r.calls = append(r.calls, "message "+m.Prefix)
	return nil
}

// plain has only the required methods.
type plain struct{ recorder }

func (p *plain) asHandler() Handler {
	return struct {
		Handler
	}{&p.recorder}
}

type messages struct {
	got []string
	err error
}

func (m *messages) HandleMessage(_ context.Context, msg *LogicalMessage) error {
	m.got = append(m.got, msg.Prefix)
	return m.err
}

func TestWithMessagesForwardsAll(t *testing.T) {
	ctx := context.Background()
	h, m := &recorder{}, &messages{}
	w := WithMessages(h, m)
	for _, ok := range []bool{
		implements[Flusher](w), implements[RelationHandler](w), implements[StateHandler](w), implements[MessageHandler](w),
	} {
		if !ok {
			t.Fatalf("%T lacks an interface of the handler it wraps", w)
		}
	}
	w.HandleChange(ctx, &Change{})
	w.HandleCommit(ctx, Commit{})
	w.(RelationHandler).HandleRelation(ctx, &Relation{})
	w.(StateHandler).HandleStreaming(ctx, true)
	w.(Flusher).Flush(ctx)
	w.(MessageHandler).HandleMessage(ctx, &LogicalMessage{Prefix: "walcast.broadcast"})
	want := "[change commit relation live flush message walcast.broadcast]"
	if got := fmtSlice(h.calls); got != want {
		t.Errorf("wrapped handler got %s, want %s", got, want)
	}
	if got := fmtSlice(m.got); got != "[walcast.broadcast]" {
		t.Errorf("message handler got %s", got)
	}

	m.err = errors.New("boom")
	if err := w.(MessageHandler).HandleMessage(ctx, &LogicalMessage{}); !errors.Is(err, m.err) {
		t.Errorf("HandleMessage error = %v, want boom", err)
	}
}

// A handler without Flush must not gain one: it would change when the
// stream acknowledges.
func TestWithMessagesNoFlusher(t *testing.T) {
	ctx := context.Background()
	p := &plain{}
	w := WithMessages(p.asHandler(), &messages{})
	if implements[Flusher](w) {
		t.Error("wrapper of a handler without Flush implements Flusher")
	}
	// The optional callbacks are harmless no-ops.
	if err := w.(RelationHandler).HandleRelation(ctx, &Relation{}); err != nil {
		t.Error(err)
	}
	w.(StateHandler).HandleStreaming(ctx, true)
	w.(MessageHandler).HandleMessage(ctx, &LogicalMessage{})
	if len(p.calls) != 0 {
		t.Errorf("calls %v reached methods the handler does not expose", p.calls)
	}
}

func implements[I any](v any) bool { _, ok := v.(I); return ok }

func fmtSlice(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
