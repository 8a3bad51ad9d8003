package demo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBundleUpToDate rebuilds the page with the pinned esbuild (what
// `npm run build` runs) into a temporary directory and compares it with
// the committed static/: a change to web/ or to the pinned packages must
// come with the rebuilt files.
func TestBundleUpToDate(t *testing.T) {
	node := requireBuildTools(t)
	out := t.TempDir()
	cmd := exec.Command(node, filepath.Join("web", "build.mjs"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node web/build.mjs: %v\n%s", err, b)
	}
	built, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(committed) {
		t.Errorf("the build made %d files, static/ has %d", len(built), len(committed))
	}
	for _, f := range built {
		want, err := os.ReadFile(filepath.Join(out, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("static", f.Name()))
		if err != nil {
			t.Errorf("static/%s: %v: run npm run build and commit demo/static", f.Name(), err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("static/%s is not what `npm run build` makes from web/: run npm run build and commit demo/static", f.Name())
		}
	}
}

// requireBuildTools returns node's path, or skips the test (fails it under
// CI) when node or the npm packages (npm ci) are missing.
func requireBuildTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("..", "node_modules", "esbuild", "package.json"))
	}
	if err != nil {
		missing(t, "node and the npm packages (run npm ci at the repository root): "+err.Error())
	}
	return node
}

// missing skips the test, or fails it when the CI environment variable is
// set: CI must run every test.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("missing %s; failing instead of skipping because CI is set", what)
	}
	t.Skipf("missing %s", what)
}
