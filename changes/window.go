package changes

import (
	"sync"
	"time"

	"github.com/walcast/walcast/replication"
)

// Retention is how much of the recent stream a Dispatcher keeps for sinks
// that resume after a cursor. Both bounds apply; a zero MaxBytes keeps
// nothing (every resume is a gap).
type Retention struct {
	MaxBytes int           // bytes of retained changes (their row values and the bookkeeping)
	MaxAge   time.Duration // changes committed longer ago than this leave (0: no age bound)
}

// Defaults of Retention when Config.Retention is nil.
const (
	DefaultRetainBytes = 64 << 20
	DefaultRetainAge   = 10 * time.Minute
)

// window keeps the most recent changes, in stream order, each a deep copy
// with its sequence number. Every change the dispatcher handles gets the
// next sequence number, retained or not; the window holds an unbroken run
// of them ending at the newest, and floor says what may be missing before
// it. The replication goroutine appends and evicts; replays read under the
// read lock.
type window struct {
	max Retention

	mu      sync.RWMutex
	entries []retained // entries[head:] are retained, oldest first
	head    int
	bytes   int
	nextSeq uint64 // the sequence number of the next change
	// floor is the newest cursor the window may be missing: a resume
	// after an older cursor may have lost changes. Before the first
	// change, and when nothing is known, floorKnown is false.
	floor      replication.Cursor
	floorKnown bool
	newest     replication.Cursor // of the last change added, kept or not
	// begun is closed once the stream started or a change came: until
	// then the window cannot tell whether a cursor lies in it.
	begun    chan struct{}
	hasBegun bool

	// Kept changes are copied into slabs, carved in order and never
	// reused: a slab is collected once the last change in it has left,
	// and keeping a change costs no allocation of its own.
	byteBuf  []byte
	valueBuf []replication.Value
}

// Slab sizes: a change bigger than a slab gets one of its own size.
const (
	byteSlab  = 256 << 10
	valueSlab = 4096
)

// retained is one kept change.
type retained struct {
	seq  uint64
	ch   replication.Change // a copy: its Values point into one buffer of its own
	size int
}

// overhead is what a retained change costs beyond its values: the entry,
// the copied rows' Value slices and the allocator's rounding.
const overhead = 160

func newWindow(r Retention) *window { return &window{max: r, begun: make(chan struct{})} }

// beginLocked marks the window as knowing where the stream starts.
func (w *window) beginLocked() {
	if !w.hasBegun {
		w.hasBegun = true
		close(w.begun)
	}
}

// started reports whether the stream started (or a change came), so
// that find can tell a kept cursor from a lost one.
func (w *window) started() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.hasBegun
}

// start records where a (re)started stream resumes: no change with a
// cursor before it will be seen again, so resuming before it is a gap.
func (w *window) start(from replication.LSN) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.beginLocked()
	if len(w.entries) > w.head {
		return // changes kept from this process's earlier connections remain valid
	}
	c := replication.Cursor{LSN: from}
	if !w.floorKnown || w.floor.Less(c) {
		w.floor, w.floorKnown = c, true
	}
}

