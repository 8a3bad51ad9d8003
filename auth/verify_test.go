package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("super-secret-jwt-token-with-at-least-32-characters-long")
	testNow    = time.Unix(1_700_000_000, 0)
)

func testVerifier() *Verifier {
	return NewVerifier(testSecret, WithClock(func() time.Time { return testNow }))
}

// rawToken signs header and claims (JSON text, exactly as given) with the
// hash named by alg.
func rawToken(secret []byte, alg, header, claims string) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	var h func() hash.Hash
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		h = sha256.New
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func hsToken(alg, claims string) string {
	return rawToken(testSecret, alg, `{"alg":"`+alg+`","typ":"JWT"}`, claims)
}

const validClaims = `{"role":"authenticated","sub":"user-1","exp":1700000100,"iat":1699990000,"app_metadata":{"n":12345678901234567890}}`

func TestVerifyValid(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		wantExp int64
		wantSub string
	}{
		{"HS256", hsToken("HS256", validClaims), 1700000100, "user-1"},
		{"HS384", hsToken("HS384", validClaims), 1700000100, "user-1"},
		{"HS512", hsToken("HS512", validClaims), 1700000100, "user-1"},
		{"no typ", rawToken(testSecret, "HS256", `{"alg":"HS256"}`, validClaims), 1700000100, "user-1"},
		{"kid header ignored", rawToken(testSecret, "HS256", `{"alg":"HS256","typ":"JWT","kid":"abc"}`, validClaims), 1700000100, "user-1"},
		{"surrounding white space", " \n\t" + hsToken("HS256", validClaims) + "\r\n ", 1700000100, "user-1"},
		{"white space inside", strings.Replace(hsToken("HS256", validClaims), ".", ".\n", 1), 1700000100, "user-1"},
		{"percent-encoded", strings.ReplaceAll(hsToken("HS256", validClaims), ".", "%2E"), 1700000100, "user-1"},
		{"padded segments", paddedToken(validClaims), 1700000100, "user-1"},
		{"decimal exp rounds down", hsToken("HS256", `{"role":"anon","exp":1700000100.4}`), 1700000100, ""},
		{"decimal exp rounds up", hsToken("HS256", `{"role":"anon","exp":1700000099.5}`), 1700000100, ""},
		{"exponent exp", hsToken("HS256", `{"role":"anon","exp":1.8e9}`), 1800000000, ""},
		{"decimal iat", hsToken("HS256", `{"role":"anon","exp":1700000100,"iat":1699999999.25}`), 1700000100, ""},
		{"sub not a string", hsToken("HS256", `{"role":"anon","exp":1700000100,"sub":5}`), 1700000100, ""},
		{"one second left", hsToken("HS256", `{"role":"anon","exp":1700000001}`), 1700000001, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testVerifier().Verify(tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got, want := c.Exp, time.Unix(tc.wantExp, 0); !got.Equal(want) {
				t.Errorf("Exp = %v, want %v", got, want)
			}
			if c.Sub != tc.wantSub {
				t.Errorf("Sub = %q, want %q", c.Sub, tc.wantSub)
			}
			if c.Role == "" || c.Raw["role"] != c.Role {
				t.Errorf("Role = %q, Raw[role] = %v", c.Role, c.Raw["role"])
			}
		})
	}
}

