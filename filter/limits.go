package filter

// Limits bound what one filter may ask for, so that a client cannot make
// parsing, storing or evaluating it expensive. A zero field means its
// default; a negative one means no limit.
type Limits struct {
	// MaxFilterBytes bounds the whole filter string. Default 4096: the
	// largest useful filter, an in list of MaxInValues UUIDs, is 3.8 KB.
	MaxFilterBytes int
	// MaxConditions bounds the comma-separated conditions. Default 16.
	MaxConditions int
	// MaxInValues bounds the values of one in list. Default 100, Supabase's.
	MaxInValues int
	// MaxPatternBytes bounds the operand of like, ilike, match and imatch.
	// Default 512. like is linear in the value whatever its pattern; the
	// bound keeps its automaton (a segment with _) within a few words.
	MaxPatternBytes int
	// MaxRegexpInsts bounds the compiled program of a match or imatch
	// pattern, in RE2 instructions (a{1000} is about 1,000). Default 1000.
	// RE2 matches in time linear in the value, times this size at worst.
	MaxRegexpInsts int
}

// The default limits; see Limits.
const (
	DefaultMaxFilterBytes  = 4096
	DefaultMaxConditions   = 16
	DefaultMaxPatternBytes = 512
	DefaultMaxRegexpInsts  = 1000
)

// withDefaults fills in the zero fields.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxFilterBytes, DefaultMaxFilterBytes)
	def(&l.MaxConditions, DefaultMaxConditions)
	def(&l.MaxInValues, MaxInValues)
	def(&l.MaxPatternBytes, DefaultMaxPatternBytes)
	def(&l.MaxRegexpInsts, DefaultMaxRegexpInsts)
	return l
}

// over reports whether n exceeds the limit max (negative: none).
func over(n, max int) bool { return max >= 0 && n > max }

// checkCondition applies the limits that concern one parsed condition.
func (l Limits) checkCondition(seg string, c *Condition) error {
	switch c.Op {
	case OpLike, OpIlike, OpMatch, OpImatch:
		if over(len(c.Value), l.MaxPatternBytes) {
			return syntaxErr(seg, c.Column, "column %q, operator %s: pattern of %d bytes is longer than the limit of %d bytes",
				c.Column, c.Op, len(c.Value), l.MaxPatternBytes)
		}
	}
	if c.Op != OpMatch && c.Op != OpImatch || l.MaxRegexpInsts < 0 {
		return nil
	}
	// A pattern that does not parse counts as small here: Compile refuses
	// it and says why.
	if n := regexpInsts("(?s)" + c.Value); n > l.MaxRegexpInsts {
		return syntaxErr(seg, c.Column, "column %q, operator %s: regular expression compiles to %d instructions, more than the limit of %d; use fewer or smaller repetitions",
			c.Column, c.Op, n, l.MaxRegexpInsts)
	}
	return nil
}
