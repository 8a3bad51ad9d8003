package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRepoRoot finds the checkout from a directory below its root and
// refuses a directory outside any checkout and one in another module.
func TestRepoRoot(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	other := filepath.Join(tmp, "other")
	for path, text := range map[string]string{
		filepath.Join(repo, "go.mod"):          "module github.com/walcast/walcast\n\ngo 1.26\n",
		filepath.Join(repo, "bench", "go.mod"): "module github.com/walcast/walcast/bench\n",
		filepath.Join(other, "go.mod"):         "module example.com/other\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir, want string
	}{
		{repo, repo},
		{filepath.Join(repo, "bench"), repo},
		{other, ""},
		{tmp, ""},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			t.Chdir(tc.dir)
			got, err := RepoRoot()
			real, _ := filepath.EvalSymlinks(got)
			want, _ := filepath.EvalSymlinks(tc.want)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("RepoRoot() = %q, want an error", got)
			case tc.want != "" && (err != nil || real != want):
				t.Errorf("RepoRoot() = %q, %v; want %q", got, err, tc.want)
			}
			if tc.want == "" && RepoPath("docs") != "docs" {
				t.Errorf("RepoPath outside a checkout = %q, want the path as given", RepoPath("docs"))
			}
		})
	}
}
