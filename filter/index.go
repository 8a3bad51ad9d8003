package filter

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/walcast/walcast/replication"
)

// Index finds the subscriptions a change satisfies. Per relation it groups
// subscriptions by compiled filter and hashes the groups by the value their
// eq/in condition wants, so a change costs one lookup per indexed column
// plus the evaluation of the filters that can match, whatever the number of
// subscriptions. It is safe for concurrent use: Match takes a read lock,
// the other methods a write lock.
type Index struct {
	mu     sync.RWMutex
	subs   map[uint64]*entry
	byName map[qname]map[uint64]*entry // subscriptions naming one table
	wild   map[uint64]*entry           // subscriptions with a wildcard
	rels   map[uint32]*relIndex        // bound relations by ID
	relIDs map[qname]uint32
	limits Limits
	// spareLimit is kept from one MatchBudget call to the next, so that
	// the usual single caller does not allocate.
	spareLimit atomic.Pointer[evalLimit]
}

type qname struct{ schema, table string }

type entry struct {
	sub    Subscription
	conds  []Condition
	groups map[uint32]*group // its group in each bound relation it covers
}

// NewIndex returns an empty index that parses filters within the default
// Limits.
func NewIndex() *Index { return NewIndexLimits(Limits{}) }

// NewIndexLimits returns an empty index that parses filters within lim.
func NewIndexLimits(lim Limits) *Index {
	return &Index{
		limits: lim,
		subs:   make(map[uint64]*entry),
		byName: make(map[qname]map[uint64]*entry),
		wild:   make(map[uint64]*entry),
		rels:   make(map[uint32]*relIndex),
		relIDs: make(map[qname]uint32),
	}
}

// Add registers a subscription. Its filter is parsed now. When rel is
// given, or when the index has a bound relation of that name, the filter is
// also compiled now and its errors returned; a subscription with a wildcard
// schema or table is compiled against each relation it covers as they are
// bound, and simply never matches one whose columns do not fit its filter.
// Adding an ID that is already present is an error.
func (ix *Index) Add(sub Subscription, rel *replication.Relation) error {
	if err := sub.normalize(); err != nil {
		return err
	}
	conds, err := ParseLimited(sub.Filter, ix.limits)
	if err != nil {
		return fmt.Errorf("subscription %d: %w", sub.ID, err)
	}
	var pred *Predicate
	if rel != nil {
		if !sub.covers(rel) {
			return fmt.Errorf("subscription %d is on %s.%s, not on %s.%s", sub.ID, sub.Schema, sub.Table, rel.Schema, rel.Table)
		}
		if pred, err = Compile(rel, conds); err != nil {
			return fmt.Errorf("subscription %d: %w", sub.ID, err)
		}
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, dup := ix.subs[sub.ID]; dup {
		return fmt.Errorf("subscription %d already exists", sub.ID)
	}
	if rel != nil && ix.rels[rel.ID] == nil {
		ix.bind(rel)
	}
	e := &entry{sub: sub, conds: conds, groups: make(map[uint32]*group, 1)}
	name := qname{sub.Schema, sub.Table}
	if sub.wildcard() {
		for _, ri := range ix.rels {
			if sub.covers(ri.rel) {
				ix.attach(ri, e, reuse(pred, rel, ri))
			}
		}
		ix.wild[sub.ID] = e
	} else {
		if id, ok := ix.relIDs[name]; ok {
			ri := ix.rels[id]
			p := reuse(pred, rel, ri)
			if p == nil {
				if p, err = Compile(ri.rel, conds); err != nil {
					return fmt.Errorf("subscription %d: %w", sub.ID, err)
				}
			}
			e.groups[ri.rel.ID] = ri.add(sub.ID, sub.Events, p)
		}
		m := ix.byName[name]
		if m == nil {
			m = make(map[uint64]*entry)
			ix.byName[name] = m
		}
		m[sub.ID] = e
	}
	ix.subs[sub.ID] = e
	return nil
}

// reuse returns pred if it was compiled against the relation ri holds.
func reuse(pred *Predicate, rel *replication.Relation, ri *relIndex) *Predicate {
	if pred != nil && (ri.rel == rel || sameShape(ri.rel, rel)) {
		return pred
	}
	return nil
}

// attach compiles e's filter against ri's relation (unless pred is given)
// and adds it; a filter that does not fit the relation is left out.
func (ix *Index) attach(ri *relIndex, e *entry, pred *Predicate) {
	if pred == nil {
		var err error
		if pred, err = Compile(ri.rel, e.conds); err != nil {
			return
		}
	}
	e.groups[ri.rel.ID] = ri.add(e.sub.ID, e.sub.Events, pred)
}

// Remove unregisters a subscription; unknown IDs are ignored.
func (ix *Index) Remove(id uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.subs[id]
	if e == nil {
		return
	}
	for relID, g := range e.groups {
		if ri := ix.rels[relID]; ri != nil {
			ri.remove(g, id)
		}
	}
	delete(ix.subs, id)
	delete(ix.wild, id)
	name := qname{e.sub.Schema, e.sub.Table}
	if m := ix.byName[name]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(ix.byName, name)
		}
	}
}

