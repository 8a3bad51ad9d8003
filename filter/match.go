package filter

import "github.com/walcast/walcast/replication"

// tri is the result of one condition in SQL's three-valued logic, plus
// unknown for a value the change did not carry (an absent column of a
// key-only old row, or an unchanged TOASTed value): a condition on it fails
// whether or not it is negated, since walcast cannot tell what Postgres
// would say.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
	triUnknown
)

func (t tri) not() tri {
	if t <= triTrue {
		return 1 - t
	}
	return t
}

// Match reports whether row satisfies every condition, that is whether the
// filter evaluates to TRUE in SQL (NULL is not a match). row holds one Value
// per relation column, as the text output of Postgres. Match does not
// allocate.
func (p *Predicate) Match(row []replication.Value) bool { return p.match(&rowView{row: row}) }

// MatchChange reports whether the filter accepts a change, reading the row
// the package documentation describes: the new row of an INSERT or UPDATE,
// the old row of a DELETE. A TRUNCATE satisfies only an empty filter.
func (p *Predicate) MatchChange(ch *replication.Change) bool {
	rv, ok := viewOf(ch)
	if !ok {
		return ch.Kind == replication.Truncate && len(p.conds) == 0
	}
	return p.match(&rv)
}

// rowView is the row a filter reads and what is known about it.
type rowView struct {
	row []replication.Value
	// old supplies unchanged TOASTed values of an UPDATE's new row, when the
	// replica identity sent them.
	old []replication.Value
	// keyOnly: row is a key-only old tuple, whose NULLs are columns that
	// were not sent (key columns are never NULL).
	keyOnly bool
	// limit, under MatchBudget, is the deadline of the group evaluated.
	limit *evalLimit
}

// viewOf picks the row of a change; ok is false for TRUNCATE (no row).
func viewOf(ch *replication.Change) (rv rowView, ok bool) {
	switch ch.Kind {
	case replication.Insert:
		return rowView{row: ch.New}, true
	case replication.Update:
		rv = rowView{row: ch.New}
		if !ch.OldKeyOnly {
			rv.old = ch.Old
		}
		return rv, true
	case replication.Delete:
		return rowView{row: ch.Old, keyOnly: ch.OldKeyOnly}, true
	}
	return rv, false
}

func (p *Predicate) match(rv *rowView) bool {
	for i := range p.conds {
		c := &p.conds[i]
		if c.eval(rv) != triTrue {
			return false
		}
		if rv.limit != nil && (c.like != nil || c.re != nil) && rv.limit.expired() {
			return false
		}
	}
	return true
}

// value returns column col, or nil when the row does not carry it.
func (rv *rowView) value(col int) *replication.Value {
	if col >= len(rv.row) {
		return nil
	}
	v := &rv.row[col]
	switch {
	case v.State == replication.ValueNull && rv.keyOnly:
		return nil
	case v.State == replication.ValueUnchanged && col < len(rv.old) && rv.old[col].State == replication.ValueText:
		return &rv.old[col]
	}
	return v
}

func (c *cond) eval(rv *rowView) tri {
	v := rv.value(c.col)
	if v == nil {
		return triUnknown
	}
	var r tri
	switch c.op {
	case OpIs:
		r = c.evalIs(v)
	case OpIsDistinct:
		switch v.State {
		case replication.ValueNull:
			r = triTrue
		case replication.ValueText:
			r = c.evalCompare(rv, v)
			if r != triUnknown {
				r = r.not() // distinct means not equal
			}
		default:
			return triUnknown
		}
	default:
		switch v.State {
		case replication.ValueNull:
			if c.op == OpIn && len(c.list) == 0 && !c.listNull {
				r = triFalse // NULL = ANY('{}') is false, not NULL
			} else {
				r = triNull
			}
		case replication.ValueText:
			r = c.evalCompare(rv, v)
		default:
			return triUnknown
		}
	}
	if c.not {
		return r.not()
	}
	return r
}

func (c *cond) evalIs(v *replication.Value) tri {
	switch v.State {
	case replication.ValueNull:
		if c.is == isNull {
			return triTrue
		}
		return triFalse
	case replication.ValueText:
		if c.is == isNull {
			return triFalse
		}
		b, ok := parseBool(v.Data)
		if !ok {
			return triUnknown
		}
		if b == (c.is == isTrue) {
			return triTrue
		}
		return triFalse
	case replication.ValueUnchanged:
		// A TOASTed value is never NULL, whatever it is.
		if c.is == isNull {
			return triFalse
		}
	}
	return triUnknown
}

// evalCompare evaluates every operator but is on a non-NULL value. For
// isdistinct it evaluates equality.
func (c *cond) evalCompare(rv *rowView, v *replication.Value) tri {
	switch c.op {
	case OpLike, OpIlike:
		return triOf(c.like.match(v.Data))
	case OpMatch, OpImatch:
		return triOf(c.matchRegexp(rv, v.Data))
	}
	x, ok := parseValue(c.typ, v.Data)
	if !ok {
		return triUnknown
	}
	switch c.op {
	case OpIn:
		for i := range c.list {
			if compare(c.typ, &x, &c.list[i]) == 0 {
				return triTrue
			}
		}
		if c.listNull {
			return triNull
		}
		return triFalse
	case OpEq, OpIsDistinct:
		return triOf(compare(c.typ, &x, &c.val) == 0)
	case OpNeq:
		return triOf(compare(c.typ, &x, &c.val) != 0)
	case OpLt:
		return triOf(compare(c.typ, &x, &c.val) < 0)
	case OpLte:
		return triOf(compare(c.typ, &x, &c.val) <= 0)
	case OpGt:
		return triOf(compare(c.typ, &x, &c.val) > 0)
	case OpGte:
		return triOf(compare(c.typ, &x, &c.val) >= 0)
	}
	return triUnknown
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}
