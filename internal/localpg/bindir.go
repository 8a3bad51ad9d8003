package localpg

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound reports that no PostgreSQL server binaries were found.
var ErrNotFound = errors.New("initdb not found in PATH or /usr/lib/postgresql/*/bin: install PostgreSQL server binaries (apt-get install postgresql) or set DATABASE_URL")

// versionedBinDirs are where distributions put server binaries that are not
// on PATH: Debian and Ubuntu under /usr/lib/postgresql/<major>/bin, the PGDG
// RPMs under /usr/pgsql-<major>/bin.
var versionedBinDirs = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// FindBinDir returns the directory holding initdb, pg_ctl and postgres (and,
// on usual installs, the client tools such as pg_recvlogical). It looks for
// initdb on PATH first, then in the per-version directories, newest first.
// It returns ErrNotFound when there is none.
func FindBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// PATH often holds symlinks (/usr/local/bin/initdb); the real
		// directory comes first because it holds the whole toolset.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, pattern := range versionedBinDirs {
		dirs, _ := filepath.Glob(pattern) // only ErrBadPattern, impossible here
		sortNewestFirst(dirs)
		candidates = append(candidates, dirs...)
	}
	for _, dir := range candidates {
		if isBinDir(dir) {
			return dir, nil
		}
	}
	return "", ErrNotFound
}

// isBinDir reports whether dir holds the executables Start needs.
func isBinDir(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || runtime.GOOS != "windows" && fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// sortNewestFirst orders per-version bin dirs by the version in their parent
// directory's name ("15", "9.6", "pgsql-16"), newest first, comparing numbers
// rather than strings so that 10 sorts above 9.6.
func sortNewestFirst(dirs []string) {
	slices.SortStableFunc(dirs, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a))
	})
}

func dirVersion(binDir string) []int {
	name := filepath.Base(filepath.Dir(binDir))
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r < '0' || r > '9' })
	var v []int
	for _, part := range strings.Split(name, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			break
		}
		v = append(v, n)
	}
	return v
}
