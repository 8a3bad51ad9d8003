// Package chromium starts headless Chromium for browser tests, driven
// through chromedp: the binary from Debian's chromium package (or
// $WALCAST_CHROMIUM), with the flags that keep it from reaching for the
// network, and a fresh profile per test. Without Chromium a test skips,
// and fails when CI is set.
package chromium
