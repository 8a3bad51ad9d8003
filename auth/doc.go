// Package auth verifies the JWTs that clients present as their apikey and
// access_token, the way Supabase Realtime does for a tenant with a shared
// secret: HS256, HS384 or HS512, with `role` and `exp` required.
//
// Failures are *Error values carrying Supabase's code and message, so the
// transport can put Error() into a join reply's "reason" (or Message into a
// `system` message) and realtime-js users see the texts they know.
//
// The package uses only the standard library: the handful of checks below
// are easier to audit here than a general JWT library's options.
//
// Deliberate differences from the Elixir server, each accepting tokens that
// server would refuse with an unhelpful error:
//   - a missing `typ` header is accepted (the Elixir server requires "JWT");
//   - a decimal `exp` is rounded (the Elixir server fails the join with
//     "Unknown Error on Channel").
//
// And two that refuse what it would accept only to fail later: `role` must be
// a non-empty string, and `iat`, when present, must be a number.
package auth