// add assigns ch the next sequence number and keeps a copy of it when the
// window has room for one. It returns the sequence number.
func (w *window) add(ch *replication.Change) uint64 {
	size := overhead
	for _, v := range ch.New {
		size += len(v.Data)
	}
	for _, v := range ch.Old {
		size += len(v.Data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.beginLocked()
	seq := w.nextSeq
	w.nextSeq++
	w.newest = ch.Cursor
	if size > w.max.MaxBytes {
		// Too big to keep (or retention off): whoever resumes before it
		// must learn that it is lost.
		w.clearLocked(ch.Cursor)
		return seq
	}
	w.evictLocked(w.max.MaxBytes-size, ch.CommitTime)
	w.entries = append(w.entries, retained{seq: seq, ch: w.copyChange(ch), size: size})
	w.bytes += size
	return seq
}

// evictLocked drops the oldest changes until at most limit bytes are kept
// and none committed more than MaxAge before now.
func (w *window) evictLocked(limit int, now time.Time) {
	for w.head < len(w.entries) {
		e := &w.entries[w.head]
		old := w.max.MaxAge > 0 && now.Sub(e.ch.CommitTime) > w.max.MaxAge
		if w.bytes <= limit && !old {
			break
		}
		w.bytes -= e.size
		w.floor, w.floorKnown = e.ch.Cursor, true
		*e = retained{}
		w.head++
	}
	// Compact once the dropped prefix is the larger part.
	if w.head > 0 && 2*w.head >= len(w.entries) {
		n := copy(w.entries, w.entries[w.head:])
		clear(w.entries[n:])
		w.entries, w.head = w.entries[:n], 0
	}
}

// clearLocked forgets every kept change: changes up to and including
// newest can no longer be replayed.
func (w *window) clearLocked(newest replication.Cursor) {
	clear(w.entries)
	w.entries, w.head, w.bytes = w.entries[:0], 0, 0
	w.floor, w.floorKnown = newest, true
}

// reset forgets every kept change, as clearLocked.
func (w *window) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	newest := w.floor
	if n := len(w.entries); n > w.head {
		newest = w.entries[n-1].ch.Cursor
	}
	w.clearLocked(newest)
}

// expire applies the age bound at now, for a stream whose tables are quiet.
func (w *window) expire(now time.Time) {
	if w.max.MaxAge <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.evictLocked(w.max.MaxBytes, now)
}

// position is the cursor a client that has seen everything so far would
// resume after: the newest change's, or where the stream started.
func (w *window) position() replication.Cursor {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.floor.Less(w.newest) {
		return w.newest
	}
	return w.floor
}

// oldest returns the commit LSN of the oldest kept change.
func (w *window) oldest() (replication.LSN, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.head == len(w.entries) {
		return 0, false
	}
	return w.entries[w.head].ch.Cursor.LSN, true
}

// Gap reports that a resume cursor lies before what the window keeps:
// changes after it may be lost.
type Gap struct {
	After  replication.Cursor // the cursor asked for
	Oldest replication.Cursor // the oldest cursor a resume can start after (the newest one the window may miss)
}

func (g *Gap) Error() string {
	return "changes after cursor " + g.After.String() + " are no longer retained (the window starts after " + g.Oldest.String() + "): refetch, then resume from a newer cursor"
}

// find returns the sequence number of the first kept change after c, or a
// Gap when changes after c may have been lost. With nothing kept after c
// it returns nextSeq.
func (w *window) find(c replication.Cursor) (uint64, *Gap) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.floorKnown || c.Less(w.floor) {
		return 0, &Gap{After: c, Oldest: w.floor}
	}
	es := w.entries[w.head:]
	lo, hi := 0, len(es)
	for lo < hi {
		m := (lo + hi) / 2
		if c.Less(es[m].ch.Cursor) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == len(es) {
		return w.nextSeq, nil
	}
	return es[lo].seq, nil
}

// read appends to dst up to max kept changes from sequence number from
// on (shallow copies: their values are never modified) and returns the
// next sequence number to read. A Gap means from was evicted meanwhile.
func (w *window) read(dst []retained, from uint64, max int) ([]retained, uint64, *Gap) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	es := w.entries[w.head:]
	if from >= w.nextSeq {
		return dst, from, nil
	}
	if len(es) == 0 || from < es[0].seq {
		return dst, from, &Gap{Oldest: w.floor}
	}
	i := int(from - es[0].seq)
	end := min(len(es), i+max)
	dst = append(dst, es[i:end]...)
	if end == len(es) {
		return dst, w.nextSeq, nil
	}
	return dst, es[end].seq, nil
}

// goLive makes e live from sequence number next on, if next is the
// newest: no change can be added between the check and the switch.
func (w *window) goLive(e *sinkEntry, next uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if next != w.nextSeq {
		return false
	}
	e.liveFrom.Store(next)
	return true
}

// liveNow makes e live from the next change on.
func (w *window) liveNow(e *sinkEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.liveFrom.Store(w.nextSeq)
}

// copyChange deep-copies ch into the slabs: the row values, and the
// Relation by pointer (relations are immutable once announced).
func (w *window) copyChange(ch *replication.Change) replication.Change {
	c := *ch
	n := 0
	for _, v := range ch.New {
		n += len(v.Data)
	}
	for _, v := range ch.Old {
		n += len(v.Data)
	}
	if cap(w.byteBuf)-len(w.byteBuf) < n {
		w.byteBuf = make([]byte, 0, max(byteSlab, n))
	}
	if k := len(ch.New) + len(ch.Old); cap(w.valueBuf)-len(w.valueBuf) < k {
		w.valueBuf = make([]replication.Value, 0, max(valueSlab, k))
	}
	copyRow := func(src []replication.Value) []replication.Value {
		if src == nil {
			return nil
		}
		start := len(w.valueBuf)
		for _, v := range src {
			d := replication.Value{State: v.State}
			if v.Data != nil {
				at := len(w.byteBuf)
				w.byteBuf = append(w.byteBuf, v.Data...)
				d.Data = w.byteBuf[at:len(w.byteBuf):len(w.byteBuf)]
			}
			w.valueBuf = append(w.valueBuf, d)
		}
		return w.valueBuf[start:len(w.valueBuf):len(w.valueBuf)]
	}
	c.New = copyRow(ch.New)
	c.Old = copyRow(ch.Old)
	return c
}
