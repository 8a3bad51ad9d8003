package auth

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Sign returns an HS256 token with claims, for tests and for printing a
// ready anon token in local mode. It does not add exp or role: the caller
// decides what the token says. The header is {"alg":"HS256","typ":"JWT"}
// and the claims are encoded with sorted keys, so a token is deterministic.
func Sign(secret []byte, claims map[string]any) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("sign token: empty secret")
	}
	if claims == nil {
		claims = map[string]any{} // "null" would not be a valid claims set
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}
