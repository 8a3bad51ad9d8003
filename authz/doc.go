// Package authz answers, from Postgres itself, what a token may see, the way
// Supabase Realtime asks it, so that GRANTs and row-level security policies
// written for Supabase apply unchanged:
//
//   - TableAccess, at subscribe: may the token's role SELECT the table, which
//     columns may it read, what is the primary key and may it read it, and
//     does row security apply to it (enabled or forced, and not bypassed by
//     the service role, a superuser, a BYPASSRLS role or the table's owner).
//   - VisibleKeys, per batch of changes: which of the changed rows, named by
//     primary key, the role sees with the token's claims. One query answers
//     a whole batch for one (role, claims) group and one table, each key an
//     index probe of the primary key. VisibleKeysGroups asks it for every
//     group subscribed to the table, several groups per transaction and
//     round trip.
//   - ChannelRead and ChannelWrite, for private channels: do the policies on
//     realtime.messages let the token read (at join) and write (at the first
//     send or track) the topic.
//
// Every check runs in a transaction that is rolled back, with the settings
// Supabase sets (transaction-local): role, request.jwt.claims,
// request.jwt.claim.sub, request.jwt.claim.role, and for channels
// realtime.topic and request.headers. So auth.uid(), auth.role(), auth.jwt()
// and realtime.topic() return in a policy what they return under Supabase.
//
// # Semantics the caller must know
//
// A commit reaches the replication stream as soon as its WAL is flushed,
// a moment before the committing backend leaves the proc array: a check
// run in that moment does not see the transaction's rows. WaitCommitted
// waits for the transactions of a batch (by xid); VisibleKeysGroups asks
// the same in the transaction of its checks, before them, and waits only
// when one has not ended.
//
// Visibility is judged when VisibleKeys runs, on the table as it is then,
// not as it was at the change's commit: a row updated again, or whose
// policy inputs (a membership row, say) changed meanwhile, is judged on its
// current state, and a row deleted meanwhile is not visible. This is what
// Supabase does (its walrus check reads the live table by primary key). The
// gap is the delivery delay, milliseconds; a policy change reaches changes
// checked after it commits.
//
// DELETE is not checked, as in Supabase: the row is gone, so no SELECT can
// say whether the role could see it. A subscriber allowed to SELECT the
// table receives the DELETE of a table with row security with old_record
// cut to the primary key (TableAccess.RowChecked tells when). Any row-level
// rule would need the deleted row's values at commit, which only the WAL
// has; evaluating a policy on them outside the table is not sound in
// general (policies may read other tables as they were at commit).
//
// A check that fails (a policy raising an error, say for a sub that is not
// a uuid under auth.uid()) returns the error: the caller delivers nothing
// for that group (fail closed) and reports it.
//
// Results are not cached here beyond each table's catalog facts (primary
// key, types): TableAccess is asked at subscribe, the channel checks once
// per channel as Supabase does, and the caller keeps their answers for the
// lifetime of a token, asking again when the client sends a new
// access_token.
package authz
