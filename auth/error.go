package auth

import "strconv"

// Codes of Error, as Supabase Realtime names them in join-error reasons.
const (
	CodeMalformed     = "MalformedJWT"
	CodeSignature     = "JwtSignatureError"
	CodeInvalidToken  = "InvalidJWTToken"
	CodeSignerFailure = "JwtSignerError"
)

// Messages of Error that do not vary.
const (
	MsgMalformed     = "The token provided is not a valid JWT"
	MsgSignature     = "Failed to validate JWT signature"
	MsgMissingClaims = "Fields `role` and `exp` are required in JWT"
	MsgInvalidExp    = "Token expiration time is invalid"
	MsgSignerFailure = "Failed to generate JWT signer, check your JWT secret or JWKS configuration"
	msgExpiredPrefix = "Token has expired "
	msgExpiredSuffix = " seconds ago"
)

// Error is a token problem with Supabase's code and message, e.g. Code
// "InvalidJWTToken", Message "Token has expired 5 seconds ago".
type Error struct{ Code, Message string }

// Error returns Code + ": " + Message, the "reason" of a refused join.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Expired reports whether the token was refused only because its exp passed,
// the one failure a client cures by refreshing its token.
func (e *Error) Expired() bool {
	return e.Code == CodeInvalidToken && len(e.Message) > len(msgExpiredPrefix) &&
		e.Message[:len(msgExpiredPrefix)] == msgExpiredPrefix
}

// Each failure gets its own *Error so a caller that edits one cannot change
// what later calls return.
func errMalformed() *Error     { return &Error{CodeMalformed, MsgMalformed} }
func errSignature() *Error     { return &Error{CodeSignature, MsgSignature} }
func errMissingClaims() *Error { return &Error{CodeInvalidToken, MsgMissingClaims} }
func errInvalidExp() *Error    { return &Error{CodeInvalidToken, MsgInvalidExp} }
func errSigner() *Error        { return &Error{CodeSignerFailure, MsgSignerFailure} }

// errSignerKid is Supabase's text for a kid no configured key answers to
// (Elixir's inspect of the kid, which quotes it).
func errSignerKid(kid string) *Error {
	return &Error{CodeSignerFailure, "Failed to generate JWT signer for key ID (kid) " + strconv.Quote(kid) +
		", check your JWT secret or JWKS configuration"}
}

// errClaim is a configured claim check (iss, aud) that failed.
func errClaim(name string) *Error {
	return &Error{CodeInvalidToken, "Token claim `" + name + "` is invalid"}
}

func errExpired(secondsAgo int64) *Error {
	return &Error{CodeInvalidToken, msgExpiredPrefix + strconv.FormatInt(secondsAgo, 10) + msgExpiredSuffix}
}
