package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// KeySetConfig says where a KeySet's keys come from: JSON (a JWK Set as
// Supabase stores it, {"keys":[...]}), URL (a JWKS endpoint such as
// <auth-url>/.well-known/jwks.json), or both, JSON keys winning.
type KeySetConfig struct {
	JSON []byte
	URL  string
	// RefreshInterval is how often the URL is fetched again (default 1h).
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by
	// tokens naming a kid the set lacks (default 1m), so that forged kids
	// cannot make walcast hammer the endpoint. A token whose kid arrives
	// while the limit holds is refused with JwtSignerError at once.
	UnknownKIDInterval time.Duration
	// HTTPTimeout bounds one fetch (default 10s); Verify waits for it
	// when a kid is unknown.
	HTTPTimeout time.Duration
	Client      *http.Client // default http.DefaultClient
	Logger      *slog.Logger // failed refreshes; default slog.Default()
}

// KeySet holds the public keys of RS/ES/EdDSA tokens (and oct keys of HS
// tokens with a kid). It is safe for concurrent use.
type KeySet struct{ kf keyfunc.Keyfunc }

// NewKeySet loads the keys. With a URL, the first fetch happens here (a
// failure is logged and retried, not returned, so walcast starts while the
// auth server is away) and a goroutine refreshes the set until ctx ends.
func NewKeySet(ctx context.Context, cfg KeySetConfig) (*KeySet, error) {
	if len(cfg.JSON) == 0 && cfg.URL == "" {
		return nil, errors.New("JWKS: give a JWK Set (JSON) or a URL")
	}
	var given jwkset.Storage
	if len(cfg.JSON) > 0 {
		var set jwkset.JWKSMarshal
		if err := json.Unmarshal(cfg.JSON, &set); err != nil {
			return nil, fmt.Errorf("JWKS: want a JSON object {\"keys\":[...]}: %w", err)
		}
		if len(set.Keys) == 0 {
			return nil, errors.New(`JWKS: the set has no "keys"`)
		}
		s, err := set.ToStorage()
		if err != nil {
			return nil, fmt.Errorf("JWKS: %w", err)
		}
		given = s
	}
	if cfg.URL == "" {
		kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: given})
		if err != nil {
			return nil, fmt.Errorf("JWKS: %w", err)
		}
		return &KeySet{kf}, nil
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("JWKS URL %q: want an http(s) URL", cfg.URL)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	noError := true
	client := &http.Client{Transport: limitBody{http.DefaultTransport}}
	if cfg.Client != nil {
		c := *cfg.Client
		if c.Transport == nil {
			c.Transport = http.DefaultTransport
		}
		c.Transport = limitBody{c.Transport}
		client = &c
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.URL}, keyfunc.Override{
		Client:                    client,
		Given:                     given,
		HTTPTimeout:               orDefault(cfg.HTTPTimeout, 10*time.Second),
		NoErrorReturnFirstHTTPReq: &noError,
		RefreshInterval:           orDefault(cfg.RefreshInterval, time.Hour),
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(orDefault(cfg.UnknownKIDInterval, time.Minute)), 1),
		// Verify must not wait long for the limiter: a token with an
		// unknown kid is refused at once while the limit holds for more than
		// this. (A zero or expired deadline would refuse every refresh.)
		RateLimitWaitMax: 100 * time.Millisecond,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "fetch JWKS failed; tokens signed with keys not yet known are refused", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	return &KeySet{kf}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// keyFor returns the key that checks a token signed with alg (already one
// of the accepted algorithms) and kid ("" when absent): one key, or a
// jwt.VerificationKeySet of every key of alg's type when there is no kid.
// A kid it cannot resolve to a key of the right type is errSignerKid, as in
// Supabase, which also matches the JWK's kty to the alg.
func (ks *KeySet) keyFor(alg, kid string) (any, *Error) {
	if kid == "" {
		set, err := ks.kf.VerificationKeySet(context.Background())
		if err != nil {
			return nil, errSigner()
		}
		var keys jwt.VerificationKeySet
		for _, k := range set.Keys {
			if keyFits(alg, k) {
				keys.Keys = append(keys.Keys, k)
			}
		}
		if len(keys.Keys) == 0 {
			return nil, errSigner()
		}
		return keys, nil
	}
	key, err := ks.kf.Keyfunc(&jwt.Token{Header: map[string]any{"alg": alg, "kid": kid}})
	if err != nil || !keyFits(alg, key) {
		return nil, errSignerKid(kid)
	}
	return key, nil
}

// octKey returns the oct (HMAC) key named kid among the keys already
// loaded, or nil. Unlike keyFor it never fetches: Supabase Auth's HS
// tokens all carry a kid that the JWKS does not list, and each of them
// must not cost a refresh.
func (ks *KeySet) octKey(alg, kid string) any {
	all, err := ks.kf.Storage().KeyReadAll(context.Background())
	if err != nil {
		return nil
	}
	for _, jwk := range all {
		m := jwk.Marshal()
		if m.KID != kid || m.KTY != jwkset.KtyOct {
			continue
		}
		if a := m.ALG.String(); a != "" && a != alg {
			return nil
		}
		if k := jwk.Key(); keyFits(alg, k) {
			return k
		}
	}
	return nil
}

// keyFits reports whether key is of the type alg verifies with, so that a
// token cannot pick, say, an RSA key's bytes as an HMAC secret.
func keyFits(alg string, key any) bool {
	switch alg[:2] {
	case "HS":
		k, ok := key.([]byte)
		return ok && len(k) > 0
	case "RS":
		_, ok := key.(*rsa.PublicKey)
		return ok
	case "ES":
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve.Params().BitSize == ecBits[alg]
	case "Ed":
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

var ecBits = map[string]int{"ES256": 256, "ES384": 384, "ES512": 521}

// maxJWKSBytes bounds a fetched JWKS; real ones are a few KB.
const maxJWKSBytes = 1 << 20

// limitBody cuts responses at maxJWKSBytes, so a broken or hostile
// endpoint cannot make walcast read without end.
type limitBody struct{ next http.RoundTripper }

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxJWKSBytes}
	}
	return resp, err
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("JWKS response over %d bytes", maxJWKSBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
