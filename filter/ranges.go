package filter

import (
	"cmp"
	"math/rand/v2"
)

// bound is one end of the interval of values a group's lt, lte, gt and gte
// conditions on a column admit. It is a point of the column's order refined
// by side, so that strict and inclusive bounds compare as points: side -1
// is just below v (lt v), 0 is v itself (lte, gte, and a row's value), +1
// just above v (gt v). inf -1 or +1 is an open end, and v is then nil.
type bound struct {
	v    *value
	side int8
	inf  int8
}

// cmpBound orders bounds of one column type. It uses compare, the order
// the conditions themselves are evaluated in, so a value lies in an
// interval exactly when it satisfies the conditions the interval came from.
func cmpBound(t colType, a, b *bound) int {
	if a.inf != 0 || b.inf != 0 {
		return cmp.Compare(a.inf, b.inf)
	}
	if c := compare(t, a.v, b.v); c != 0 {
		return c
	}
	return cmp.Compare(a.side, b.side)
}

// rangeOf returns the interval of column col's values that satisfy every
// lt, lte, gt and gte condition of p on it (negated ones included: NOT
// x < v is x >= v for a non-NULL x, and NULL satisfies neither), and
// whether p has such a condition.
func rangeOf(p *Predicate, col int) (lo, hi bound, ok bool) {
	lo, hi = bound{inf: -1}, bound{inf: 1}
	for i := range p.conds {
		c := &p.conds[i]
		if c.col != col {
			continue
		}
		op := c.op
		if c.not {
			switch op {
			case OpLt:
				op = OpGte
			case OpLte:
				op = OpGt
			case OpGt:
				op = OpLte
			case OpGte:
				op = OpLt
			default:
				continue
			}
		}
		b := bound{v: &c.val}
		switch op {
		case OpGt, OpGte:
			if op == OpGt {
				b.side = 1
			}
			if cmpBound(c.typ, &b, &lo) > 0 {
				lo = b
			}
		case OpLt, OpLte:
			if op == OpLt {
				b.side = -1
			}
			if cmpBound(c.typ, &b, &hi) < 0 {
				hi = b
			}
		default:
			continue
		}
		ok = true
	}
	return lo, hi, ok
}

// Costs of anchoring a group by a range, in the unit of place: about the
// number of groups a change then evaluates. A range with both ends over a
// type without a count of values between them (floats, numerics, text,
// timestamps) is taken to hold as much as an in list of spanCost values; a
// range with one open end holds an unbounded share of the values, so it is
// taken only when the group has no eq or in condition.
const (
	spanCost     = 32
	oneSidedCost = 1 << 30
)

// rangeSpan is the number of values between lo and hi for integer and date
// columns (0 when none), and spanCost for other types and open ends.
func rangeSpan(t colType, lo, hi *bound) int {
	if lo.inf != 0 || hi.inf != 0 {
		return oneSidedCost
	}
	if t != tInt && t != tDate {
		return spanCost
	}
	a, b := lo.v.i, hi.v.i
	if lo.side > 0 {
		if a == 1<<63-1 {
			return 0
		}
		a++
	}
	if hi.side < 0 {
		if b == -1<<63 {
			return 0
		}
		b--
	}
	if b < a {
		return 0
	}
	if n := uint64(b) - uint64(a); n < spanCost {
		return int(n) + 1
	}
	return spanCost
}

// rangeIndex anchors groups by the interval of one column's values their
// ordering conditions admit: a change evaluates only the groups whose
// interval holds its value. The intervals are kept in a treap ordered by
// lower bound, each node knowing the highest upper bound below it, so a
// lookup visits O(log n) nodes per group found, and adding or removing a
// group costs O(log n) expected.
type rangeIndex struct {
	col  int
	typ  colType
	root *rangeNode
	n    int
	seq  uint64 // orders groups with equal lower bounds
}

