package tail

import (
	"bufio"
	"context"
	"io"
	"time"

	"github.com/walcast/walcast/filter"
	"github.com/walcast/walcast/replication"
)

// maxLatency bounds how long a printed change may sit in the buffer while
// the stream is busy.
const maxLatency = 100 * time.Millisecond

// Printer is a replication.Handler that writes matching changes to w.
type Printer struct {
	w         *bufio.Writer
	index     *filter.Index
	opt       replication.EncodeOptions
	limit     int
	printed   int
	line      []byte
	matches   []uint64
	lastFlush time.Time
}

// NewPrinter prints changes that match at least one subscription of index
// (all changes when index is nil), stopping the stream after limit changes
// (no limit when limit <= 0).
func NewPrinter(w io.Writer, index *filter.Index, limit int, opt replication.EncodeOptions) *Printer {
	return &Printer{w: bufio.NewWriterSize(w, 64<<10), index: index, opt: opt, limit: limit, lastFlush: time.Now()}
}

// Printed returns the number of changes printed so far.
func (p *Printer) Printed() int { return p.printed }

// HandleRelation recompiles the subscriptions on a new or changed relation.
func (p *Printer) HandleRelation(_ context.Context, rel *replication.Relation) error {
	if p.index != nil {
		p.index.Bind(rel)
	}
	return nil
}

// HandleChange prints ch if it matches.
func (p *Printer) HandleChange(_ context.Context, ch *replication.Change) error {
	if p.index != nil {
		p.matches = p.index.Match(ch, p.matches[:0])
		if len(p.matches) == 0 {
			return nil
		}
	}
	p.line = replication.AppendChange(p.line[:0], ch, p.opt)
	p.line = append(p.line, '\n')
	if _, err := p.w.Write(p.line); err != nil {
		return err
	}
	p.printed++
	if p.limit > 0 && p.printed >= p.limit {
		if err := p.w.Flush(); err != nil {
			return err
		}
		return replication.ErrStop
	}
	return nil
}

// HandleCommit bounds the output latency under a steady stream of changes.
func (p *Printer) HandleCommit(ctx context.Context, _ replication.Commit) error {
	if p.w.Buffered() > 0 && time.Since(p.lastFlush) >= maxLatency {
		return p.Flush(ctx)
	}
	return nil
}

// Flush writes out buffered lines.
func (p *Printer) Flush(context.Context) error {
	p.lastFlush = time.Now()
	return p.w.Flush()
}
