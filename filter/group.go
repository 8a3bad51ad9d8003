package filter

import (
	"slices"

	"github.com/walcast/walcast/replication"
)

// relIndex holds the subscriptions bound to one relation, grouped by
// predicate: subscriptions whose filters mean the same share one group,
// so a change evaluates each distinct filter once.
type relIndex struct {
	rel    *replication.Relation
	groups map[string]*group // by Predicate.key
	hashed []*colIndex       // columns that anchor groups by value
	ranged []*rangeIndex     // columns that anchor groups by interval
	scan   []*group          // groups without an eq, in or range condition
}

// colIndex finds the groups whose anchor condition (an eq, an in, or a
// not.isdistinct) on one column accepts a value, by the value's key.
type colIndex struct {
	col  int
	typ  colType
	keys map[string][]*group
}

type member struct {
	id     uint64
	events EventMask
}

type group struct {
	pred    *Predicate
	members []member
	// pos locates members once a group is large, so that removing one of
	// many identical subscriptions stays O(1).
	pos   map[uint64]int
	kinds [replication.Truncate + 1]int32 // members wanting each kind

	// A group is anchored by value keys (anchor, keys), by an interval
	// (ranged, node), or neither and scanned (scanPos).
	anchor  *colIndex
	keys    []string
	ranged  *rangeIndex
	node    *rangeNode
	scanPos int // its position in relIndex.scan
}

const posMapMin = 32

func newRelIndex(rel *replication.Relation) *relIndex {
	return &relIndex{rel: rel, groups: make(map[string]*group)}
}

// add puts a subscription with its predicate (compiled against ri.rel) in
// its group and returns the group.
func (ri *relIndex) add(id uint64, events EventMask, pred *Predicate) *group {
	g := ri.groups[pred.key]
	if g == nil {
		g = &group{pred: pred}
		ri.groups[pred.key] = g
		ri.place(g)
	}
	g.members = append(g.members, member{id: id, events: events})
	switch {
	case g.pos != nil:
		g.pos[id] = len(g.members) - 1
	case len(g.members) > posMapMin:
		g.pos = make(map[uint64]int, len(g.members))
		for i, m := range g.members {
			g.pos[m.id] = i
		}
	}
	for k := range g.kinds {
		if events.Has(replication.Kind(k)) {
			g.kinds[k]++
		}
	}
	return g
}

// remove takes a subscription out of g, and g out of the index once empty.
func (ri *relIndex) remove(g *group, id uint64) {
	i := -1
	if g.pos != nil {
		if p, ok := g.pos[id]; ok {
			i = p
			delete(g.pos, id)
		}
	} else {
		i = slices.IndexFunc(g.members, func(m member) bool { return m.id == id })
	}
	if i < 0 {
		return
	}
	for k := range g.kinds {
		if g.members[i].events.Has(replication.Kind(k)) {
			g.kinds[k]--
		}
	}
	last := len(g.members) - 1
	g.members[i] = g.members[last]
	g.members = g.members[:last]
	if g.pos != nil && i != last {
		g.pos[g.members[i].id] = i
	}
	if len(g.members) == 0 {
		ri.unplace(g)
		delete(ri.groups, g.pred.key)
	}
}

// place anchors a new group by the condition that should make a change
// evaluate it least often: the eq, in or not.isdistinct condition whose
// keys are fewest and least crowded now, so that filters like
// room=eq.5,user=eq.X spread over the user keys instead of piling up under
// room 5, or the interval its lt, lte, gt and gte conditions on one column
// admit, when that holds fewer values and overlaps fewer groups' intervals
// (sub=gt.4,sub=lt.6 holds one integer, fewer than the seven keys of
// region=in.(0,1,2,3,4,5,6)). An interval open at one end is used only
// when there is nothing else. Other groups are scanned.
func (ri *relIndex) place(g *group) {
	const scanCost = 1<<31 - 1
	hashAt, bestCost := -1, scanCost
	var hashKeys []string
	for i := range g.pred.conds {
		c := &g.pred.conds[i]
		keys := anchorKeys(c)
		if keys == nil {
			continue
		}
		ci := ri.column(c.col, false)
		cost := 0
		for _, k := range keys {
			cost++
			if ci != nil {
				cost += len(ci.keys[k])
			}
		}
		if cost < bestCost {
			hashAt, bestCost, hashKeys = i, cost, keys
		}
	}
	rangeCol := -1
	var rangeLo, rangeHi bound
	for i := range g.pred.conds {
		c := &g.pred.conds[i]
		if !orders(c) || slices.ContainsFunc(g.pred.conds[:i], func(d cond) bool { return d.col == c.col && orders(&d) }) {
			continue // not a range, or a column already tried
		}
		lo, hi, _ := rangeOf(g.pred, c.col)
		cost := rangeSpan(c.typ, &lo, &hi)
		if cost >= bestCost {
			continue
		}
		if rx := ri.rangeColumn(c.col, false); rx != nil && cost < oneSidedCost {
			cost += rx.overlaps(rx.root, &lo, &hi, bestCost-cost)
		}
		if cost < bestCost {
			rangeCol, bestCost, rangeLo, rangeHi = c.col, cost, lo, hi
		}
	}
	switch {
	case rangeCol >= 0:
		rx := ri.rangeColumn(rangeCol, true)
		g.ranged, g.node = rx, rx.add(g, rangeLo, rangeHi)
	case hashAt >= 0:
		ci := ri.column(g.pred.conds[hashAt].col, true)
		g.anchor, g.keys = ci, hashKeys
		for _, k := range hashKeys {
			ci.keys[k] = append(ci.keys[k], g)
		}
	default:
		g.scanPos = len(ri.scan)
		ri.scan = append(ri.scan, g)
	}
}

