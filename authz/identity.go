package authz

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// Identity is who a check runs as: a verified token's role and claims.
// Subscribers with equal Keys are one group: one check answers for all.
type Identity struct {
	Role   string
	Sub    string // the `sub` claim, "" when absent or not a string
	Claims string // the claims as JSON, as request.jwt.claims holds them
	// Key identifies (Role, Claims): a hash, so a cache keyed by it does
	// not hold every token's claims twice.
	Key [32]byte
}

// NewIdentity builds the Identity of a token's claims (auth.Claims.Raw).
// The JSON is deterministic (object keys sorted), so equal claims give
// equal Keys.
func NewIdentity(role string, claims map[string]any) (Identity, error) {
	if role == "" {
		return Identity{}, fmt.Errorf("authz: identity without a role")
	}
	if claims == nil {
		claims = map[string]any{}
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return Identity{}, fmt.Errorf("authz: encode claims: %w", err)
	}
	id := Identity{Role: role, Claims: string(b)}
	id.Sub, _ = claims["sub"].(string)
	h := sha256.New()
	h.Write([]byte(role))
	h.Write([]byte{0})
	h.Write(b)
	h.Sum(id.Key[:0])
	return id, nil
}