// paddedToken is an HS256 token whose segments carry base64 padding, as
// some encoders write them; the signature covers the padded text.
func paddedToken(claims string) string {
	enc := base64.URLEncoding // padded
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, testSecret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestVerifyKeepsClaims(t *testing.T) {
	c, err := testVerifier().Verify(hsToken("HS256", validClaims))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := c.Raw["app_metadata"].(map[string]any)
	if got, want := meta["n"], json.Number("12345678901234567890"); got != want {
		t.Errorf("Raw[app_metadata][n] = %#v, want %#v (every digit kept)", got, want)
	}
	if got, want := c.Raw["exp"], json.Number("1700000100"); got != want {
		t.Errorf("Raw[exp] = %#v, want %#v", got, want)
	}
}

func TestVerifyErrors(t *testing.T) {
	good := hsToken("HS256", validClaims)
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name  string
		token string
		want  Error
	}{
		{"empty", "", Error{CodeMalformed, MsgMalformed}},
		{"one segment", "abc", Error{CodeMalformed, MsgMalformed}},
		{"two segments", parts[0] + "." + parts[1], Error{CodeMalformed, MsgMalformed}},
		{"four segments", good + ".x", Error{CodeMalformed, MsgMalformed}},
		{"claims not base64", parts[0] + ".!!!." + parts[2], Error{CodeMalformed, MsgMalformed}},
		{"claims not JSON", parts[0] + "." + enc([]byte("nope")) + "." + parts[2], Error{CodeMalformed, MsgMalformed}},
		{"claims an array", hsToken("HS256", `[1]`), Error{CodeMalformed, MsgMalformed}},
		{"claims null", hsToken("HS256", `null`), Error{CodeMalformed, MsgMalformed}},
		{"claims with trailing data", hsToken("HS256", `{"role":"a","exp":1700000100} x`), Error{CodeMalformed, MsgMalformed}},
		{"header not JSON", enc([]byte("{")) + "." + parts[1] + "." + parts[2], Error{CodeMalformed, MsgMalformed}},
		{"bad percent escape", "%zz" + good, Error{CodeMalformed, MsgMalformed}},
		{"alg none", rawToken(testSecret, "HS256", `{"alg":"none","typ":"JWT"}`, validClaims), Error{CodeSignerFailure, MsgSignerFailure}},
		{"alg none, empty signature", enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", Error{CodeSignerFailure, MsgSignerFailure}},
		{"alg RS256", rawToken(testSecret, "HS256", `{"alg":"RS256","typ":"JWT"}`, validClaims), Error{CodeSignerFailure, MsgSignerFailure}},
		{"alg lowercase", rawToken(testSecret, "HS256", `{"alg":"hs256","typ":"JWT"}`, validClaims), Error{CodeSignerFailure, MsgSignerFailure}},
		{"alg missing", rawToken(testSecret, "HS256", `{"typ":"JWT"}`, validClaims), Error{CodeSignerFailure, MsgSignerFailure}},
		{"typ not JWT", rawToken(testSecret, "HS256", `{"alg":"HS256","typ":"at+jwt"}`, validClaims), Error{CodeSignerFailure, MsgSignerFailure}},
		{"wrong secret", rawToken([]byte("other"), "HS256", `{"alg":"HS256","typ":"JWT"}`, validClaims), Error{CodeSignature, MsgSignature}},
		{"alg swapped", rawToken(testSecret, "HS512", `{"alg":"HS256","typ":"JWT"}`, validClaims), Error{CodeSignature, MsgSignature}},
		{"signature truncated", good[:len(good)-2], Error{CodeSignature, MsgSignature}},
		{"signature not base64", parts[0] + "." + parts[1] + ".***", Error{CodeSignature, MsgSignature}},
		{"signature empty", parts[0] + "." + parts[1] + ".", Error{CodeSignature, MsgSignature}},
		{"claims tampered", parts[0] + "." + enc([]byte(`{"role":"service_role","exp":1700000100}`)) + "." + parts[2], Error{CodeSignature, MsgSignature}},
		{"expired", hsToken("HS256", `{"role":"anon","exp":1699999995}`), Error{CodeInvalidToken, "Token has expired 5 seconds ago"}},
		{"expires now", hsToken("HS256", `{"role":"anon","exp":1700000000}`), Error{CodeInvalidToken, "Token has expired 0 seconds ago"}},
		{"expired decimal", hsToken("HS256", `{"role":"anon","exp":1699999989.6}`), Error{CodeInvalidToken, "Token has expired 10 seconds ago"}},
		{"expired beats missing role", hsToken("HS256", `{"exp":1}`), Error{CodeInvalidToken, "Token has expired 1699999999 seconds ago"}},
		{"negative exp", hsToken("HS256", `{"role":"anon","exp":-5}`), Error{CodeInvalidToken, "Token has expired 1700000005 seconds ago"}},
		{"exp missing", hsToken("HS256", `{"role":"anon"}`), Error{CodeInvalidToken, MsgMissingClaims}},
		{"role missing", hsToken("HS256", `{"exp":1700000100}`), Error{CodeInvalidToken, MsgMissingClaims}},
		{"role empty", hsToken("HS256", `{"role":"","exp":1700000100}`), Error{CodeInvalidToken, MsgMissingClaims}},
		{"role not a string", hsToken("HS256", `{"role":1,"exp":1700000100}`), Error{CodeInvalidToken, MsgMissingClaims}},
		{"role null", hsToken("HS256", `{"role":null,"exp":1700000100}`), Error{CodeInvalidToken, MsgMissingClaims}},
		{"exp a string", hsToken("HS256", `{"role":"anon","exp":"1700000100"}`), Error{CodeInvalidToken, MsgInvalidExp}},
		{"exp null", hsToken("HS256", `{"role":"anon","exp":null}`), Error{CodeInvalidToken, MsgInvalidExp}},
		{"exp huge", hsToken("HS256", `{"role":"anon","exp":1e300}`), Error{CodeInvalidToken, MsgInvalidExp}},
		{"exp past 2^53", hsToken("HS256", `{"role":"anon","exp":9007199254740993}`), Error{CodeInvalidToken, MsgInvalidExp}},
		{"iat a string", hsToken("HS256", `{"role":"anon","exp":1700000100,"iat":"yesterday"}`), Error{CodeMalformed, MsgMalformed}},
		{"iat null", hsToken("HS256", `{"role":"anon","exp":1700000100,"iat":null}`), Error{CodeMalformed, MsgMalformed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testVerifier().Verify(tc.token)
			if err == nil {
				t.Fatalf("Verify = %+v, want %v", c, tc.want)
			}
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("Verify error %T %v, want *Error", err, err)
			}
			if *got != tc.want {
				t.Errorf("Verify error = %#v, want %#v", *got, tc.want)
			}
		})
	}
}

