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
// TRUNCATE is never delivered. Row-level security is not applied.
//
// # The data object
//
// Sinks receive the `data` object of the postgres_changes payload, as
// replication.AppendChange writes it: schema, table, type,
// commit_timestamp, columns, record (INSERT, UPDATE), old_record (UPDATE,
// DELETE), errors, cursor, and unchanged_toast when an unchanged TOASTed
// value was not sent. One slice is allocated per delivered change and
// shared by every sink: it is immutable, and sinks may keep it (queue it,
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
// connection, but stops reading once its queue is full).
//
// Live and WaitLive tell whether the stream is live (HandleStreaming):
// Subscribe does not wait for it, so a join that wants to promise delivery
// of every later change waits for both.
package changes
