// Package filter implements the filters of Supabase Realtime's
// postgres_changes: the grammar, its typed compilation against a relation,
// evaluation with SQL semantics, and an index that finds the subscriptions a
// change satisfies without looking at every one.
//
// # Grammar
//
// A filter is one or more conditions `column=[not.]op.value` joined by
// commas (AND), split outside double quotes and parentheses. The operators
// are eq, neq, lt, lte, gt, gte, in, like, ilike, match, imatch, is and
// isdistinct. Values may be double-quoted PostgREST-style (`name=eq."a,b"`,
// with \" and \\); in takes a list `(1,2,"c,d")` of at most MaxInValues
// values, in which an unquoted null is an SQL NULL as in a Postgres array
// literal. is takes null, true, false or unknown. not. negates: is becomes
// IS NOT, isdistinct becomes IS NOT DISTINCT FROM, the others NOT (...).
// Parse checks the syntax; Compile checks columns, operators and constants
// against a relation, once, at subscribe time.
//
// # Limits
//
// Every size a client chooses is bounded (Limits; ParseLimited and
// NewIndexLimits take other values, a negative one meaning no limit): the
// filter string (default 4096 bytes, room for an in list of 100 UUIDs;
// Supabase keeps filter values as unbounded text), conditions per filter
// (16), values per in list (100, Supabase's limit and text), the operand of
// like, ilike, match and imatch (512 bytes) and the RE2 program of a match
// or imatch pattern (1000 instructions). A filter over a limit is refused
// with an *Error naming the limit and the column and operator concerned.
//
// # Semantics
//
// Match gives the answer Postgres would give to `WHERE <filter>` on the row,
// reading each value from its text output (replication.Value.Data):
//
//   - A comparison with NULL is NULL, NOT NULL is NULL, and only TRUE
//     matches. is.null matches NULL; isdistinct treats NULL as a value.
//   - A value the change does not carry is unknown: no condition on it
//     matches, negated or not. That is a column outside the key of a
//     key-only old row (pgoutput sends those as NULL; key columns are never
//     NULL, so every NULL of such a row is taken as not sent), and an
//     unchanged TOASTed value that the old row does not supply. An unchanged
//     TOASTed value is known to be non-NULL, so is.null is false on it.
//   - Constants are cast to the column's type as value::type would:
//     integers (range-checked), float4/float8 (NaN equals NaN and sorts
//     last), numeric (compared exactly on its digits, never through
//     float64; NaN and ±Infinity as in Postgres), bool (boolin spellings),
//     uuid (any case, braces, hyphens), date and timestamp/timestamptz (ISO
//     forms; a timestamptz constant without offset is UTC, a timestamp
//     constant's offset is ignored), bytea (hex or escape input), char(n)
//     (trailing spaces do not count, except for like and match).
//   - Text compares in byte order, as under COLLATE "C"; a database with
//     another collation can order text differently for lt/lte/gt/gte.
//   - like and ilike take % and _ with backslash as escape; ilike folds
//     ASCII letters only, as Postgres does under the C collation. Matching
//     is linear in the value: the pattern is cut at its % and each piece is
//     found by one forward search (Knuth-Morris-Pratt for plain text, a
//     bit-parallel automaton of ⌈k/64⌉ words for a piece of k characters
//     holding _), so no pattern makes a value cost more than a few scans.
//   - match and imatch use Go's RE2 syntax, not Postgres's POSIX AREs: both
//     agree on classes, anchors, ., *, +, ?, {n,m}, alternation and groups,
//     and . matches newline in both; RE2 rejects back-references and
//     lookaround (an error at subscribe time), and \b and \B, whose meaning
//     differs, are refused. imatch folds case with Unicode rules, where
//     Postgres folds according to the collation's character type.
//   - Types without a built-in base (enums, extension types such as citext)
//     and "char" compare as exact text, so only eq, neq, in and isdistinct
//     apply, with the constant written as Postgres prints it. json, jsonb,
//     arrays and other types (time, interval, inet, ...) support only
//     is.null; other operators are refused at compile time with an error
//     naming the column and its type.
//
// # Index
//
// An Index holds Subscriptions (event mask, schema and table, either of
// which may be "*", and a filter). Per relation it keeps one group per
// distinct compiled filter (the same conditions in any order and with
// constants spelled differently, such as 007 and 7, share a group and one
// evaluation), and anchors each group by one column: in a hash from value
// keys to the groups whose eq, in or not.isdistinct condition wants that
// value, or in an interval tree of the ranges their lt, lte, gt and gte
// conditions on the column admit (sub=gt.4,sub=lt.9 is the interval
// (4, 9), compared in the order the conditions are evaluated in, NaN and
// infinities included). A group is anchored where a change should find it
// least often: its eq or in with the fewest and least crowded keys, or its
// narrowest range when that holds fewer values (an integer or date range
// counts its values, another range counts as 32); a range open at one end
// only when there is nothing else. Matching a change costs one lookup per
// anchoring column plus one evaluation per candidate group and per group
// without an eq, in or range condition; it does not grow with the number
// of subscriptions on other values or ranges.
//
// Which row is matched: INSERT and UPDATE the new row (an unchanged TOASTed
// value is taken from the old row when it is there), DELETE the old row.
// The "*" event means INSERT, UPDATE and DELETE. TRUNCATE, which Supabase
// Realtime never delivers, matches only subscriptions without a filter
// that name EventTruncate.
//
// # Concurrency and allocation
//
// A Predicate is immutable and safe for concurrent use. An Index is safe for
// concurrent use: Match takes a read lock, so matches run in parallel, and
// Add, Remove and Bind take the write lock. Predicate.Match and Index.Match
// (given a dst with room) do not allocate, except for an indexed numeric
// value whose canonical key is longer than 128 bytes.
package filter
