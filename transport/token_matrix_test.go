package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/phoenix"
)

// matrixKeys are the asymmetric keys of the token matrix: published ones
// (in the JWKS the server is given) and a rotated-out one.
type matrixKeys struct {
	rsa, rotated *rsa.PrivateKey
	ec           *ecdsa.PrivateKey
	ed           ed25519.PrivateKey
}

func newMatrixKeys(t *testing.T) matrixKeys {
	t.Helper()
	var k matrixKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.rotated, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k matrixKeys) jwks(t *testing.T) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for kid, pub := range map[string]any{"rsa": k.rsa.Public(), "ec": k.ec.Public(), "ed": k.ed.Public()} {
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
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

const (
	matrixIssuer   = "https://auth.example"
	matrixAudience = "authenticated"
)

func matrixClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"role": "anon", "exp": time.Now().Add(time.Hour).Unix(), "iss": matrixIssuer, "aud": matrixAudience}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rsHeadedHMAC is an RS256-headed token signed with HMAC over the HS
// secret: the key confusion attack.
func rsHeadedHMAC(secret []byte, c jwt.MapClaims) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "rsa"})
	p, _ := json.Marshal(c)
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// Every bad token is refused on every path that takes one (the connect,
// a join's access_token, an access_token push, REST) with the Verifier's
// Supabase text, and good RS256, ES256 and EdDSA tokens from the JWKS are
// accepted on all of them.
func TestTokenMatrix(t *testing.T) {
	keys := newMatrixKeys(t)
	ks, err := auth.NewKeySet(context.Background(), auth.KeySetConfig{JSON: keys.jwks(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(testSecret, auth.WithKeySet(ks), auth.WithIssuer(matrixIssuer), auth.WithAudience(matrixAudience))
	e := newEnv(t, Config{Verifier: v})
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, "", testSecret, c) }
	bad := []struct{ name, token string }{
		{"none", ""},
		{"garbage", "not-a-jwt"},
		{"alg none", sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, matrixClaims(nil))},
		{"wrong signature", sign(t, jwt.SigningMethodHS256, "", []byte("another-secret-of-at-least-32-characters!"), matrixClaims(nil))},
		{"HS secret on an RS-headed token", rsHeadedHMAC(testSecret, matrixClaims(nil))},
		{"expired", hs(matrixClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))},
		{"no exp", hs(matrixClaims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"no role", hs(matrixClaims(func(c jwt.MapClaims) { delete(c, "role") }))},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, "nope", keys.rotated, matrixClaims(nil))},
		{"rotated-out key", sign(t, jwt.SigningMethodRS256, "rsa", keys.rotated, matrixClaims(nil))},
		{"wrong iss", hs(matrixClaims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{"wrong aud", hs(matrixClaims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }))},
	}
	good := []struct{ name, token string }{
		{"RS256", sign(t, jwt.SigningMethodRS256, "rsa", keys.rsa, matrixClaims(nil))},
		{"ES256", sign(t, jwt.SigningMethodES256, "ec", keys.ec, matrixClaims(nil))},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, "ed", keys.ed, matrixClaims(nil))},
	}
	message := func(token string) string {
		_, err := v.Verify(token)
		if err == nil {
			t.Fatalf("Verify accepted %q", token)
		}
		var ae *auth.Error
		if errors.As(err, &ae) {
			return ae.Message
		}
		return err.Error()
	}
	anyGood := good[0].token
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			msg := message(tc.token)
			// Connect: refused before the upgrade.
			resp, body := httpGet(t, e.http.URL+"/realtime/v1/websocket?vsn=2.0.0&apikey="+tc.token, nil)
			if resp.StatusCode != http.StatusUnauthorized || tc.token != "" && !strings.Contains(body, jsonText(msg)) {
				t.Errorf("connect: %d %s, want 401 with %q", resp.StatusCode, body, msg)
			}
			// Join with it as access_token, on a socket opened with a good key.
			c := e.dialURL(t, phoenix.V2, e.url("/realtime/v1/websocket", "apikey="+anyGood+"&vsn=2.0.0"))
			if tc.token != "" { // an empty access_token means "use the apikey"
				f := c.join("realtime:m", "1", `{"access_token":"`+tc.token+`"}`)
				if !strings.Contains(string(f.Payload), `"status":"error"`) || !strings.Contains(string(f.Payload), jsonText(msg)) {
					t.Errorf("join: %s, want an error with %q", f, msg)
				}
			}
			// access_token push on a joined channel: closes it with the text.
			c.joinRoom("realtime:p", "2", false, false, false)
			if tc.token != "" {
				c.send("2", "3", "realtime:p", "access_token", `{"access_token":"`+tc.token+`"}`)
				got := c.sync()
				if len(got) != 2 || !strings.Contains(got[0].data, jsonText(msg)) || !strings.Contains(got[1].data, `"phx_close"`) {
					t.Errorf("access_token: %v, want a system error with %q and phx_close", got, msg)
				}
			}
			// REST.
			resp, body = post(t, "POST", e.http.URL+"/api/broadcast/room/events/e", map[string]string{"Authorization": "Bearer " + tc.token}, `{}`)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("REST: %d %s, want 401", resp.StatusCode, body)
			}
		})
	}
	for _, tc := range good {
		t.Run("good "+tc.name, func(t *testing.T) {
			c := e.dialURL(t, phoenix.V2, e.url("/realtime/v1/websocket", "apikey="+tc.token+"&vsn=2.0.0"))
			c.joinRoom("realtime:g", "1", false, false, false)
			f := c.join("realtime:h", "2", `{"access_token":"`+tc.token+`"}`)
			if !strings.Contains(string(f.Payload), `"status":"ok"`) {
				t.Errorf("join with an access_token: %s", f)
			}
			resp, body := post(t, "POST", e.http.URL+"/api/broadcast/room/events/e", map[string]string{"Authorization": "Bearer " + tc.token}, `{}`)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("REST: %d %s, want 202", resp.StatusCode, body)
			}
		})
	}
}

// jsonText is s as it appears inside a JSON string, up to its first digit:
// "Token has expired N seconds ago" may count one second more by the time
// the server checks.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	t := string(b[1 : len(b)-1])
	if i := strings.IndexAny(t, "0123456789"); i > 0 {
		t = t[:i]
	}
	return t
}