// orders reports whether c bounds its column's values: lt, lte, gt or gte,
// negated or not.
func orders(c *cond) bool {
	switch c.op {
	case OpLt, OpLte, OpGt, OpGte:
		return true
	}
	return false
}

func (ri *relIndex) unplace(g *group) {
	switch {
	case g.ranged != nil:
		rx := g.ranged
		rx.remove(g.node)
		g.ranged, g.node = nil, nil
		if rx.n == 0 {
			ri.ranged = slices.DeleteFunc(ri.ranged, func(r *rangeIndex) bool { return r == rx })
		}
	case g.anchor == nil:
		last := len(ri.scan) - 1
		moved := ri.scan[last]
		ri.scan[g.scanPos] = moved
		moved.scanPos = g.scanPos
		ri.scan[last] = nil
		ri.scan = ri.scan[:last]
	default:
		ri.unhash(g)
	}
}

func (ri *relIndex) unhash(g *group) {
	ci := g.anchor
	for _, k := range g.keys {
		gs := ci.keys[k]
		if i := slices.Index(gs, g); i >= 0 {
			gs[i] = gs[len(gs)-1]
			gs[len(gs)-1] = nil
			gs = gs[:len(gs)-1]
		}
		if len(gs) == 0 {
			delete(ci.keys, k)
		} else {
			ci.keys[k] = gs
		}
	}
	if len(ci.keys) == 0 {
		ri.hashed = slices.DeleteFunc(ri.hashed, func(c *colIndex) bool { return c == ci })
	}
}

// anchorKeys returns the value keys under which a row can satisfy c, or
// nil when c is not an equality that can be looked up.
func anchorKeys(c *cond) []string {
	switch {
	case c.op == OpEq && !c.not, c.op == OpIsDistinct && c.not:
		return []string{string(appendKey(nil, c.typ, &c.val))}
	case c.op == OpIn && !c.not && len(c.list) > 0:
		keys := make([]string, len(c.list))
		for i := range c.list {
			keys[i] = string(appendKey(nil, c.typ, &c.list[i]))
		}
		return keys
	}
	return nil
}

func (ri *relIndex) column(col int, create bool) *colIndex {
	for _, ci := range ri.hashed {
		if ci.col == col {
			return ci
		}
	}
	if !create {
		return nil
	}
	ci := &colIndex{col: col, typ: typeOf(&ri.rel.Columns[col]).typ, keys: make(map[string][]*group)}
	ri.hashed = append(ri.hashed, ci)
	return ci
}

func (ri *relIndex) rangeColumn(col int, create bool) *rangeIndex {
	for _, rx := range ri.ranged {
		if rx.col == col {
			return rx
		}
	}
	if !create {
		return nil
	}
	rx := &rangeIndex{col: col, typ: typeOf(&ri.rel.Columns[col]).typ}
	ri.ranged = append(ri.ranged, rx)
	return rx
}

// candidates calls fn with every group that can accept row: those anchored
// under its values' keys, those whose interval holds its value, and the
// scanned ones. A NULL, unknown or unparsable value satisfies no anchoring
// condition, so it finds no group by it.
func (ri *relIndex) candidates(rv *rowView, fn func(*group)) {
	var scratch [keyScratch]byte
	for _, ci := range ri.hashed {
		x, ok := rv.parsed(ci.col, ci.typ)
		if !ok {
			continue
		}
		for _, g := range ci.keys[string(appendKey(scratch[:0], ci.typ, &x))] {
			fn(g)
		}
	}
	for _, rx := range ri.ranged {
		x, ok := rv.parsed(rx.col, rx.typ)
		if !ok {
			continue
		}
		rx.each(rx.root, &bound{v: &x}, fn)
	}
	for _, g := range ri.scan {
		fn(g)
	}
}

// parsed returns column col's value parsed as type t; ok is false when the
// row does not carry it, it is NULL, or it does not parse.
func (rv *rowView) parsed(col int, t colType) (x value, ok bool) {
	v := rv.value(col)
	if v == nil || v.State != replication.ValueText {
		return x, false
	}
	return parseValue(t, v.Data)
}

// match appends the subscriptions of ri whose filter accepts row.
func (ri *relIndex) match(kind replication.Kind, rv *rowView, dst []uint64) []uint64 {
	ri.candidates(rv, func(g *group) {
		if g.kinds[kind] > 0 && g.pred.match(rv) {
			dst = g.appendMembers(dst, kind)
		}
	})
	return dst
}

func (g *group) appendMembers(dst []uint64, kind replication.Kind) []uint64 {
	for _, m := range g.members {
		if m.events.Has(kind) {
			dst = append(dst, m.id)
		}
	}
	return dst
}

// sameShape reports whether filters compiled against a hold for b: same
// relation, names and column types.
func sameShape(a, b *replication.Relation) bool {
	if a.ID != b.ID || a.Schema != b.Schema || a.Table != b.Table || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		x, y := &a.Columns[i], &b.Columns[i]
		if x.Name != y.Name || x.TypeOID != y.TypeOID || x.Codec != y.Codec {
			return false
		}
	}
	return true
}
