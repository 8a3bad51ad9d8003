// Package localpg runs a local Postgres cluster with the server binaries
// installed on the machine (initdb, pg_ctl, postgres).
//
// It serves two callers: the server's embedded mode, used when no
// DATABASE_URL is given (data under ./.walcast/pgdata, kept across starts,
// stopped with the server), and the integration-test harness
// (internal/pgtest: a throwaway cluster in a temporary directory with Fast
// settings).
//
// # Contract
//
// Start creates the cluster with initdb when Config.DataDir is missing or
// empty, and reuses it otherwise. A data dir that is neither empty nor a
// cluster is refused rather than overwritten. Every start rewrites
// walcast.conf (included from postgresql.conf) and pg_hba.conf, so the
// settings below always hold:
//
//   - wal_level=logical, max_replication_slots=64, max_wal_senders=64,
//     max_connections=200, max_slot_wal_keep_size=1GB;
//   - listening on 127.0.0.1 only, Unix sockets in the data dir itself;
//   - trust authentication for local and 127.0.0.1 connections, including
//     replication connections, for the superuser "postgres".
//
// Config.Fast adds fsync=off, synchronous_commit=off and full_page_writes=off:
// a crash can corrupt such a cluster, so it is for tests only.
// Config.Settings are written last and win over everything above.
//
// If a postmaster from the same data dir is already running (for example the
// server was killed while its cluster kept running), Start adopts it instead
// of failing, and Stop stops it. A postmaster.pid left by a crash is removed
// when its PID no longer belongs to a postgres process.
//
// When the process runs as root, the cluster is owned by and run as the
// "postgres" OS user, because initdb and postgres refuse to run as root. The
// data dir is chowned to that user, and every parent directory must be
// searchable by it: CheckReachable tells a caller beforehand (ErrUnreachable),
// so that it can choose another place.
//
// LockDir takes an exclusive lock on a directory for the life of the
// process (flock(2) where the system has it, else a PID file), so that a
// second server refuses to start instead of adopting, and later stopping, a
// cluster that another server still uses.
//
// Unix credentials, process groups and PID checks are behind build tags;
// elsewhere the binaries run as the current user and a PID counts as alive
// whenever the system cannot tell.
//
// The postmaster runs in its own process group, so a Ctrl-C in the terminal
// reaches the server only, which then stops the cluster in order.
//
// A Cluster is safe for concurrent use. Stop is idempotent; a stopped
// cluster can be started again by calling Start with the same Config (and
// the port it had, to keep URLs valid).
package localpg