// Bound reports whether a relation schema.table is bound: its
// subscriptions are compiled and changes to it can match.
func (ix *Index) Bound(schema, table string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, ok := ix.relIDs[qname{schema, table}]
	return ok
}

// Bind tells the index about a relation from the stream, new or changed.
// Subscriptions covering it (by name or wildcard) are compiled against it;
// a relation with the same ID, name and column types as the one bound keeps
// its compiled filters. A different relation ID under a bound name (the
// table was dropped and recreated) replaces the old one.
func (ix *Index) Bind(rel *replication.Relation) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.bind(rel)
}

func (ix *Index) bind(rel *replication.Relation) {
	if old := ix.rels[rel.ID]; old != nil {
		if sameShape(old.rel, rel) {
			old.rel = rel
			return
		}
		ix.unbind(old)
	}
	name := qname{rel.Schema, rel.Table}
	if id, ok := ix.relIDs[name]; ok {
		if old := ix.rels[id]; old != nil {
			ix.unbind(old)
		}
	}
	ri := newRelIndex(rel)
	ix.rels[rel.ID] = ri
	ix.relIDs[name] = rel.ID

	// Subscriptions often repeat a filter: compile each distinct text once.
	type compiled struct {
		pred *Predicate
		err  error
	}
	cache := make(map[string]compiled)
	add := func(e *entry) {
		c, ok := cache[e.sub.Filter]
		if !ok {
			c.pred, c.err = Compile(rel, e.conds)
			cache[e.sub.Filter] = c
		}
		if c.err == nil {
			e.groups[rel.ID] = ri.add(e.sub.ID, e.sub.Events, c.pred)
		}
	}
	for _, e := range ix.byName[name] {
		add(e)
	}
	for _, e := range ix.wild {
		if e.sub.covers(rel) {
			add(e)
		}
	}
}

func (ix *Index) unbind(ri *relIndex) {
	id := ri.rel.ID
	for _, g := range ri.groups {
		for _, m := range g.members {
			if e := ix.subs[m.id]; e != nil {
				delete(e.groups, id)
			}
		}
	}
	delete(ix.rels, id)
	name := qname{ri.rel.Schema, ri.rel.Table}
	if ix.relIDs[name] == id {
		delete(ix.relIDs, name)
	}
}

// Match appends to dst the IDs of the subscriptions ch satisfies, in no
// particular order, and returns the extended slice. INSERT and UPDATE are
// matched on the new row, DELETE on the old row (in which columns outside a
// key-only old tuple match nothing). TRUNCATE matches subscriptions without
// a filter that asked for EventTruncate. Changes on relations never bound
// match nothing. Match does not allocate when dst has room.
func (ix *Index) Match(ch *replication.Change, dst []uint64) []uint64 {
	if ch == nil {
		return dst
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ch.Kind == replication.Truncate {
		return ix.matchTruncate(ch, dst)
	}
	rv, ok := viewOf(ch)
	if !ok || ch.Relation == nil {
		return dst
	}
	ri := ix.rels[ch.Relation.ID]
	if ri == nil || (ri.rel != ch.Relation && !sameShape(ri.rel, ch.Relation)) {
		return dst // a relation the index was not told about: Bind it first
	}
	return ri.match(ch.Kind, &rv, dst)
}

// matchTruncate appends the subscriptions without a filter that asked for
// TRUNCATE on the relation (one Change per truncated relation).
func (ix *Index) matchTruncate(ch *replication.Change, dst []uint64) []uint64 {
	if ch.Relation == nil {
		return dst
	}
	ri := ix.rels[ch.Relation.ID]
	if ri == nil {
		return dst
	}
	if g := ri.groups[""]; g != nil && g.kinds[replication.Truncate] > 0 {
		dst = g.appendMembers(dst, replication.Truncate)
	}
	return dst
}
