package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/walcast/walcast/replication"
)

// Predicate is a filter compiled against one relation: columns resolved to
// positions, constants parsed into the column's type, patterns compiled. It
// is immutable and safe for concurrent use.
type Predicate struct {
	conds []cond
	// costly: a like, ilike, match or imatch condition, whose cost grows
	// with the value and the pattern; MatchBudget times these.
	costly bool
	key    string // canonical form: equal for filters that mean the same on this relation
	text   string
}

// isKind is the operand of is.
type isKind uint8

const (
	isNull isKind = iota // null and unknown
	isTrue
	isFalse
)

type cond struct {
	col  int
	typ  colType
	op   Op
	not  bool
	val  value   // eq, neq, lt, lte, gt, gte, isdistinct
	list []value // in: distinct values
	// listNull: the in list holds a NULL, so a miss is NULL rather than false.
	listNull bool
	like     *likePattern
	re       *regexp.Regexp
	reInsts  int // size of re's program: its worst cost per byte of a value
	is       isKind
}

// String returns the filter the predicate was compiled from, normalised.
func (p *Predicate) String() string { return p.text }

// Compile checks conditions against a relation and compiles them. Every
// constant is parsed once here, into the column's type, so Match never
// re-parses it. Errors are *Error values naming the condition and column.
func Compile(rel *replication.Relation, conds []Condition) (*Predicate, error) {
	if rel == nil {
		return nil, fmt.Errorf("compile filter %q: no relation", Format(conds))
	}
	p := &Predicate{conds: make([]cond, 0, len(conds)), text: Format(conds)}
	for i := range conds {
		c, err := compileCond(rel, &conds[i])
		if err != nil {
			return nil, err
		}
		p.conds = append(p.conds, c)
		p.costly = p.costly || c.like != nil || c.re != nil
	}
	p.key = canonicalKey(p.conds)
	return p, nil
}

func compileCond(rel *replication.Relation, c *Condition) (cond, error) {
	text := c.String()
	fail := func(format string, args ...any) (cond, error) {
		return cond{}, &Error{Filter: text, Column: c.Column, Msg: fmt.Sprintf(format, args...)}
	}
	// Conditions need not come from Parse: check what Parse guarantees,
	// except its Limits, which are the caller's to choose.
	switch {
	case c.Op < OpEq || c.Op > OpIsDistinct:
		return fail("invalid operator %d", c.Op)
	case c.Op == OpIs && c.Value != "null" && c.Value != "true" && c.Value != "false" && c.Value != "unknown":
		return fail("invalid value for is filter: %q; want null, true, false or unknown", c.Value)
	}
	ci := rel.ColumnIndex(c.Column)
	if ci < 0 {
		return fail("invalid column for filter %s: table %s.%s has no column %q", c.Column, rel.Schema, rel.Table, c.Column)
	}
	col := &rel.Columns[ci]
	ti := typeOf(col)
	if err := ti.checkOp(c, col); err != nil {
		return fail("%v", err)
	}
	k := cond{col: ci, typ: ti.typ, op: c.Op, not: c.Not}
	badInput := func(v string, err error) (cond, error) {
		e := &Error{Filter: text, Column: c.Column}
		e.Msg = fmt.Sprintf("invalid input for column %q (%s): want %s", c.Column, typeName(col), ti.want)
		if c.Op == OpIn {
			e.Msg = fmt.Sprintf("invalid input %q for column %q (%s): want %s", v, c.Column, typeName(col), ti.want)
		}
		if err != errMalformed {
			e.Msg += " (" + err.Error() + ")"
		}
		return cond{}, e
	}
	switch c.Op {
	case OpIs:
		switch c.Value {
		case "true":
			k.is = isTrue
		case "false":
			k.is = isFalse
		default:
			k.is = isNull
		}
	case OpLike, OpIlike:
		if err := checkText(c.Value); err != nil {
			return fail("invalid pattern for %s on column %q: %v", c.Op, c.Column, err)
		}
		lp, err := compileLike(c.Value, c.Op == OpIlike)
		if err != nil {
			return fail("invalid pattern for %s on column %q: %v", c.Op, c.Column, err)
		}
		k.like = lp
	case OpMatch, OpImatch:
		re, insts, err := compileRegexp(c.Value, c.Op == OpImatch)
		if err != nil {
			return fail("invalid regular expression for match filter on column %q: %v", c.Column, err)
		}
		k.re, k.reInsts = re, insts
	case OpIn:
		seen := make(map[string]bool, len(c.List))
		for _, s := range c.List {
			v, err := constValue(ti, s)
			if err != nil {
				return badInput(s, err)
			}
			key := string(appendKey(nil, ti.typ, &v))
			if !seen[key] {
				seen[key] = true
				k.list = append(k.list, v)
			}
		}
		k.listNull = c.ListNull
		// x = ANY('{v}') is x = v, NULLs included: index and dedup it as eq.
		if len(k.list) == 1 && !k.listNull {
			k.op, k.val, k.list = OpEq, k.list[0], nil
		}
	default:
		v, err := constValue(ti, c.Value)
		if err != nil {
			return badInput(c.Value, err)
		}
		k.val = v
	}
	return k, nil
}

