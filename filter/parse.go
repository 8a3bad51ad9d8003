package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Op is a filter operator.
type Op uint8

// The operators of the Supabase filter grammar, in the order of the grammar's
// documentation.
const (
	OpEq Op = iota + 1
	OpNeq
	OpLt
	OpLte
	OpGt
	OpGte
	OpIn
	OpLike
	OpIlike
	OpMatch
	OpImatch
	OpIs
	OpIsDistinct
)

var opNames = [...]string{
	OpEq: "eq", OpNeq: "neq", OpLt: "lt", OpLte: "lte", OpGt: "gt", OpGte: "gte",
	OpIn: "in", OpLike: "like", OpIlike: "ilike", OpMatch: "match", OpImatch: "imatch",
	OpIs: "is", OpIsDistinct: "isdistinct",
}

const opList = "eq, neq, lt, lte, gt, gte, in, like, ilike, match, imatch, is, isdistinct"

// String returns the operator as written in a filter ("eq", "isdistinct").
func (o Op) String() string {
	if o == 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("Op(%d)", uint8(o))
	}
	return opNames[o]
}

func parseOp(s string) (Op, bool) {
	for o := OpEq; int(o) < len(opNames); o++ {
		if opNames[o] == s {
			return o, true
		}
	}
	return 0, false
}

// MaxInValues is the default largest number of values an `in` list may hold
// (Limits.MaxInValues); Supabase Realtime enforces the same limit.
const MaxInValues = 100

// Condition is one `column=[not.]op.value` term of a filter, as written: the
// value is not yet interpreted as the column's type (see Compile).
type Condition struct {
	Column string
	Not    bool // the not. prefix
	Op     Op
	// Value is the operand of every operator but in, unquoted. For is it is
	// one of "null", "true", "false", "unknown".
	Value string
	// List holds the non-NULL values of an in list, unquoted, in the order
	// given. ListNull records an unquoted null in the list: like a NULL element
	// of a Postgres array, it makes `= ANY` yield NULL instead of false.
	List     []string
	ListNull bool
}

// Error is a filter that cannot be parsed or compiled. Its message names the
// condition, the column and what was expected.
type Error struct {
	Filter string // the offending condition (or the whole filter for a split error)
	Column string // empty when the column is not known yet
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("filter %q: %s", clip(e.Filter), e.Msg) }

// clip shortens a filter quoted in an error: a client's filter may be huge,
// and an error message need not repeat it.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func syntaxErr(seg, col, format string, args ...any) *Error {
	return &Error{Filter: seg, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses a Supabase filter: conditions `column=[not.]op.value` joined by
// top-level commas (logical AND), within the default Limits. It checks
// syntax only; Compile checks the columns and values against a table. An
// empty or blank filter has no conditions.
func Parse(s string) ([]Condition, error) { return ParseLimited(s, Limits{}) }

// ParseLimited is Parse within lim (zero fields mean the defaults). A filter
// over a limit is an *Error naming the limit and, for a limit on one
// condition, its column and operator.
func ParseLimited(s string, lim Limits) ([]Condition, error) {
	lim = lim.withDefaults()
	if over(len(s), lim.MaxFilterBytes) {
		return nil, syntaxErr(s, "", "filter of %d bytes is longer than the limit of %d bytes", len(s), lim.MaxFilterBytes)
	}
	if trimSpace(s) == "" {
		return nil, nil
	}
	segs, err := splitTop(s)
	if err != nil {
		return nil, err
	}
	if over(len(segs), lim.MaxConditions) {
		return nil, syntaxErr(s, "", "filter has %d conditions, more than the limit of %d", len(segs), lim.MaxConditions)
	}
	conds := make([]Condition, 0, len(segs))
	for i, seg := range segs {
		seg = trimSpace(seg)
		if seg == "" {
			return nil, syntaxErr(s, "", "condition %d is empty; conditions are joined by single commas", i+1)
		}
		c, err := parseCondition(seg, lim.MaxInValues)
		if err != nil {
			return nil, err
		}
		if err := lim.checkCondition(seg, &c); err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	return conds, nil
}

// splitTop cuts s at commas outside double quotes and parentheses, the way
// Supabase Realtime splits a multi-condition filter.
func splitTop(s string) ([]string, error) {
	var segs []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			end, ok := closingQuote(s, i)
			if !ok {
				return nil, syntaxErr(s, "", "unterminated double quote at byte %d", i)
			}
			i = end
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, syntaxErr(s, "", "unbalanced ')' at byte %d", i)
			}
		case ',':
			if depth == 0 {
				segs = append(segs, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, syntaxErr(s, "", "unbalanced '(': missing ')'")
	}
	return append(segs, s[start:]), nil
}

// closingQuote returns the index of the quote closing the one at s[open],
// skipping backslash escapes.
func closingQuote(s string, open int) (int, bool) {
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i, true
		}
	}
	return 0, false
}