func TestVerifyEmptySecret(t *testing.T) {
	tok := rawToken(nil, "HS256", `{"alg":"HS256","typ":"JWT"}`, validClaims)
	_, err := NewVerifier(nil).Verify(tok)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeSignerFailure {
		t.Errorf("Verify with an empty secret = %v, want a %s error", err, CodeSignerFailure)
	}
}

// TestNewVerifierCopiesSecret: the caller may wipe or reuse its buffer.
func TestNewVerifierCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	v := NewVerifier(secret, WithClock(func() time.Time { return testNow }))
	clear(secret)
	if _, err := v.Verify(hsToken("HS256", validClaims)); err != nil {
		t.Errorf("Verify after the caller cleared its secret: %v", err)
	}
}

func TestVerifyUsesClock(t *testing.T) {
	tok := hsToken("HS256", `{"role":"anon","exp":1700000100}`)
	v := NewVerifier(testSecret, WithClock(func() time.Time { return testNow.Add(time.Hour) }))
	_, err := v.Verify(tok)
	if got, want := errString(err), "InvalidJWTToken: Token has expired 3500 seconds ago"; got != want {
		t.Errorf("Verify = %q, want %q", got, want)
	}
	// The default clock is the real one: a token that expired in 2023 fails.
	if _, err := NewVerifier(testSecret).Verify(tok); err == nil {
		t.Error("Verify with the real clock accepted a token that expired in 2023")
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestError(t *testing.T) {
	tests := []struct {
		err         *Error
		wantString  string
		wantExpired bool
	}{
		{errExpired(5), "InvalidJWTToken: Token has expired 5 seconds ago", true},
		{errMissingClaims(), "InvalidJWTToken: Fields `role` and `exp` are required in JWT", false},
		{errInvalidExp(), "InvalidJWTToken: Token expiration time is invalid", false},
		{errMalformed(), "MalformedJWT: The token provided is not a valid JWT", false},
		{errSignature(), "JwtSignatureError: Failed to validate JWT signature", false},
		{errSigner(), "JwtSignerError: Failed to generate JWT signer, check your JWT secret or JWKS configuration", false},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.wantString {
			t.Errorf("Error() = %q, want %q", got, tc.wantString)
		}
		if got := tc.err.Expired(); got != tc.wantExpired {
			t.Errorf("%q.Expired() = %v, want %v", tc.wantString, got, tc.wantExpired)
		}
	}
}
