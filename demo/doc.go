// Package demo is the page that local mode serves at /: a live table of
// the demo_items table (postgres_changes, with a filter box that takes
// Supabase's filter syntax), a chat (broadcast) and who is online
// (presence), all through @supabase/realtime-js in the browser.
//
// The page's source is web/ (plain JavaScript and CSS). `npm run build`
// bundles it with esbuild, at the version pinned in package-lock.json, into
// static/, which is committed and embedded with go:embed, so `go run
// ./cmd/walcast` needs no npm step. A test rebuilds the bundle and fails
// when the committed one differs.
//
// Handler serves:
//
//	/                  the page (static/index.html)
//	/demo/<file>       the page's assets (static/<file>)
//	/demo/config.json  what the page needs from the server: the anon key
//	                   and the local database URL (shown in the psql hint)
//	/demo/rows.json    the table's rows when the page loads, newest first,
//	                   at most MaxRows
//
// The page takes the WebSocket URL from window.location. It is meant for
// local mode only: config.json hands out the anon key and the database URL
// to whoever can reach the port.
//
// TestBrowser drives the page in headless Chromium (Debian's chromium,
// through github.com/chromedp/chromedp) against a real `walcast serve` in
// local mode: two tabs, a row inserted with SQL, a filter, chat and
// presence. It skips without Chromium or Postgres, and fails under CI.
// WALCAST_DEMO_SCREENSHOTS=docs refreshes the screenshots in docs/.
//
// CreateTable creates public.demo_items (with a few rows) when it does not
// exist; local mode calls it before the replication stream starts, so the
// table is in the publication.
package demo
