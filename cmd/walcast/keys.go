package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/walcast/walcast/auth"
)

// keyFlagValues are the flags of the token keys besides --jwt-secret.
type keyFlagValues struct {
	jwksURL, jwks, issuer, audience *string
}

func keyFlags(f *flags) keyFlagValues {
	return keyFlagValues{
		jwksURL:  f.string("jwks-url", "WALCAST_JWKS_URL", "", "URL of a JWKS whose keys sign RS/ES/EdDSA tokens, e.g. https://<project>.supabase.co/auth/v1/.well-known/jwks.json (fetched hourly and on an unknown kid)"),
		jwks:     f.string("jwks", "WALCAST_JWKS", "", `JWKS as JSON ({"keys":[...]}), or @file to read it from a file`),
		issuer:   f.string("jwt-issuer", "WALCAST_JWT_ISSUER", "", "when set, tokens must carry this iss claim"),
		audience: f.string("jwt-audience", "WALCAST_JWT_AUDIENCE", "", "when set, tokens' aud claim must name this audience"),
	}
}

// keyConfig is what the flags say, with an @file already read.
type keyConfig struct {
	jwksURL          string
	jwks             []byte
	issuer, audience string
}

func (k keyConfig) hasKeys() bool { return k.jwksURL != "" || len(k.jwks) > 0 }

func (v keyFlagValues) config() (keyConfig, error) {
	k := keyConfig{jwksURL: strings.TrimSpace(*v.jwksURL), issuer: *v.issuer, audience: *v.audience}
	if j := strings.TrimSpace(*v.jwks); j != "" {
		if name, ok := strings.CutPrefix(j, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return k, usageErrorf("--jwks: %v", err)
			}
			k.jwks = b
		} else {
			k.jwks = []byte(j)
		}
		// Checked now, so a bad set is a usage error before anything starts.
		if _, err := auth.NewKeySet(context.Background(), auth.KeySetConfig{JSON: k.jwks}); err != nil {
			return k, usageErrorf("--jwks: %v", err)
		}
	}
	if k.jwksURL != "" {
		if u, err := url.Parse(k.jwksURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return k, usageErrorf("--jwks-url %q: want an http(s) URL", k.jwksURL)
		}
	}
	return k, nil
}

// newVerifier builds the token verifier; a JWKS URL is refreshed until ctx
// ends.
func newVerifier(ctx context.Context, cfg *serveConfig, log *slog.Logger) (*auth.Verifier, error) {
	opts := []auth.Option{auth.WithIssuer(cfg.keys.issuer), auth.WithAudience(cfg.keys.audience)}
	if cfg.keys.hasKeys() {
		ks, err := auth.NewKeySet(ctx, auth.KeySetConfig{JSON: cfg.keys.jwks, URL: cfg.keys.jwksURL, Logger: log})
		if err != nil {
			return nil, usageError{fmt.Errorf("--jwks / --jwks-url: %w", err)}
		}
		opts = append(opts, auth.WithKeySet(ks))
	}
	return auth.NewVerifier([]byte(cfg.jwtSecret), opts...), nil
}
