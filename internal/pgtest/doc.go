// Package pgtest gives integration tests a fresh Postgres database with
// logical replication enabled.
//
// Wire it into a package's tests once:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
// then, in a test:
//
//	url := pgtest.NewDatabase(t) // postgres://... as a superuser
//
// # Where the database lives
//
// If WALCAST_TEST_DATABASE_URL is set (a postgres:// URL of a superuser on a
// server with wal_level=logical), databases are created on that server.
// Otherwise the first NewDatabase of a test binary starts a throwaway cluster
// with internal/localpg (Fast settings, in a temporary directory) that every
// test of that binary shares; Run stops it and removes its directory. A
// cluster left behind by a test binary that died (a panic, a -timeout) is
// removed by the next test binary that starts one; its postmaster exits by
// itself within a minute of losing its data directory.
//
// When there is neither a server URL nor Postgres server binaries, tests
// skip, unless the CI environment variable is non-empty: CI must fail
// rather than skip.
//
// # Isolation and cleanup
//
// Each NewDatabase creates a database named after the test (sanitized, with a
// random suffix, at most 63 bytes). Tests name their own publications and
// slots; slots live in that database. At the end of the test, t.Cleanup
// terminates the walsenders of the database's replication slots, drops the
// slots (a logical slot blocks DROP DATABASE), then drops the database WITH
// (FORCE), which also closes connections the test left open.
//
// # Helpers
//
// WaitForActiveSlot waits until a consumer streams from a slot of a test's
// database. TempDir gives tests that start their own cluster with
// internal/localpg a directory the postgres OS user can enter (t.TempDir's
// is private, which matters when tests run as root).
//
// # Restarts
//
// Restart, Stop and Start act on the shared throwaway cluster, for tests of
// reconnection; they skip when WALCAST_TEST_DATABASE_URL is set. The cluster
// keeps its port, so URLs stay valid. They disturb every test of the binary
// that is running at the same time, so tests that call them must not call
// t.Parallel, and parallel tests of the same package must not rely on the
// server staying up. A test that calls Stop gets the cluster started again
// at its end if it did not call Start itself.
//
// All functions are safe for concurrent use.
package pgtest
