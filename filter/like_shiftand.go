package filter

import "unicode/utf8"

// shiftAnd finds a segment of literals and _ in a value with the
// bit-parallel Shift-And automaton: bit j of the state says that the first
// j+1 characters of the segment match the characters just read. Each
// character of the value costs one shift and one AND per 64 characters of
// the segment, whatever the value and the segment hold.
type shiftAnd struct {
	k     int      // characters in the segment
	words int      // ⌈k/64⌉
	any   []uint64 // positions of _: the mask of a character that is no literal of the segment
	// masks[i] holds the positions of the i-th distinct literal, with those
	// of _. ASCII literals are found through ascii (index+1, 0 for none),
	// the others through other.
	masks [][]uint64
	ascii [128]uint16
	other map[rune]int
}

// stackWords is the largest automaton whose state lives on the stack: the
// default pattern length limit keeps every segment within it.
const stackWords = 16

func newShiftAnd(toks []likeTok) *shiftAnd {
	sa := &shiftAnd{k: len(toks), words: (len(toks) + 63) / 64}
	sa.any = make([]uint64, sa.words)
	for j, t := range toks {
		if t.kind == tokOne {
			sa.any[j/64] |= 1 << (j % 64)
		}
	}
	for j, t := range toks {
		if t.kind != tokLit {
			continue
		}
		m := sa.mask(t.r)
		if m == nil {
			m = append([]uint64(nil), sa.any...)
			sa.masks = append(sa.masks, m)
			if t.r < 128 {
				sa.ascii[t.r] = uint16(len(sa.masks))
			} else {
				if sa.other == nil {
					sa.other = make(map[rune]int)
				}
				sa.other[t.r] = len(sa.masks) - 1
			}
		}
		m[j/64] |= 1 << (j % 64)
	}
	return sa
}

// mask returns the positions at which character r matches, nil when only
// _ matches it.
func (sa *shiftAnd) mask(r rune) []uint64 {
	if r >= 0 && r < 128 {
		if i := sa.ascii[r]; i > 0 {
			return sa.masks[i-1]
		}
		return nil
	}
	if i, ok := sa.other[r]; ok {
		return sa.masks[i]
	}
	return nil
}

// search finds the leftmost occurrence of the segment in s[from:] and
// returns where it ends. With atEnd it instead reports whether an
// occurrence ends exactly at the end of s.
func (sa *shiftAnd) search(s []byte, from int, fold, atEnd bool) (int, bool) {
	var stack [stackWords]uint64
	var d []uint64
	if sa.words <= stackWords {
		d = stack[:sa.words]
	} else {
		d = make([]uint64, sa.words)
	}
	top := uint64(1) << ((sa.k - 1) % 64)
	hit := false
	for i := from; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		i += n
		if fold {
			r = lowerASCII(r)
		}
		m := sa.mask(r)
		if m == nil {
			m = sa.any
		}
		carry := uint64(1) // a match may start at every character
		for w := range d {
			next := d[w] >> 63
			d[w] = (d[w]<<1 | carry) & m[w]
			carry = next
		}
		hit = d[sa.words-1]&top != 0
		if hit && !atEnd {
			return i, true
		}
	}
	if atEnd && hit {
		return len(s), true
	}
	return 0, false
}
