package filter

import (
	"io"
	"time"
	"unicode/utf8"

	"github.com/walcast/walcast/replication"
)

// MatchBudget is Match with a CPU budget per group of subscriptions sharing
// a filter: a group whose evaluation on ch takes longer than budget is not
// matched, and the IDs of all its members (whatever events they asked for)
// are appended to over instead, for the caller to remove. budget <= 0 means
// no budget.
//
// Only filters with a like, ilike, match or imatch condition are timed: the
// others cost a parse of the value at most. Their evaluation stops at the
// first such condition that ends past the budget, and a match or imatch on a
// large value stops within about a millisecond of it. A group over budget
// is evaluated once more and reported only if it overruns again, since the
// measure is wall time and a stall of the process looks the same: an
// expensive group costs a little more than twice budget, once.
func (ix *Index) MatchBudget(ch *replication.Change, dst, over []uint64, budget time.Duration) ([]uint64, []uint64) {
	if budget <= 0 || ch == nil || ch.Kind == replication.Truncate {
		return ix.Match(ch, dst), over
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rv, ok := viewOf(ch)
	if !ok || ch.Relation == nil {
		return dst, over
	}
	ri := ix.rels[ch.Relation.ID]
	if ri == nil || (ri.rel != ch.Relation && !sameShape(ri.rel, ch.Relation)) {
		return dst, over
	}
	lim := ix.limitPool(budget)
	defer ix.putLimit(lim)
	rv.limit = lim
	return ri.matchBudget(ch.Kind, &rv, dst, over)
}

// evalLimit is the deadline of the group being evaluated.
type evalLimit struct {
	budget   time.Duration
	deadline time.Time
	over     bool // the evaluation was cut short or ended past deadline
	reader   budgetReader
}

func (l *evalLimit) start() {
	l.deadline = time.Now().Add(l.budget)
	l.over = false
}

// expired reports whether the deadline has passed, remembering it.
func (l *evalLimit) expired() bool {
	if !l.over && time.Now().After(l.deadline) {
		l.over = true
	}
	return l.over
}

// limitPool returns an evalLimit for one MatchBudget call. Concurrent calls
// each need their own; the common single caller reuses one.
func (ix *Index) limitPool(budget time.Duration) *evalLimit {
	l := ix.spareLimit.Swap(nil)
	if l == nil {
		l = new(evalLimit)
	}
	l.budget = budget
	return l
}

func (ix *Index) putLimit(l *evalLimit) {
	l.reader.s = nil
	ix.spareLimit.Store(l)
}

func (ri *relIndex) matchBudget(kind replication.Kind, rv *rowView, dst, over []uint64) ([]uint64, []uint64) {
	eval := func(g *group) {
		if g.kinds[kind] == 0 {
			return
		}
		if !g.pred.costly {
			if g.pred.match(rv) {
				dst = g.appendMembers(dst, kind)
			}
			return
		}
		rv.limit.start()
		ok := g.pred.match(rv)
		if rv.limit.expired() {
			// A stall (the process descheduled, a collection) looks the
			// same as a costly filter: only a second overrun in a row
			// counts. A costly filter thus costs twice the budget, once.
			rv.limit.start()
			ok = g.pred.match(rv)
		}
		if rv.limit.expired() {
			for _, m := range g.members {
				over = append(over, m.id)
			}
			return
		}
		if ok {
			dst = g.appendMembers(dst, kind)
		}
	}
	ri.candidates(rv, eval)
	return dst, over
}

// regexpDirectCost is the size (value bytes × program instructions) below
// which match and imatch run on the value directly even under a budget: a
// few milliseconds at worst.
const regexpDirectCost = 1 << 18

// budgetReader feeds a value to the regexp engine and ends it early, as if
// the value ended, once the deadline has passed; the result is then
// discarded with the group.
type budgetReader struct {
	s     []byte
	i     int
	next  int // position of the next clock check
	every int
	lim   *evalLimit
}

func (r *budgetReader) ReadRune() (rune, int, error) {
	if r.i >= len(r.s) {
		return 0, 0, io.EOF
	}
	if r.i >= r.next {
		r.next = r.i + r.every
		if r.lim.expired() {
			return 0, 0, io.EOF
		}
	}
	if c := r.s[r.i]; c < utf8.RuneSelf {
		r.i++
		return rune(c), 1, nil
	}
	c, n := utf8.DecodeRune(r.s[r.i:])
	r.i += n
	return c, n, nil
}

// matchRegexp runs c's regular expression on data, under rv's budget when
// the value is large enough for it to matter.
func (c *cond) matchRegexp(rv *rowView, data []byte) bool {
	lim := rv.limit
	if lim == nil || len(data)*c.reInsts <= regexpDirectCost {
		return c.re.Match(data)
	}
	r := &lim.reader
	// Check the clock about every 64k instruction steps: well under a
	// millisecond of the engine's worst case.
	*r = budgetReader{s: data, every: max(16, (1<<16)/c.reInsts), lim: lim}
	return c.re.MatchReader(r)
}
