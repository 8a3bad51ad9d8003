package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// testKey is a private key and the kid and alg its public half is
// published under.
type testKey struct {
	kid, alg string
	priv     crypto.Signer
}

var (
	keysOnce sync.Once
	keys     map[string]testKey // by kid
)

func testKeys(t *testing.T) map[string]testKey {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]testKey{}
		add := func(kid, alg string, priv crypto.Signer, err error) {
			if err != nil {
				panic(err)
			}
			keys[kid] = testKey{kid, alg, priv}
		}
		rsa1, err := rsa.GenerateKey(rand.Reader, 2048)
		add("rsa1", "RS256", rsa1, err)
		add("rsa384", "RS384", rsa1, nil)
		add("rsa512", "RS512", rsa1, nil)
		rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
		add("rsa2", "RS256", rsa2, err)
		ec256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		add("ec256", "ES256", ec256, err)
		ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		add("ec384", "ES384", ec384, err)
		ec521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		add("ec521", "ES512", ec521, err)
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		add("ed1", "EdDSA", ed, err)
	})
	return keys
}

// jwksJSON publishes the public keys of kids, plus oct keys given as
// kid → secret.
func jwksJSON(t *testing.T, kids []string, oct map[string][]byte) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, kid := range kids {
		k := testKeys(t)[kid]
		jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	for kid, secret := range oct {
		jwk, err := jwkset.NewJWKFromKey(secret, jwkset.JWKOptions{Marshal: jwkset.JWKMarshalOptions{Private: true}, Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signWith signs claims (JSON) with the private key of kid under its alg;
// the kid header is left out when noKid.
func signWith(t *testing.T, kid string, claims string, noKid bool) string {
	t.Helper()
	k := testKeys(t)[kid]
	var m jwt.MapClaims
	if err := json.Unmarshal([]byte(claims), &m); err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), m)
	if !noKid {
		tok.Header["kid"] = kid
	}
	var key any = k.priv
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves a JWKS that the test can swap, counting requests.
type jwksServer struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	requests atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{}
	s.body.Store(&body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) { s.body.Store(&body) }

func urlVerifier(t *testing.T, url string, unknownKID time.Duration, opts ...Option) *Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ks, err := NewKeySet(ctx, KeySetConfig{URL: url, UnknownKIDInterval: unknownKID, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithKeySet(ks), WithClock(func() time.Time { return testNow })}, opts...)
	return NewVerifier(testSecret, opts...)
}

const rsClaims = `{"role":"authenticated","sub":"u1","exp":1700000100,"iss":"https://auth.example","aud":"authenticated"}`

func TestVerifyJWKSGood(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, []string{"rsa1", "rsa384", "rsa512", "ec256", "ec384", "ec521", "ed1"}, map[string][]byte{"hs1": []byte("oct-secret-from-the-jwks")}))
	v := urlVerifier(t, srv.URL, time.Millisecond, WithIssuer("https://auth.example"), WithAudience("authenticated"))
	for _, kid := range []string{"rsa1", "rsa384", "rsa512", "ec256", "ec384", "ec521", "ed1"} {
		for _, noKid := range []bool{false, true} {
			name := testKeys(t)[kid].alg + "/" + kid
			if noKid {
				name += "/no kid"
			}
			t.Run(name, func(t *testing.T) {
				c, err := v.Verify(signWith(t, kid, rsClaims, noKid))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Role != "authenticated" || c.Sub != "u1" || c.Exp.Unix() != 1700000100 {
					t.Errorf("claims = %+v", c)
				}
			})
		}
	}
	t.Run("HS256 with the kid of an oct JWK", func(t *testing.T) {
		tok := rawToken([]byte("oct-secret-from-the-jwks"), "HS256", `{"alg":"HS256","typ":"JWT","kid":"hs1"}`, rsClaims)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("HS256 with a kid the JWKS lacks uses the secret", func(t *testing.T) {
		tok := rawToken(testSecret, "HS256", `{"alg":"HS256","typ":"JWT","kid":"supabase-legacy"}`, rsClaims)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("audience in an array", func(t *testing.T) {
		tok := signWith(t, "ec256", `{"role":"anon","exp":1700000100,"iss":"https://auth.example","aud":["x","authenticated"]}`, false)
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestVerifyInlineJWKS(t *testing.T) {
	ks, err := NewKeySet(context.Background(), KeySetConfig{JSON: jwksJSON(t, []string{"ec256", "ed1"}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(nil, WithKeySet(ks), WithClock(func() time.Time { return testNow }))
	for _, kid := range []string{"ec256", "ed1"} {
		if _, err := v.Verify(signWith(t, kid, rsClaims, false)); err != nil {
			t.Errorf("%s: %v", kid, err)
		}
	}
	// No secret: an HS token is refused even when signed with an empty key.
	if _, err := v.Verify(rawToken(nil, "HS256", `{"alg":"HS256"}`, rsClaims)); errString(err) != "JwtSignerError: "+MsgSignerFailure {
		t.Errorf("HS token without a secret: %v", err)
	}
}

func TestNewKeySetErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  KeySetConfig
		want string
	}{
		{"nothing", KeySetConfig{}, "give a JWK Set"},
		{"not JSON", KeySetConfig{JSON: []byte("{")}, "want a JSON object"},
		{"no keys", KeySetConfig{JSON: []byte(`{"keys":[]}`)}, `no "keys"`},
		{"bad URL", KeySetConfig{URL: "ftp://x/jwks"}, "want an http(s) URL"},
		{"relative URL", KeySetConfig{URL: "/jwks.json"}, "want an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeySet(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewKeySet error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestVerifyBadTokenMatrix: every kind of bad token gets Supabase's text,
// with a JWKS served over HTTP beside the shared secret.
func TestVerifyBadTokenMatrix(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, []string{"rsa1", "ec256", "ed1"}, nil))
	v := urlVerifier(t, srv.URL, time.Millisecond, WithIssuer("https://auth.example"), WithAudience("authenticated"))
	enc := base64.RawURLEncoding.EncodeToString
	good := signWith(t, "rsa1", rsClaims, false)
	parts := strings.Split(good, ".")
	// wrongKey: rsa2's signature under rsa1's kid.
	wrongKey := signWith(t, "rsa2", rsClaims, true)
	wrongKeyParts := strings.Split(wrongKey, ".")
	tests := []struct {
		name, token, want string
	}{
		{"none", "", "MalformedJWT: " + MsgMalformed},
		{"garbage", "not a token at all", "MalformedJWT: " + MsgMalformed},
		{"garbage segments", "abc.def.ghi", "MalformedJWT: " + MsgMalformed},
		{"alg none", enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", "JwtSignerError: " + MsgSignerFailure},
		{"wrong signature", parts[0] + "." + parts[1] + "." + wrongKeyParts[2], "JwtSignatureError: " + MsgSignature},
		{"tampered claims", parts[0] + "." + enc([]byte(`{"role":"service_role","exp":1700000100,"iss":"https://auth.example","aud":"authenticated"}`)) + "." + parts[2], "JwtSignatureError: " + MsgSignature},
		{"HS secret signs an RS-headed token", rawToken(testSecret, "HS256", `{"alg":"RS256","typ":"JWT","kid":"rsa1"}`, rsClaims), "JwtSignatureError: " + MsgSignature},
		{"HS secret signs an ES-headed token without kid", rawToken(testSecret, "HS256", `{"alg":"ES256","typ":"JWT"}`, rsClaims), "JwtSignatureError: " + MsgSignature},
		{"RS token names an EC key", rawToken(testSecret, "HS256", `{"alg":"RS256","kid":"ec256"}`, rsClaims), `JwtSignerError: Failed to generate JWT signer for key ID (kid) "ec256", check your JWT secret or JWKS configuration`},
		{"ES512 token names a P-256 key", rawToken(testSecret, "HS256", `{"alg":"ES512","kid":"ec256"}`, rsClaims), `JwtSignerError: Failed to generate JWT signer for key ID (kid) "ec256", check your JWT secret or JWKS configuration`},
		{"expired", signWith(t, "ec256", `{"role":"anon","exp":1699999990}`, false), "InvalidJWTToken: Token has expired 10 seconds ago"},
		{"no exp", signWith(t, "ed1", `{"role":"anon","iss":"https://auth.example","aud":"authenticated"}`, false), "InvalidJWTToken: " + MsgMissingClaims},
		{"no role", signWith(t, "ed1", `{"exp":1700000100,"iss":"https://auth.example","aud":"authenticated"}`, false), "InvalidJWTToken: " + MsgMissingClaims},
		{"unknown kid", signWith(t, "rsa2", rsClaims, false), `JwtSignerError: Failed to generate JWT signer for key ID (kid) "rsa2", check your JWT secret or JWKS configuration`},
		{"kid not a string", rawToken(testSecret, "HS256", `{"alg":"RS256","kid":7}`, rsClaims), "JwtSignerError: " + MsgSignerFailure},
		{"wrong iss", signWith(t, "ec256", `{"role":"anon","exp":1700000100,"iss":"https://evil.example","aud":"authenticated"}`, false), "InvalidJWTToken: Token claim `iss` is invalid"},
		{"no iss", signWith(t, "ec256", `{"role":"anon","exp":1700000100,"aud":"authenticated"}`, false), "InvalidJWTToken: Token claim `iss` is invalid"},
		{"wrong aud", signWith(t, "ec256", `{"role":"anon","exp":1700000100,"iss":"https://auth.example","aud":"other"}`, false), "InvalidJWTToken: Token claim `aud` is invalid"},
		{"aud array without ours", signWith(t, "ec256", `{"role":"anon","exp":1700000100,"iss":"https://auth.example","aud":["a","b"]}`, false), "InvalidJWTToken: Token claim `aud` is invalid"},
		{"HS token wrong secret", rawToken([]byte("nope"), "HS256", `{"alg":"HS256"}`, rsClaims), "JwtSignatureError: " + MsgSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token)
			var e *Error
			if err == nil || !errors.As(err, &e) {
				t.Fatalf("Verify = %+v, %v; want *Error %q", c, err, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Verify error = %q, want %q", err, tc.want)
			}
		})
	}
	// Without a key set, asymmetric tokens have no signer at all.
	if _, err := testVerifier().Verify(good); errString(err) != "JwtSignerError: "+MsgSignerFailure {
		t.Errorf("RS token without a JWKS: %v", err)
	}
}

// TestVerifyRotatedJWKS: after the endpoint rotates its keys, a token of
// the new key is accepted (its unknown kid fetches the set again) and a
// token of the removed key is refused.
func TestVerifyRotatedJWKS(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, []string{"rsa1"}, nil))
	v := urlVerifier(t, srv.URL, time.Millisecond)
	oldTok, newTok := signWith(t, "rsa1", rsClaims, false), signWith(t, "ec256", rsClaims, false)
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	srv.serve(jwksJSON(t, []string{"ec256"}, nil))
	time.Sleep(5 * time.Millisecond) // past UnknownKIDInterval
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	_, err := v.Verify(oldTok)
	if want := `JwtSignerError: Failed to generate JWT signer for key ID (kid) "rsa1", check your JWT secret or JWKS configuration`; errString(err) != want {
		t.Fatalf("removed key after rotation: %v, want %q", err, want)
	}
}

// TestVerifyUnknownKIDRateLimited: forged kids fetch the set at most once
// per interval, and a refused token does not wait for the limiter.
func TestVerifyUnknownKIDRateLimited(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, []string{"rsa1"}, nil))
	v := urlVerifier(t, srv.URL, time.Hour)
	start := srv.requests.Load() // the first fetch
	begin := time.Now()
	for i := range 50 {
		tok := rawToken(testSecret, "HS256", `{"alg":"RS256","kid":"forged-`+string(rune('a'+i%26))+`"}`, rsClaims)
		if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "JwtSignerError") {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if got := srv.requests.Load() - start; got != 1 {
		t.Errorf("50 unknown kids fetched the JWKS %d times, want 1", got)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("50 refusals took %v: Verify waited for the rate limiter", d)
	}
}

// TestKeySetStartsWithoutEndpoint: an unreachable JWKS URL does not stop
// walcast from starting; its tokens are refused until the keys arrive.
func TestKeySetStartsWithoutEndpoint(t *testing.T) {
	srv := newJWKSServer(t, nil)
	url := srv.URL
	srv.Close()
	v := urlVerifier(t, url, time.Millisecond)
	if _, err := v.Verify(signWith(t, "rsa1", rsClaims, false)); err == nil || !strings.Contains(err.Error(), "JwtSignerError") {
		t.Fatalf("Verify with the endpoint down = %v, want a JwtSignerError", err)
	}
}

// TestKeySetBoundsResponse: a JWKS response over 1 MiB is refused, not
// read to its end; its keys stay unknown.
func TestKeySetBoundsResponse(t *testing.T) {
	set := jwksJSON(t, []string{"rsa1"}, nil)
	huge := append([]byte(`{"padding":"`+strings.Repeat("x", 2<<20)+`",`), set[1:]...)
	srv := newJWKSServer(t, huge)
	v := urlVerifier(t, srv.URL, time.Millisecond)
	if _, err := v.Verify(signWith(t, "rsa1", rsClaims, false)); err == nil || !strings.Contains(err.Error(), "JwtSignerError") {
		t.Fatalf("Verify with an oversized JWKS = %v, want a JwtSignerError", err)
	}
	srv.serve(set)
	time.Sleep(5 * time.Millisecond)
	if _, err := v.Verify(signWith(t, "rsa1", rsClaims, false)); err != nil {
		t.Fatalf("Verify once the JWKS is back to size: %v", err)
	}
}

// TestVerifyHSKidDoesNotFetch: HS tokens whose kid the JWKS lacks (all of
// Supabase Auth's) are checked with the secret without fetching the JWKS.
func TestVerifyHSKidDoesNotFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, []string{"rsa1"}, nil))
	v := urlVerifier(t, srv.URL, time.Millisecond)
	start := srv.requests.Load()
	for i := range 20 {
		tok := rawToken(testSecret, "HS256", `{"alg":"HS256","typ":"JWT","kid":"k`+string(rune('a'+i))+`"}`, rsClaims)
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // past UnknownKIDInterval
	}
	if got := srv.requests.Load() - start; got != 0 {
		t.Errorf("20 HS tokens with kids fetched the JWKS %d times, want 0", got)
	}
}
