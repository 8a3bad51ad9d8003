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
	scan   []*group          // groups without an eq or in condition
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

	anchor  *colIndex // nil when the group is scanned
	keys    []string  // its keys in anchor
	scanPos int       // its position in relIndex.scan
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

// place indexes a new group under the value keys of one of its equality
// conditions, choosing the one whose buckets are smallest now, so that
// filters like room=eq.5,user=eq.X spread over the user keys instead of
// piling up under room 5. Groups without such a condition are scanned.
func (ri *relIndex) place(g *group) {
	best, bestCost := -1, 0
	var bestKeys []string
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
		if best < 0 || cost < bestCost {
			best, bestCost, bestKeys = i, cost, keys
		}
	}
	if best < 0 {
		g.scanPos = len(ri.scan)
		ri.scan = append(ri.scan, g)
		return
	}
	ci := ri.column(g.pred.conds[best].col, true)
	g.anchor, g.keys = ci, bestKeys
	for _, k := range bestKeys {
		ci.keys[k] = append(ci.keys[k], g)
	}
}

func (ri *relIndex) unplace(g *group) {
	if g.anchor == nil {
		last := len(ri.scan) - 1
		moved := ri.scan[last]
		ri.scan[g.scanPos] = moved
		moved.scanPos = g.scanPos
		ri.scan[last] = nil
		ri.scan = ri.scan[:last]
		return
	}
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

// match appends the subscriptions of ri whose filter accepts row.
func (ri *relIndex) match(kind replication.Kind, rv *rowView, dst []uint64) []uint64 {
	var scratch [keyScratch]byte
	for _, ci := range ri.hashed {
		v := rv.value(ci.col)
		if v == nil || v.State != replication.ValueText {
			continue // NULL or unknown equals nothing
		}
		x, ok := parseValue(ci.typ, v.Data)
		if !ok {
			continue
		}
		for _, g := range ci.keys[string(appendKey(scratch[:0], ci.typ, &x))] {
			if g.kinds[kind] > 0 && g.pred.match(rv) {
				dst = g.appendMembers(dst, kind)
			}
		}
	}
	for _, g := range ri.scan {
		if g.kinds[kind] > 0 && g.pred.match(rv) {
			dst = g.appendMembers(dst, kind)
		}
	}
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