type rangeNode struct {
	g           *group
	lo, hi      bound
	max         *bound // the highest hi in this subtree
	seq         uint64
	prio        uint64 // random, so no order of additions unbalances the tree
	left, right *rangeNode
}

func (rx *rangeIndex) less(a, b *rangeNode) bool {
	if c := cmpBound(rx.typ, &a.lo, &b.lo); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

// fix recomputes n.max from n and its children.
func (rx *rangeIndex) fix(n *rangeNode) {
	n.max = &n.hi
	if n.left != nil && cmpBound(rx.typ, n.left.max, n.max) > 0 {
		n.max = n.left.max
	}
	if n.right != nil && cmpBound(rx.typ, n.right.max, n.max) > 0 {
		n.max = n.right.max
	}
}

// add anchors g by [lo, hi].
func (rx *rangeIndex) add(g *group, lo, hi bound) *rangeNode {
	rx.seq++
	x := &rangeNode{g: g, lo: lo, hi: hi, seq: rx.seq, prio: rand.Uint64()}
	rx.root = rx.insert(rx.root, x)
	rx.n++
	return x
}

func (rx *rangeIndex) insert(n, x *rangeNode) *rangeNode {
	if n == nil {
		rx.fix(x)
		return x
	}
	if x.prio > n.prio {
		x.left, x.right = rx.split(n, x)
		rx.fix(x)
		return x
	}
	if rx.less(x, n) {
		n.left = rx.insert(n.left, x)
	} else {
		n.right = rx.insert(n.right, x)
	}
	rx.fix(n)
	return n
}

// split divides the tree n into the nodes before x and those after it.
func (rx *rangeIndex) split(n, x *rangeNode) (l, r *rangeNode) {
	if n == nil {
		return nil, nil
	}
	if rx.less(n, x) {
		n.right, r = rx.split(n.right, x)
		rx.fix(n)
		return n, r
	}
	l, n.left = rx.split(n.left, x)
	rx.fix(n)
	return l, n
}

// merge joins two trees, every node of a before every node of b.
func (rx *rangeIndex) merge(a, b *rangeNode) *rangeNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = rx.merge(a.right, b)
		rx.fix(a)
		return a
	}
	b.left = rx.merge(a, b.left)
	rx.fix(b)
	return b
}

// remove takes node x out of the index.
func (rx *rangeIndex) remove(x *rangeNode) {
	rx.root = rx.delete(rx.root, x)
	x.left, x.right, x.g = nil, nil, nil
	rx.n--
}

func (rx *rangeIndex) delete(n, x *rangeNode) *rangeNode {
	switch {
	case n == nil:
		return nil
	case n == x:
		return rx.merge(n.left, n.right)
	case rx.less(x, n):
		n.left = rx.delete(n.left, x)
	default:
		n.right = rx.delete(n.right, x)
	}
	rx.fix(n)
	return n
}

// each calls fn with every group of the subtree n whose interval holds q.
func (rx *rangeIndex) each(n *rangeNode, q *bound, fn func(*group)) {
	for n != nil && cmpBound(rx.typ, n.max, q) >= 0 {
		rx.each(n.left, q, fn)
		if cmpBound(rx.typ, &n.lo, q) > 0 {
			return // this node and those after it start above q
		}
		if cmpBound(rx.typ, &n.hi, q) >= 0 {
			fn(n.g)
		}
		n = n.right
	}
}

// overlaps counts the groups of the subtree n whose interval meets
// [lo, hi], stopping once the count reaches limit.
func (rx *rangeIndex) overlaps(n *rangeNode, lo, hi *bound, limit int) int {
	found := 0
	for n != nil && found < limit && cmpBound(rx.typ, n.max, lo) >= 0 {
		found += rx.overlaps(n.left, lo, hi, limit-found)
		if found >= limit || cmpBound(rx.typ, &n.lo, hi) > 0 {
			break
		}
		if cmpBound(rx.typ, &n.hi, lo) >= 0 {
			found++
		}
		n = n.right
	}
	return found
}
