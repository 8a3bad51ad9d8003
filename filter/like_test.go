package filter

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// backtrackMatch is the wildcard matcher walcast used before the linear one,
// kept as the reference its replacement must agree with: on a mismatch, let
// the last % absorb one more character and retry. Worst case
// O(len(s)·len(pattern)).
func backtrackMatch(p *likePattern, s []byte) bool {
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

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pattern string
		fold    bool
		value   string
		want    bool
	}{
		{"", false, "", true},
		{"", false, "a", false},
		{"abc", false, "abc", true},
		{"abc", false, "abcd", false},
		{"a_c", false, "aéc", true},
		{"a_c", false, "abbc", false},
		{"%", false, "", true},
		{"%b%b%", false, "abcbd", true},
		{"%b%b%", false, "abcd", false},
		{"%abab%", false, "abaabab", true},    // KMP falls back
		{"%a_a%", false, "xxaéa", true},       // Shift-And over characters
		{"%a_a%b", false, "aaaab", true},      // middle _ segment, literal last
		{"%a_b", false, "xaéb", true},         // last segment with _, valid UTF-8
		{"%a_b", false, "\xffaéb", true},      // last segment with _, invalid UTF-8
		{"%a_b", false, "\xffab", false},      //
		{"%_", false, "\xe2\x82", true},       // an invalid byte is one character
		{"%__", false, "\xe2\x82", true},      //
		{"%___", false, "\xe2\x82", false},    //
		{"%\uFFFD", false, "a\xff", true},     // as DecodeRune sees it
		{"%\uFFFD%", false, "a\xffb", true},   //
		{"%HeLLo%", true, "say hello!", true}, // ilike
		{"%é%", true, "É", false},             // ASCII folding only
		{"ab%ba", false, "aba", false},        // first and last must not overlap
		{"ab%ba", false, "abba", true},
		{"a%a_%a", false, "aaaa", true},
		{"a%a_%a", false, "aaa", false},
	}
	for _, tc := range tests {
		p, err := compileLike(tc.pattern, tc.fold)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.match([]byte(tc.value)); got != tc.want {
			t.Errorf("%q (fold %v) on %q = %v, want %v", tc.pattern, tc.fold, tc.value, got, tc.want)
		}
		if ref := backtrackMatch(p, []byte(tc.value)); ref != tc.want {
			t.Errorf("reference: %q on %q = %v, want %v", tc.pattern, tc.value, ref, tc.want)
		}
	}
}

// TestLikeMatchesReference compares the linear matcher with the backtracking
// one on random patterns and values over a small alphabet, where matches and
// near misses are frequent, with multi-byte and invalid UTF-8 in the mix.
func TestLikeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	alphabet := []string{"a", "b", "A", "é", "\xff", "\xe2\x82", "€"}
	patAlphabet := []string{"a", "b", "A", "é", "_", "%", `\%`, `\_`, "\uFFFD", "€"}
	for i := 0; i < 200_000; i++ {
		var pb, vb strings.Builder
		for n := rng.IntN(8); n > 0; n-- {
			pb.WriteString(patAlphabet[rng.IntN(len(patAlphabet))])
		}
		for n := rng.IntN(12); n > 0; n-- {
			vb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		checkLikeAgainstReference(t, pb.String(), vb.String(), i%2 == 0)
	}
	// Two letters: repetitive segments, where searches must fall back.
	for i := 0; i < 100_000; i++ {
		var pb, vb strings.Builder
		for n := rng.IntN(10); n > 0; n-- {
			pb.WriteString([]string{"a", "b", "a", "b", "_", "%"}[rng.IntN(6)])
		}
		for n := rng.IntN(14); n > 0; n-- {
			vb.WriteString([]string{"a", "b", "a", "B"}[rng.IntN(4)])
		}
		checkLikeAgainstReference(t, pb.String(), vb.String(), i%3 == 0)
	}
	// Segments wider than one automaton word.
	for i := 0; i < 2_000; i++ {
		var pb, vb strings.Builder
		pb.WriteString("%")
		for n := 60 + rng.IntN(80); n > 0; n-- {
			pb.WriteString([]string{"a", "_", "b"}[rng.IntN(3)])
		}
		if rng.IntN(2) == 0 {
			pb.WriteString("%")
		}
		for n := rng.IntN(300); n > 0; n-- {
			vb.WriteString([]string{"a", "a", "b", "é"}[rng.IntN(4)])
		}
		checkLikeAgainstReference(t, pb.String(), vb.String(), false)
	}
}

func checkLikeAgainstReference(t *testing.T, pattern, value string, fold bool) {
	t.Helper()
	p, err := compileLike(pattern, fold)
	if err != nil {
		return
	}
	if got, want := p.match([]byte(value)), backtrackMatch(p, []byte(value)); got != want {
		t.Fatalf("%q (fold %v) on %q: got %v, reference %v", pattern, fold, value, got, want)
	}
}

func FuzzLike(f *testing.F) {
	for _, s := range []string{"%a%", "a_c", "%abab%", "%a_a%b", "%_", `a\%b%`, "%\uFFFD", "ab%ba"} {
		f.Add(s, "abaabab\xffé", false)
	}
	f.Fuzz(func(t *testing.T, pattern, value string, fold bool) {
		if !utf8.ValidString(pattern) || len(pattern) > 200 || len(value) > 2000 {
			return // Compile refuses invalid patterns; keep the reference fast
		}
		checkLikeAgainstReference(t, pattern, value, fold)
	})
}

// BenchmarkLikeWorstCase matches patterns built to defeat a backtracking
// matcher against 500 KB of 'a'. The case is `%<20,000 a>c`; the
// others put the long segment in the middle, where it is searched for.
// The reference sub-benchmarks run the old backtracking matcher (seconds
// per op: run them with -benchtime=1x).
func BenchmarkLikeWorstCase(b *testing.B) {
	value := []byte(strings.Repeat("a", 500_000))
	a20k := strings.Repeat("a", 20_000)
	underscores := strings.Repeat("a_", 500) // 1,000 characters with _: 16 automaton words
	cases := []struct{ name, pattern string }{
		{"suffix", "%" + a20k + "c"},
		{"middle", "%" + a20k + "c%"},
		{"middle_underscore", "%" + underscores + "c%"},
		{"suffix_underscore", "%" + underscores + "c"},
		{"ilike_middle", "%" + strings.ToUpper(a20k) + "C%"},
	}
	for _, matcher := range []struct {
		name  string
		match func(*likePattern, []byte) bool
	}{{"linear", (*likePattern).match}, {"reference", backtrackMatch}} {
		for _, tc := range cases {
			p, err := compileLike(tc.pattern, strings.HasPrefix(tc.name, "ilike"))
			if err != nil {
				b.Fatal(err)
			}
			b.Run(matcher.name+"/"+tc.name, func(b *testing.B) {
				b.SetBytes(int64(len(value)))
				for b.Loop() {
					if matcher.match(p, value) {
						b.Fatal("matched")
					}
				}
			})
		}
	}
}
