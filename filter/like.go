package filter

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// likePattern is a compiled LIKE pattern: literal characters, _ (exactly one
// character) and % (any run of characters), with backslash as the escape
// character as in Postgres. Matching works on UTF-8 characters, not bytes.
//
// The pattern is cut at its % into segments of literals and _, each of a
// fixed number of characters. A value matches when the first segment
// matches at its start, the last at its end, and the middle ones, in order
// and without overlapping, somewhere in between. Taking each middle segment
// at its leftmost occurrence is enough: an earlier end leaves more room for
// the rest. So matching scans the value once, forward, and its cost is
// linear; see match for the bound.
type likePattern struct {
	toks []likeTok // the whole pattern, runs of % merged: its canonical form
	fold bool      // ILIKE: ASCII letters match either case
	// segs are the segments between the % of toks; with no % there is one,
	// anchored at both ends. The first and last may be empty.
	segs    []likeSeg
	anyStar bool // the pattern has at least one %
}

type likeTok struct {
	kind uint8 // tokLit, tokOne or tokAny
	r    rune
}

const (
	tokLit uint8 = iota
	tokOne
	tokAny
)

// likeSeg is one segment, with what searching for it needs.
type likeSeg struct {
	toks []likeTok
	// lit is the segment's UTF-8 text (ASCII-lowered for ILIKE) when it
	// holds only literals other than U+FFFD: it is then matched byte-wise.
	// Any occurrence of a valid UTF-8 byte string starts at a character
	// boundary, and U+FFFD is excluded because the character decoder turns
	// every invalid byte into it.
	lit    []byte
	isLit  bool
	kmp    []int32   // failure function of lit, for a middle segment
	bitpar *shiftAnd // for a middle or last segment that is not literal
}

var errLikeEscape = errors.New("LIKE pattern must not end with escape character")

func compileLike(pattern string, fold bool) (*likePattern, error) {
	p := &likePattern{fold: fold}
	for i := 0; i < len(pattern); {
		r, n := utf8.DecodeRuneInString(pattern[i:])
		i += n
		switch r {
		case '%':
			// Consecutive % are one %.
			if k := len(p.toks); k == 0 || p.toks[k-1].kind != tokAny {
				p.toks = append(p.toks, likeTok{kind: tokAny})
			}
			continue
		case '_':
			p.toks = append(p.toks, likeTok{kind: tokOne})
			continue
		case '\\':
			if i == len(pattern) {
				return nil, errLikeEscape
			}
			r, n = utf8.DecodeRuneInString(pattern[i:])
			i += n
		}
		if fold {
			r = lowerASCII(r)
		}
		p.toks = append(p.toks, likeTok{kind: tokLit, r: r})
	}
	p.segments()
	return p, nil
}

// segments cuts toks at its % and prepares each segment for the way it is
// matched: the first by stepping from the start, the middle ones by search,
// the last at the end.
func (p *likePattern) segments() {
	start := 0
	for i, t := range p.toks {
		if t.kind == tokAny {
			p.segs = append(p.segs, newLikeSeg(p.toks[start:i]))
			start = i + 1
			p.anyStar = true
		}
	}
	p.segs = append(p.segs, newLikeSeg(p.toks[start:]))
	if !p.anyStar {
		return
	}
	for i := 1; i < len(p.segs); i++ {
		s := &p.segs[i]
		switch {
		case !s.isLit:
			s.bitpar = newShiftAnd(s.toks)
		case i < len(p.segs)-1:
			s.kmp = kmpTable(s.lit)
		}
	}
}

func newLikeSeg(toks []likeTok) likeSeg {
	s := likeSeg{toks: toks, isLit: true}
	for _, t := range toks {
		if t.kind != tokLit || t.r == utf8.RuneError {
			s.isLit, s.lit = false, nil
			return s
		}
		s.lit = utf8.AppendRune(s.lit, t.r)
	}
	return s
}

