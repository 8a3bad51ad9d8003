package auth

import (
	"strings"
	"testing"
)

func TestSign(t *testing.T) {
	tok, err := Sign(testSecret, map[string]any{"role": "anon", "exp": 1700000100, "iss": "walcast"})
	if err != nil {
		t.Fatal(err)
	}
	// Fixed header and sorted claims make the token deterministic.
	want := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJleHAiOjE3MDAwMDAxMDAsImlzcyI6IndhbGNhc3QiLCJyb2xlIjoiYW5vbiJ9."
	if !strings.HasPrefix(tok, want) {
		t.Errorf("Sign = %s, want prefix %s", tok, want)
	}
	if got := hsToken("HS256", `{"exp":1700000100,"iss":"walcast","role":"anon"}`); tok != got {
		t.Errorf("Sign = %s, want %s", tok, got)
	}
	c, err := testVerifier().Verify(tok)
	if err != nil {
		t.Fatalf("Verify(Sign(...)): %v", err)
	}
	if c.Role != "anon" || c.Raw["iss"] != "walcast" {
		t.Errorf("claims = %+v", c)
	}
}

func TestSignErrors(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		claims  map[string]any
		wantErr string
	}{
		{"empty secret", nil, map[string]any{"role": "anon"}, "sign token: empty secret"},
		{"unencodable claim", testSecret, map[string]any{"c": make(chan int)}, "sign token: json: unsupported type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Sign(tc.secret, tc.claims)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("Sign error = %v, want prefix %q", err, tc.wantErr)
			}
		})
	}
}

func TestSignNilClaims(t *testing.T) {
	tok, err := Sign(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	// {} has neither role nor exp: the token is well formed but refused.
	_, err = testVerifier().Verify(tok)
	if got, want := errString(err), "InvalidJWTToken: "+MsgMissingClaims; got != want {
		t.Errorf("Verify(Sign(nil)) = %q, want %q", got, want)
	}
}
