// Package access is the transport.Authorizer of walcast serve, on top of
// authz: it decides from Postgres, as Supabase Realtime does, whether a
// verified token may join a channel and send on it.
//
//   - Every join is refused when the token's role does not exist in the
//     database (role lookups are cached for a minute).
//   - Public channels (config.private false) are open to every verified
//     token, read and write, as in Supabase.
//   - Private channels are checked against the policies on
//     realtime.messages: read at join (authz.ChannelRead, broadcast or
//     presence), refused with "Unauthorized: You do not have permissions
//     to read from this Channel topic: <topic>"; write lazily, at the
//     first broadcast or track (authz.ChannelWrite), the answer kept by the
//     channel until its token changes. On a token refresh read is checked
//     again and a lost read closes the channel with "You no longer have
//     permission to read from this Channel topic: <topic>".
//   - The service role (Config.ServiceRole) may do everything, as it
//     bypasses row security in Supabase.
//
// REST publishes ask the same questions with the caller's token.
package access