func parseCondition(seg string, maxIn int) (Condition, error) {
	eq := strings.IndexByte(seg, '=')
	if eq < 0 {
		return Condition{}, syntaxErr(seg, "", `missing "="; want column=op.value, e.g. id=eq.1`)
	}
	c := Condition{Column: trimSpace(seg[:eq])}
	if c.Column == "" {
		return Condition{}, syntaxErr(seg, "", `missing column before "="; want column=op.value`)
	}
	if strings.ContainsAny(c.Column, `"(),`) {
		return Condition{}, syntaxErr(seg, c.Column, "invalid column name %q: quotes, parentheses and commas are not allowed", c.Column)
	}
	rest := seg[eq+1:]
	if r, ok := strings.CutPrefix(rest, "not."); ok {
		c.Not, rest = true, r
	}
	name, val, hasDot := strings.Cut(rest, ".")
	op, ok := parseOp(name)
	if !ok {
		return Condition{}, syntaxErr(seg, c.Column, "unknown operator %q for column %q; want one of %s (optionally prefixed by not.)", name, c.Column, opList)
	}
	c.Op = op
	if !hasDot {
		return Condition{}, syntaxErr(seg, c.Column, "missing value after operator %q for column %q; want %s=%s.<value>", name, c.Column, c.Column, name)
	}
	var err error
	switch op {
	case OpIn:
		c.List, c.ListNull, err = parseList(val, maxIn)
	case OpIs:
		c.Value, err = unquote(val)
		if err == nil {
			c.Value = strings.ToLower(c.Value)
			switch c.Value {
			case "null", "true", "false", "unknown":
			default:
				err = fmt.Errorf("invalid value for is filter: %q; want null, true, false or unknown", val)
			}
		}
	default:
		c.Value, err = unquote(val)
	}
	if err != nil {
		return Condition{}, syntaxErr(seg, c.Column, "column %q, operator %s: %v", c.Column, op, err)
	}
	return c, nil
}

// unquote returns the value of a scalar operand: either the text verbatim, or
// a PostgREST-style double-quoted string in which \" and \\ (any \x) stand for
// the escaped character.
func unquote(v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		if strings.Contains(v, `"`) {
			return "", fmt.Errorf(`unexpected '"' in unquoted value %q; quote the whole value and escape inner quotes as \"`, v)
		}
		return v, nil
	}
	end, ok := closingQuote(v, 0)
	if !ok {
		return "", fmt.Errorf("unterminated double quote in %s", v)
	}
	if end != len(v)-1 {
		return "", fmt.Errorf("unexpected text %q after the closing quote", v[end+1:])
	}
	if !strings.Contains(v, `\`) {
		return v[1:end], nil
	}
	var b strings.Builder
	for i := 1; i < end; i++ {
		if v[i] == '\\' {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

// parseList parses the operand of in: "(a,b,\"c,d\")". Unquoted elements are
// trimmed, as in a Postgres array literal, and an unquoted null is a NULL.
func parseList(v string, maxIn int) ([]string, bool, error) {
	if len(v) < 2 || v[0] != '(' || v[len(v)-1] != ')' {
		return nil, false, fmt.Errorf("want a parenthesised list such as (1,2,3), got %q", v)
	}
	inner := v[1 : len(v)-1]
	if trimSpace(inner) == "" {
		return nil, false, nil
	}
	var (
		list    []string
		hasNull bool
		n       int
	)
	for start, i := 0, 0; ; i++ {
		if i < len(inner) && inner[i] == '"' {
			end, ok := closingQuote(inner, i)
			if !ok {
				return nil, false, fmt.Errorf("unterminated double quote in list %s", v)
			}
			i = end
			continue
		}
		if i < len(inner) && inner[i] != ',' {
			if inner[i] == '(' || inner[i] == ')' {
				return nil, false, fmt.Errorf("unexpected %q in list %s; quote values containing parentheses", inner[i], v)
			}
			continue
		}
		elem := trimSpace(inner[start:i])
		if n++; over(n, maxIn) {
			return nil, false, fmt.Errorf("too many values for `in` filter. Maximum %d", maxIn)
		}
		switch {
		case elem == "":
			return nil, false, fmt.Errorf("empty value at position %d in list %s; quote empty strings as \"\"", n, v)
		case strings.EqualFold(elem, "null"):
			hasNull = true
		default:
			s, err := unquote(elem)
			if err != nil {
				return nil, false, fmt.Errorf("list element %d: %w", n, err)
			}
			list = append(list, s)
		}
		if i >= len(inner) {
			return list, hasNull, nil
		}
		start = i + 1
	}
}

// String renders c in the filter grammar; Parse(c.String()) yields c again.
func (c Condition) String() string {
	var b strings.Builder
	b.WriteString(c.Column)
	b.WriteByte('=')
	if c.Not {
		b.WriteString("not.")
	}
	b.WriteString(c.Op.String())
	b.WriteByte('.')
	switch c.Op {
	case OpIn:
		b.WriteByte('(')
		for i, v := range c.List {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(&b, v, strings.EqualFold(v, "null"))
		}
		if c.ListNull {
			if len(c.List) > 0 {
				b.WriteByte(',')
			}
			b.WriteString("null")
		}
		b.WriteByte(')')
	default:
		writeValue(&b, c.Value, false)
	}
	return b.String()
}

// Format renders conditions as one filter string.
func Format(conds []Condition) string {
	parts := make([]string, len(conds))
	for i, c := range conds {
		parts[i] = c.String()
	}
	return strings.Join(parts, ",")
}

func writeValue(b *strings.Builder, v string, force bool) {
	if !force && !needsQuotes(v) {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

// needsQuotes reports whether v would not survive Parse unquoted: it holds a
// separator or quote, or whitespace at an end (segments are trimmed). A
// backslash is literal in an unquoted value.
func needsQuotes(v string) bool {
	if v == "" {
		return true
	}
	if strings.ContainsAny(v, `,()"`) {
		return true
	}
	return isSpace(v[0]) || isSpace(v[len(v)-1])
}

// trimSpace trims ASCII whitespace only, so that trimming and needsQuotes
// agree on what whitespace is.
func trimSpace(s string) string { return strings.Trim(s, " \t\n\r\f\v") }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
