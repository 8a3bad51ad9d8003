package chromium

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary, or skips t (fails it under CI) when
// there is none.
func Path(t testing.TB) string {
	t.Helper()
	path := os.Getenv("WALCAST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := "missing Chromium (apt-get install chromium, or set WALCAST_CHROMIUM): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; failing instead of skipping because CI is set")
		}
		t.Skip(msg)
	}
	return path
}

// Allocator returns a chromedp allocator for a headless Chromium with a
// profile in a temporary directory; extra options are appended (a window
// size, say). Cancel it to stop the browser.
func Allocator(ctx context.Context, t testing.TB, extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	return chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
}
