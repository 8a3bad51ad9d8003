package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseFlagsOnly parses args into fs, whose command takes flags but no
// arguments: a bad flag and any argument are usage errors.
func ParseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return Usage(err)
	}
	if fs.NArg() > 0 {
		return Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return nil
}

// UsageError marks bad flags or arguments: the command exits with 2.
type UsageError struct{ err error }

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{err} }

func (e UsageError) Error() string { return e.err.Error() }
func (e UsageError) Unwrap() error { return e.err }

// CheckVsnFlag refuses a --vsn other than the two serializers.
func CheckVsnFlag(vsn string) error {
	if vsn != "1.0.0" && vsn != "2.0.0" {
		return UsageError{fmt.Errorf("--vsn %q: want 1.0.0 or 2.0.0", vsn)}
	}
	return nil
}

// QuickDefaults applies, when quick is set, the smoke run's default of
// each flag named in defaults that was not given on the command line.
func QuickDefaults(fs *flag.FlagSet, quick bool, defaults map[string]func()) {
	if !quick {
		return
	}
	for name, set := range defaults {
		if !FlagSet(fs, name) {
			set()
		}
	}
}

// FlagSet reports whether the flag name was given on the command line.
func FlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func PositiveInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// rootModule is the go.mod line of the walcast repository the bench module
// lives in.
const rootModule = "module github.com/walcast/walcast\n"

// RepoRoot is the walcast checkout the current directory is in: the
// nearest directory upwards whose go.mod is the walcast module. The bench
// runs from bench/ ("go run -C bench ."), its results belong to the
// repository's docs/benchmarks, and walcast is built from the root module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), rootModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a walcast checkout (no go.mod of github.com/walcast/walcast above the current directory): run the bench from the repository: \"go run -C bench .\" from its root")
		}
		dir = parent
	}
}

// RepoPath is rel inside the walcast checkout, or rel itself (relative to
// the current directory) outside one.
func RepoPath(rel string) string {
	root, err := RepoRoot()
	if err != nil {
		return rel
	}
	return filepath.Join(root, rel)
}