// match reports whether s matches the whole pattern. With n = len(s) and m
// the pattern's length, it costs O(n + m) for patterns whose segments
// between % are plain text, and O(n·⌈k/64⌉ + m) when a segment of k
// characters holds _ (a bit-parallel automaton of ⌈k/64⌉ words): each byte
// of s is read by at most one segment's search, plus the final check of the
// last segment. It allocates only for a segment with _ longer than
// 64·stackWords characters.
func (p *likePattern) match(s []byte) bool {
	first := &p.segs[0]
	pos, ok := matchAt(first.toks, s, 0, p.fold)
	if !ok {
		return false
	}
	if !p.anyStar {
		return pos == len(s)
	}
	last := len(p.segs) - 1
	for i := 1; i < last; i++ {
		seg := &p.segs[i]
		if seg.isLit {
			pos, ok = kmpSearch(s, pos, seg.lit, seg.kmp, p.fold)
		} else {
			pos, ok = seg.bitpar.search(s, pos, p.fold, false)
		}
		if !ok {
			return false
		}
	}
	return p.segs[last].matchEnd(s, pos, p.fold)
}

// matchAt matches toks at s[i:] character by character and returns where
// the match ends.
func matchAt(toks []likeTok, s []byte, i int, fold bool) (int, bool) {
	for _, t := range toks {
		if i >= len(s) {
			return 0, false
		}
		r, n := utf8.DecodeRune(s[i:])
		if t.kind == tokLit {
			if fold {
				r = lowerASCII(r)
			}
			if r != t.r {
				return 0, false
			}
		}
		i += n
	}
	return i, true
}

// matchEnd reports whether the segment matches at the end of s, starting at
// or after pos.
func (seg *likeSeg) matchEnd(s []byte, pos int, fold bool) bool {
	if len(seg.toks) == 0 {
		return true
	}
	if seg.isLit {
		start := len(s) - len(seg.lit)
		return start >= pos && likeEqual(s[start:], seg.lit, fold)
	}
	if tail := s[pos:]; utf8.Valid(tail) {
		// In valid UTF-8, stepping back from the end finds the same
		// character boundaries as stepping forward: the only candidate
		// start is len(toks) characters before the end.
		start := len(tail)
		for range seg.toks {
			if start == 0 {
				return false
			}
			_, n := utf8.DecodeLastRune(tail[:start])
			start -= n
		}
		_, ok := matchAt(seg.toks, tail, start, fold)
		return ok
	}
	_, ok := seg.bitpar.search(s, pos, fold, true)
	return ok
}

func likeEqual(a, b []byte, fold bool) bool {
	if !fold {
		return bytes.Equal(a, b)
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerByte(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// kmpTable is the Knuth-Morris-Pratt failure function of pat: f[i] is the
// length of the longest proper border of pat[:i+1].
func kmpTable(pat []byte) []int32 {
	f := make([]int32, len(pat))
	k := int32(0)
	for i := 1; i < len(pat); i++ {
		for k > 0 && pat[i] != pat[k] {
			k = f[k-1]
		}
		if pat[i] == pat[k] {
			k++
		}
		f[i] = k
	}
	return f
}

// kmpSearch finds the leftmost occurrence of pat in s[from:] (s lowered
// byte by byte when fold is set; pat is lowered already) and returns where
// it ends. Knuth-Morris-Pratt reads each byte of s once and falls back at
// most as often as it advanced: O(len(s)-from) whatever pat is. While no
// prefix of pat is matched it skips ahead with IndexByte.
func kmpSearch(s []byte, from int, pat []byte, f []int32, fold bool) (int, bool) {
	if len(pat) == 0 {
		return from, true
	}
	skip := !fold || lowerByte(pat[0]) == upperByte(pat[0])
	k := int32(0)
	for i := from; i < len(s); i++ {
		if k == 0 && skip {
			j := bytes.IndexByte(s[i:], pat[0])
			if j < 0 {
				return 0, false
			}
			i += j
		}
		c := s[i]
		if fold {
			c = lowerByte(c)
		}
		for k > 0 && c != pat[k] {
			k = f[k-1]
		}
		if c == pat[k] {
			k++
		}
		if int(k) == len(pat) {
			return i + 1, true
		}
	}
	return 0, false
}

func lowerASCII(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperByte(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
