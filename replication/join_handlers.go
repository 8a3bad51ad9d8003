package replication

import "context"

// WithMessages returns a Handler that hands changes, commits, relations and
// stream states to h, and pg_logical_emit_message records to m (after h,
// when h takes them too). It lets one stream feed two consumers, such as
// the postgres_changes dispatcher and the broadcast server.
//
// The result implements Flusher exactly when h does: a Flusher changes when
// the stream acknowledges, so it must not appear where h had none. The
// relation and state callbacks are forwarded when h has them and are no-ops
// otherwise, which the stream cannot tell from their absence.
func WithMessages(h Handler, m MessageHandler) Handler {
	w := withMessages{h: h, m: m}
	w.relH, _ = h.(RelationHandler)
	w.stateH, _ = h.(StateHandler)
	w.msgH, _ = h.(MessageHandler)
	w.startH, _ = h.(StartHandler)
	w.keeper, _ = h.(Retainer)
	if f, ok := h.(Flusher); ok {
		return &withMessagesFlusher{withMessages: w, f: f}
	}
	return &w
}

type withMessages struct {
	h      Handler
	m      MessageHandler
	relH   RelationHandler
	stateH StateHandler
	msgH   MessageHandler
	startH StartHandler
	keeper Retainer
}

func (w *withMessages) HandleStart(ctx context.Context, from LSN) {
	if w.startH != nil {
		w.startH.HandleStart(ctx, from)
	}
}

// RetainFrom forwards h's limit; without a Retainer h keeps nothing.
func (w *withMessages) RetainFrom() (LSN, bool) {
	if w.keeper == nil {
		return 0, false
	}
	return w.keeper.RetainFrom()
}

func (w *withMessages) HandleChange(ctx context.Context, ch *Change) error {
	return w.h.HandleChange(ctx, ch)
}

func (w *withMessages) HandleCommit(ctx context.Context, c Commit) error {
	return w.h.HandleCommit(ctx, c)
}

func (w *withMessages) HandleRelation(ctx context.Context, rel *Relation) error {
	if w.relH == nil {
		return nil
	}
	return w.relH.HandleRelation(ctx, rel)
}

func (w *withMessages) HandleStreaming(ctx context.Context, streaming bool) {
	if w.stateH != nil {
		w.stateH.HandleStreaming(ctx, streaming)
	}
}

func (w *withMessages) HandleMessage(ctx context.Context, msg *LogicalMessage) error {
	if w.msgH != nil {
		if err := w.msgH.HandleMessage(ctx, msg); err != nil {
			return err
		}
	}
	return w.m.HandleMessage(ctx, msg)
}

type withMessagesFlusher struct {
	withMessages
	f Flusher
}

func (w *withMessagesFlusher) Flush(ctx context.Context) error { return w.f.Flush(ctx) }