// errMalformed is a constant that does not parse as its type; other errors
// from constValue say more.
var errMalformed = errors.New("malformed")

// constValue parses a filter constant into a column's type, as the cast
// value::coltype in Postgres would.
func constValue(ti typeInfo, s string) (value, error) {
	switch ti.typ {
	case tText, tBpchar, tOpaque:
		if err := checkText(s); err != nil {
			return value{}, err
		}
		v, _ := parseValue(ti.typ, []byte(s))
		return v, nil
	case tNumeric:
		d, err := constDecimal(s)
		if err != nil {
			return value{}, errMalformed
		}
		return value{d: d}, nil
	case tBytea:
		b, err := constBytea(s)
		if err != nil {
			return value{}, err
		}
		return value{b: b}, nil
	}
	v, ok := parseValue(ti.typ, []byte(s))
	if !ok {
		return value{}, errMalformed
	}
	if ti.typ == tInt {
		if v.i < ti.min || v.i > ti.max {
			return value{}, fmt.Errorf("out of range")
		}
		if ti.wrap && v.i < 0 {
			v.i += 1 << 32
		}
	}
	return v, nil
}

// checkText rejects what a Postgres UTF-8 database cannot store in text.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("NUL byte")
	}
	return nil
}

// constBytea parses bytea input, hex (\x0A 1b, any case, spaces between
// pairs) or escape format (\\ and \ooo), into lower-case hex digits.
func constBytea(s string) ([]byte, error) {
	const hex = "0123456789abcdef"
	var out []byte
	if h, ok := strings.CutPrefix(s, `\x`); ok {
		h = strings.NewReplacer(" ", "", "\t", "", "\n", "", "\r", "").Replace(h)
		if len(h)%2 != 0 {
			return nil, fmt.Errorf("odd number of hex digits")
		}
		for i := 0; i < len(h); i++ {
			if _, ok := hexDigit(h[i]); !ok {
				return nil, fmt.Errorf("invalid hex digit %q", h[i])
			}
		}
		return []byte(strings.ToLower(h)), nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			switch {
			case i+1 < len(s) && s[i+1] == '\\':
				i++
			case i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3':
				c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
				i += 3
			default:
				return nil, fmt.Errorf(`invalid escape: use \\ or \ooo`)
			}
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return out, nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// compileRegexp compiles a match/imatch pattern with Go's RE2 syntax, in the
// mode Postgres uses for ~: unanchored, and . matching newline.
func compileRegexp(pattern string, fold bool) (*regexp.Regexp, int, error) {
	if err := checkText(pattern); err != nil {
		return nil, 0, err
	}
	// \b and \B mean backspace and backslash in Postgres but word boundaries
	// in RE2; refuse them rather than match differently.
	for i := 0; i+1 < len(pattern); i++ {
		if pattern[i] == '\\' {
			if pattern[i+1] == 'b' || pattern[i+1] == 'B' {
				return nil, 0, fmt.Errorf(`\%c means different things in Postgres and Go regular expressions`, pattern[i+1])
			}
			i++
		}
	}
	flags := "(?s)"
	if fold {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + pattern)
	if err != nil {
		return nil, 0, err
	}
	return re, regexpInsts(flags + pattern), nil
}

// regexpInsts is the size of the RE2 program of a valid pattern.
func regexpInsts(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 1
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 1
	}
	return max(1, len(prog.Inst))
}

// canonicalKey renders the conditions so that filters meaning the same on
// one relation get the same key: constants by their canonical key, in lists
// sorted and deduplicated, conditions sorted and deduplicated.
func canonicalKey(conds []cond) string {
	parts := make([]string, 0, len(conds))
	for i := range conds {
		c := &conds[i]
		var b []byte
		b = binary.AppendUvarint(b, uint64(c.col))
		b = append(b, byte(c.op), boolByte(c.not))
		switch c.op {
		case OpIs:
			b = append(b, byte(c.is))
		case OpLike, OpIlike:
			b = appendString(b, likeSource(c.like))
		case OpMatch, OpImatch:
			b = appendString(b, c.re.String())
		case OpIn:
			keys := make([]string, len(c.list))
			for j := range c.list {
				keys[j] = string(appendKey(nil, c.typ, &c.list[j]))
			}
			slices.Sort(keys)
			for _, k := range keys {
				b = appendString(b, k)
			}
			b = append(b, boolByte(c.listNull))
		default:
			b = appendString(b, string(appendKey(nil, c.typ, &c.val)))
		}
		parts = append(parts, string(b))
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	var b []byte
	for _, p := range parts {
		b = appendString(b, p)
	}
	return string(b)
}

func likeSource(p *likePattern) string {
	var b strings.Builder
	for _, t := range p.toks {
		b.WriteByte(t.kind)
		if t.kind == tokLit {
			b.WriteRune(t.r)
		}
	}
	return b.String()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
