package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Claims are the verified claims of a token.
type Claims struct {
	Role string
	Sub  string // "" when absent or not a string
	Exp  time.Time
	Raw  map[string]any // every claim (numbers as json.Number), for RLS later
}

// Verifier checks tokens signed with one shared secret. It is safe for
// concurrent use.
type Verifier struct {
	secret []byte
	now    func() time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock makes the Verifier read the time from now instead of time.Now,
// so tests can check expiry without sleeping.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// NewVerifier returns a Verifier for HS256/HS384/HS512 tokens signed with
// secret. With an empty secret every token is refused (JwtSignerError): an
// empty HMAC key would let anyone sign.
func NewVerifier(secret []byte, opts ...Option) *Verifier {
	v := &Verifier{secret: bytes.Clone(secret), now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v
}

// maxSafeSeconds bounds exp: past 2^53 a JSON number no longer names one
// second, and time.Unix would overflow long before math.MaxInt64.
const maxSafeSeconds = 1 << 53

// Verify checks token and returns its claims. Every failure is an *Error:
//
//	MalformedJWT      "The token provided is not a valid JWT"
//	JwtSignerError    "Failed to generate JWT signer, ..." (alg other than HS256/384/512, or typ other than JWT)
//	JwtSignatureError "Failed to validate JWT signature"
//	InvalidJWTToken   "Token has expired N seconds ago" / "Fields `role` and `exp` are required in JWT" /
//	                  "Token expiration time is invalid"
//
// The checks run in the Elixir server's order, so a token with two problems
// gets the same message: shape and claims JSON, header and alg, signature,
// then exp (only if present), then the required claims.
func (v *Verifier) Verify(token string) (*Claims, error) {
	token, ok := cleanToken(token)
	if !ok {
		return nil, errMalformed()
	}
	head, rest, ok1 := strings.Cut(token, ".")
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sig, '.') >= 0 {
		return nil, errMalformed()
	}
	raw, ok := decodeObject(body)
	if !ok {
		return nil, errMalformed()
	}
	header, ok := decodeObject(head)
	if !ok {
		return nil, errMalformed()
	}
	newHash := v.signer(header)
	if newHash == nil {
		return nil, errSigner()
	}
	got, err := decodeSegment(sig)
	if err != nil {
		return nil, errSignature()
	}
	mac := hmac.New(newHash, v.secret)
	mac.Write([]byte(token[:len(head)+1+len(body)]))
	// hmac.Equal is constant-time for equal lengths, so the comparison
	// leaks nothing about how much of a forged signature was right.
	if !hmac.Equal(mac.Sum(nil), got) {
		return nil, errSignature()
	}
	return v.checkClaims(raw)
}

func (v *Verifier) checkClaims(raw map[string]any) (*Claims, error) {
	c := &Claims{Raw: raw}
	expValue, hasExp := raw["exp"]
	if hasExp {
		exp, ok := seconds(expValue)
		if !ok {
			return nil, errInvalidExp()
		}
		now := v.now().Unix()
		if exp <= now {
			return nil, errExpired(now - exp)
		}
		c.Exp = time.Unix(exp, 0)
	}
	if iat, ok := raw["iat"]; ok {
		if _, ok := seconds(iat); !ok {
			return nil, errMalformed()
		}
	}
	role, _ := raw["role"].(string)
	if !hasExp || role == "" {
		return nil, errMissingClaims()
	}
	c.Role = role
	c.Sub, _ = raw["sub"].(string)
	return c, nil
}

// signer picks the hash for the header's alg, or nil when the token cannot
// be checked with a shared secret ("none" included).
func (v *Verifier) signer(header map[string]any) func() hash.Hash {
	if len(v.secret) == 0 {
		return nil
	}
	if typ, ok := header["typ"]; ok && typ != "JWT" {
		return nil
	}
	switch header["alg"] {
	case "HS256":
		return sha256.New
	case "HS384":
		return sha512.New384
	case "HS512":
		return sha512.New
	}
	return nil
}

// seconds reads a NumericDate, rounding a decimal one to whole seconds.
func seconds(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, i > -maxSafeSeconds && i < maxSafeSeconds
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) >= maxSafeSeconds {
		return 0, false
	}
	return int64(math.Round(f)), true
}

// cleanToken undoes what a URL or a copy-paste does to a token, as the
// Elixir server does: percent-decoding, then removing every white space.
func cleanToken(s string) (string, bool) {
	if strings.IndexByte(s, '%') >= 0 {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		s = d
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), "")
	}
	return s, true
}

func decodeSegment(s string) ([]byte, error) {
	// Some encoders pad; the padding carries no information.
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// decodeObject decodes one base64url segment holding a JSON object. Numbers
// stay json.Number so large integer claims keep every digit.
func decodeObject(s string) (map[string]any, bool) {
	b, err := decodeSegment(s)
	if err != nil || !json.Valid(b) { // Valid also refuses trailing data
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}
