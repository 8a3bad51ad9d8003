package auth

import (
	"errors"
	"testing"
	"time"
)

var knownCodes = map[string]bool{CodeMalformed: true, CodeSignature: true, CodeInvalidToken: true, CodeSignerFailure: true}

// FuzzVerify: Verify never panics and fails only with *Error of a known
// code. Besides the raw token, the fuzzer's header and claims are signed
// with the right secret so the claim checks see arbitrary JSON; an accepted
// token has a role and a future exp, and re-signing its claims with Sign
// gives a token that verifies to the same claims.
func FuzzVerify(f *testing.F) {
	f.Add(hsToken("HS256", validClaims), `{"alg":"HS256","typ":"JWT"}`, validClaims)
	f.Add(" "+hsToken("HS512", `{"role":"anon","exp":1700000100.5}`)+"\n", `{"alg":"HS384"}`, `{"role":"a","exp":1.7e9,"iat":"x"}`)
	f.Add("a.b.c", `{"alg":"none"}`, `{"role":"anon","exp":1}`)
	f.Add("%2e%2E.", `{"alg":"HS512","typ":"x"}`, `{"role":1,"exp":null}`)
	f.Fuzz(func(t *testing.T, token, header, claims string) {
		v := testVerifier()
		check := func(tok string) {
			c, err := v.Verify(tok)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || !knownCodes[e.Code] || e.Message == "" {
					t.Fatalf("Verify(%q) error %#v is not a known *Error", tok, err)
				}
				return
			}
			if c.Role == "" || !c.Exp.After(testNow) || c.Raw == nil {
				t.Fatalf("Verify(%q) accepted claims %+v", tok, c)
			}
			again, err := Sign(testSecret, c.Raw)
			if err != nil {
				t.Fatalf("Sign(%v): %v", c.Raw, err)
			}
			c2, err := v.Verify(again)
			if err != nil {
				t.Fatalf("re-signed claims %v refused: %v", c.Raw, err)
			}
			if c2.Role != c.Role || c2.Sub != c.Sub || !c2.Exp.Equal(c.Exp) {
				t.Fatalf("re-signed claims differ: %+v vs %+v", c2, c)
			}
		}
		check(token)
		check(rawToken(testSecret, "HS256", header, claims))
		check(rawToken(testSecret, "HS512", header, claims))
		_ = time.Second
	})
}
