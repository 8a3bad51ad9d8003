package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the verified claims of a token.
type Claims struct {
	Role string
	Sub  string // "" when absent or not a string
	Exp  time.Time
	Raw  map[string]any // every claim (numbers as json.Number), for RLS later
}

// Verifier checks tokens signed with the shared secret or with a key of its
// KeySet. It is safe for concurrent use.
type Verifier struct {
	secret   []byte
	keys     *KeySet
	issuer   string
	audience string
	now      func() time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock makes the Verifier read the time from now instead of time.Now,
// so tests can check expiry without sleeping.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithKeySet accepts RS256/384/512, ES256/384/512 and EdDSA tokens signed
// by a key of ks, and HS tokens whose kid names an oct key of ks.
func WithKeySet(ks *KeySet) Option { return func(v *Verifier) { v.keys = ks } }

// WithIssuer requires the `iss` claim to equal iss ("" checks nothing).
func WithIssuer(iss string) Option { return func(v *Verifier) { v.issuer = iss } }

// WithAudience requires `aud` (a string or an array of strings) to name
// aud ("" checks nothing).
func WithAudience(aud string) Option { return func(v *Verifier) { v.audience = aud } }

// NewVerifier returns a Verifier for HS256/HS384/HS512 tokens signed with
// secret, and for the tokens of the KeySet given WithKeySet. With an empty
// secret an HS token is refused (JwtSignerError) unless its kid names an
// oct key of the KeySet: an empty HMAC key would let anyone sign.
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

// algorithms are the accepted `alg` values.
var algorithms = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// Verify checks token and returns its claims. Every failure is an *Error:
//
//	MalformedJWT      "The token provided is not a valid JWT"
//	JwtSignerError    "Failed to generate JWT signer, ..." (an alg no configured key verifies, or typ other than JWT)
//	                  "Failed to generate JWT signer for key ID (kid) \"k\", ..." (a kid no key answers to)
//	JwtSignatureError "Failed to validate JWT signature"
//	InvalidJWTToken   "Token has expired N seconds ago" / "Fields `role` and `exp` are required in JWT" /
//	                  "Token expiration time is invalid" / "Token claim `iss` is invalid" (or `aud`)
//
// The checks run in the Elixir server's order, so a token with two problems
// gets the same message: shape and claims JSON, header and alg, key,
// signature, then exp (only if present), then the required claims; iss and
// aud last.
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
	key, kerr := v.key(header)
	if kerr != nil {
		return nil, kerr
	}
	alg := header["alg"].(string) // key checked it
	parser := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithPaddingAllowed(),
		jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	if _, err := parser.Parse(token, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		// The shape was checked above, so what the library still refuses
		// is the signature (bad base64 included).
		return nil, errSignature()
	}
	return v.checkClaims(raw)
}

// key picks the key for the header's alg and kid, or says why there is
// none ("none" and unknown algs included).
func (v *Verifier) key(header map[string]any) (any, *Error) {
	if typ, ok := header["typ"]; ok && typ != "JWT" {
		return nil, errSigner()
	}
	alg, _ := header["alg"].(string)
	if !algorithms[alg] {
		return nil, errSigner()
	}
	kid, hasKid := header["kid"].(string)
	if _, present := header["kid"]; present && !hasKid {
		return nil, errSigner()
	}
	if strings.HasPrefix(alg, "HS") {
		// As Supabase: an oct key of the JWKS named by kid, else the secret
		// (Supabase Auth's HS tokens carry a kid that names no public key).
		if hasKid && v.keys != nil {
			if k := v.keys.octKey(alg, kid); k != nil {
				return k, nil
			}
		}
		if len(v.secret) == 0 {
			return nil, errSigner()
		}
		return v.secret, nil
	}
	if v.keys == nil {
		return nil, errSigner()
	}
	return v.keys.keyFor(alg, kid)
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
	if v.issuer != "" {
		if iss, _ := raw["iss"].(string); iss != v.issuer {
			return nil, errClaim("iss")
		}
	}
	if v.audience != "" && !hasAudience(raw["aud"], v.audience) {
		return nil, errClaim("aud")
	}
	return c, nil
}

// hasAudience reports whether aud (RFC 7519: a string or an array of
// strings) names want.
func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
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
