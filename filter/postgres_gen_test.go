package filter

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Random filters for TestDifferentialPostgres, and their rendering to SQL.

func randConditions(rng *rand.Rand) []Condition {
	conds := make([]Condition, rng.IntN(3)+1)
	for i := range conds {
		conds[i] = randCondition(rng)
	}
	return conds
}

func randCondition(rng *rand.Rand) Condition {
	col := diffCols[rng.IntN(len(diffCols))]
	ops := []Op{OpEq, OpNeq, OpLt, OpLte, OpGt, OpGte, OpIn, OpIs, OpIsDistinct}
	if col.text {
		ops = append(ops, OpLike, OpIlike, OpMatch, OpImatch, OpLike, OpMatch)
	}
	c := Condition{Column: col.name, Op: ops[rng.IntN(len(ops))], Not: rng.IntN(3) == 0}
	constant := func() string {
		if col.text {
			return randText(rng)
		}
		return col.consts[rng.IntN(len(col.consts))]
	}
	switch c.Op {
	case OpIn:
		for range rng.IntN(5) {
			c.List = append(c.List, constant())
		}
		c.ListNull = rng.IntN(5) == 0
	case OpIs:
		c.Value = "null"
		if col.typ == "bool" {
			c.Value = []string{"null", "true", "false", "unknown"}[rng.IntN(4)]
		}
	case OpLike, OpIlike:
		c.Value = randLike(rng)
	case OpMatch, OpImatch:
		c.Value = randRegexp(rng)
	default:
		c.Value = constant()
	}
	return c
}

func randLike(rng *rand.Rand) string {
	pieces := []string{"a", "A", "b", "é", " ", ".", "%", "%", "_", `\%`, `\_`, `\\`}
	var b strings.Builder
	for range rng.IntN(5) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// randRegexp builds patterns that mean the same in RE2 and Postgres AREs.
func randRegexp(rng *rand.Rand) string {
	pieces := []string{"^", "$", "a", "B", "é", ".", "[ab]", "[^a]", "a*", "b+", "(a|B)", `\.`, "x?", ".*", "[[:upper:]]", " "}
	var b strings.Builder
	for range rng.IntN(4) + 1 {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// renderSQL writes the conditions as a WHERE clause with $n parameters,
// each constant cast from text to the column type as Supabase does.
func renderSQL(conds []Condition) (string, []any) {
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	sqlOps := map[Op]string{OpEq: "=", OpNeq: "<>", OpLt: "<", OpLte: "<=", OpGt: ">", OpGte: ">=",
		OpLike: "LIKE", OpIlike: "ILIKE", OpMatch: "~", OpImatch: "~*"}
	var parts []string
	for _, c := range conds {
		typ := ""
		for _, col := range diffCols {
			if col.name == c.Column {
				typ = col.typ
			}
		}
		q := fmt.Sprintf("%q", c.Column)
		var s string
		switch c.Op {
		case OpIs:
			neg := ""
			if c.Not {
				neg = "NOT "
			}
			parts = append(parts, fmt.Sprintf("%s IS %s%s", q, neg, strings.ToUpper(c.Value)))
			continue
		case OpIsDistinct:
			neg := ""
			if c.Not {
				neg = "NOT "
			}
			parts = append(parts, fmt.Sprintf("%s IS %sDISTINCT FROM %s::text::%s", q, neg, param(c.Value), typ))
			continue
		case OpIn:
			list := make([]*string, 0, len(c.List)+1)
			for i := range c.List {
				list = append(list, &c.List[i])
			}
			if c.ListNull {
				list = append(list, nil)
			}
			s = fmt.Sprintf("%s = ANY(%s::text[]::%s[])", q, param(list), typ)
		case OpLike, OpIlike, OpMatch, OpImatch:
			s = fmt.Sprintf("%s %s %s::text", q, sqlOps[c.Op], param(c.Value))
		default:
			s = fmt.Sprintf("%s %s %s::text::%s", q, sqlOps[c.Op], param(c.Value), typ)
		}
		if c.Not {
			s = "NOT (" + s + ")"
		}
		parts = append(parts, "("+s+")")
	}
	return strings.Join(parts, " AND "), args
}
