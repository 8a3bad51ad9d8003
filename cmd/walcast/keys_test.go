package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

const testJWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`

func TestKeyFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, []byte(testJWKS), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want keyConfig
	}{
		{"flags", []string{"--jwks", testJWKS, "--jwks-url", "https://a.example/jwks.json", "--jwt-issuer", "i", "--jwt-audience", "a"}, nil,
			keyConfig{jwksURL: "https://a.example/jwks.json", jwks: []byte(testJWKS), issuer: "i", audience: "a"}},
		{"file", []string{"--jwks", "@" + file}, nil, keyConfig{jwks: []byte(testJWKS)}},
		{"environment", nil, map[string]string{"WALCAST_JWKS": "@" + file, "WALCAST_JWKS_URL": "http://b.example/j",
			"WALCAST_JWT_ISSUER": "iss", "WALCAST_JWT_AUDIENCE": "aud"},
			keyConfig{jwksURL: "http://b.example/j", jwks: []byte(testJWKS), issuer: "iss", audience: "aud"}},
		{"flag wins", []string{"--jwt-issuer", "flag"}, map[string]string{"WALCAST_JWT_ISSUER": "env"}, keyConfig{issuer: "flag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			cfg, err := parseServe(tc.args, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.keys
			if got.jwksURL != tc.want.jwksURL || string(got.jwks) != string(tc.want.jwks) || got.issuer != tc.want.issuer || got.audience != tc.want.audience {
				t.Errorf("keys = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKeysWithoutSecret: a JWKS alone is enough to serve a database.
func TestKeysWithoutSecret(t *testing.T) {
	getenv := func(string) string { return "" }
	if _, err := parseServe([]string{"--database-url", "postgres://x", "--jwks-url", "https://a.example/jwks.json"}, getenv, io.Discard); err != nil {
		t.Fatalf("serve with a JWKS URL and no secret: %v", err)
	}
}
