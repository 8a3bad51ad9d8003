package filter

import (
	"errors"
	"unicode/utf8"
)

// likePattern is a compiled LIKE pattern: literal characters, _ (exactly one
// character) and % (any run of characters), with backslash as the escape
// character as in Postgres. Matching works on UTF-8 characters, not bytes,
// and does not allocate.
type likePattern struct {
	toks []likeTok
	fold bool // ILIKE: ASCII letters match either case
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
	return p, nil
}

// match reports whether s matches the whole pattern. It is the classic
// wildcard algorithm: on a mismatch, let the last % absorb one more
// character and retry, which is enough because _ and literals have a fixed
// width. Worst case O(len(s)·len(pattern)).
func (p *likePattern) match(s []byte) bool {
	toks := p.toks
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for si < len(s) {
		if pi < len(toks) {
			switch t := toks[pi]; t.kind {
			case tokAny:
				starPi, starSi = pi, si
				pi++
				continue
			case tokOne:
				_, n := utf8.DecodeRune(s[si:])
				si += n
				pi++
				continue
			default:
				r, n := utf8.DecodeRune(s[si:])
				if p.fold {
					r = lowerASCII(r)
				}
				if r == t.r {
					si += n
					pi++
					continue
				}
			}
		}
		if starPi < 0 {
			return false
		}
		_, n := utf8.DecodeRune(s[starSi:])
		starSi += n
		si, pi = starSi, starPi+1
	}
	for pi < len(toks) && toks[pi].kind == tokAny {
		pi++
	}
	return pi == len(toks)
}

func lowerASCII(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
