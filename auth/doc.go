// Package auth verifies the JWTs that clients present as their apikey and
// access_token, the way Supabase Realtime does: HS256, HS384 or HS512 with
// the shared secret, and RS256/384/512, ES256/384/512 and EdDSA (Ed25519)
// with the public keys of a JWKS, given inline, read from a file, or
// fetched from a URL (cached, refreshed in the background, and refreshed
// at most once per interval when a token names an unknown `kid`). `role`
// and `exp` are required; `iss` and `aud` are checked when configured.
//
// Signatures, algorithms and keys are github.com/golang-jwt/jwt/v5 and
// github.com/MicahParks/keyfunc/v3. The claim checks are ours, because
// Supabase's error texts ("Token has expired 5 seconds ago") need the
// numbers and the order of its checks.
//
// Failures are *Error values carrying Supabase's code and message, so the
// transport can put Error() into a join reply's "reason" (or Message into a
// `system` message) and realtime-js users see the texts they know.
//
// Deliberate differences from the Elixir server, each accepting tokens that
// server would refuse with an unhelpful error:
//   - a missing `typ` header is accepted (the Elixir server requires "JWT");
//   - a decimal `exp` is rounded (the Elixir server fails the join with
//     "Unknown Error on Channel");
//   - an RS/ES/EdDSA token without a `kid` is checked against every key of
//     the JWKS of its key type (the Elixir server refuses it).
//
// And three that refuse what it would accept only to fail later, or with a
// text that does not say why: `role` must be a non-empty string; `iat`,
// when present, must be a number; a wrong `iss` or `aud` is
// "InvalidJWTToken: Token claim `iss` is invalid" (the Elixir server's
// claim validators end in "Unknown Error on Channel").
package auth
