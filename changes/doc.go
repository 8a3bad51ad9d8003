// Package changes dispatches the row changes of a replication.Stream to the
// postgres_changes bindings of Supabase Realtime channels.
//
// A channel joins with bindings {event, schema, table, filter}; Subscribe
// gives each an id (the id of the join reply), checks it against the
// publication and the catalog, and registers it with a Sink that stands for
// the channel. The Dispatcher is the stream's Handler: for each change it
// finds the matching bindings through one filter.Index, encodes the change
// once, and calls each matching sink once with the ids of all its bindings
// the change satisfies: one postgres_changes message per channel, not per
// binding.
//
// # Bindings
//
// As in Supabase: event "*" or INSERT, UPDATE, DELETE in any case, anything
// else meaning "*"; {schema, table}, {schema} (every table of the schema)
// or {table} (schema public), "*" matching any schema or table. A binding
// is refused when it covers no table of the publication (the table is
// missing or not published), with Supabase's "Unable to subscribe to
// changes with given parameters..." text, or when its filter does not
// parse, exceeds Config.FilterLimits or does not compile against a table it
// covers, with the filter package's error, which names the condition and
// column (and the limit). Refusing one
// binding leaves the others of the call active.
//
// # Which row filters see
//
// INSERT and UPDATE are matched on the new row (an unchanged TOASTed value
// taken from the old row when the replica identity sends it), DELETE on the
// old row, which holds only the key columns unless the table has REPLICA
// IDENTITY FULL: a filter on another column never matches a DELETE then.
// TRUNCATE is never delivered.
//
// # Authorization
//
// With Config.Authz each binding carries its Viewer (the token's role and
// claims) and is checked as Supabase checks it (viewer.go): at subscribe
// the role must SELECT each table it names (Error 401), the table needs a
// primary key (Error 400) the role may read (Error 401), and only the
// columns it may read are kept (view.go: one encoding per change and
// column set). For tables under row security that the role does not
// bypass, INSERT and UPDATE go through the row-check stage (rowcheck.go):
// a transaction's deliveries are queued at its commit to one goroutine that
// waits until the queued transactions are visible to new snapshots, asks
// authz.VisibleKeysGroups once per table for all keys and viewers of the
// queued transactions, then delivers in order. While anything is
// queued every delivery queues behind it, so each sink still sees changes
// in commit order; otherwise changes needing no check are delivered at
// once. DELETE is not checked and its old_record is cut to the primary
// key. Rows are judged when checked, not as of their commit (see authz).
// SetViewer re-authorizes a sink's bindings for a new token. Without
// Config.Authz every binding sees every published row and column.
//
// # The data object
//
// Sinks receive the `data` object of the postgres_changes payload, as
// replication.AppendChange writes it: schema, table, type,
// commit_timestamp, columns, record (INSERT, UPDATE), old_record (UPDATE,
// DELETE), errors, cursor, and unchanged_toast when an unchanged TOASTed
// value was not sent. One slice is allocated per delivered change (per
// column set with Config.Authz) and shared by every sink: it is immutable, and sinks may keep it (queue it,
// write it later) without copying. The ids slice is the dispatcher's
// scratch: it is valid only during DeliverChange.
//
// A change whose data exceeds Config.MaxRecordBytes is sent as Supabase
// sends it: record and old_record keep only the fields whose JSON value is
// at most 64 bytes, and errors is ["Error 413: Payload Too Large"].
//
// # Filter cost
//
// Filters are bounded by Config.FilterLimits when they come in, and like
// and ilike match in linear time, but a pattern on a large value still
// costs. Config.GroupBudget (default 10ms) caps what the bindings sharing
// one filter may take on one change: past it, twice in a row so that a
// stall of the process does not count (filter.Index.MatchBudget),
// they are removed, their sinks told through ErrorSink with a *BudgetError,
// and the stream carries on for everyone else.
//
// # Concurrency
//
// Subscribe and Unsubscribe may be called from any goroutine. The Handle
// methods are called by the one goroutine that runs the stream, never
// concurrently with each other. Sinks are called from that goroutine, with
// no lock held, so a sink may call any method of the Dispatcher; in
// exchange a sink may receive, after its Unsubscribe returned, the change
// that was being dispatched meanwhile, and must drop it. DeliverChange must
// not block: it holds up every later change (the stream keeps its
// connection, but stops reading once its queue is full). With Config.Authz,
// sinks are also called from the row-check goroutine (never at the same
// time as from the stream's: one of them delivers at a time), and a sink
// may receive the queued changes of a row-check round after its
// Unsubscribe returned.
//
// Live and WaitLive tell whether the stream is live (HandleStreaming):
// Subscribe does not wait for it, so a join that wants to promise delivery
// of every later change waits for both.
package changes
