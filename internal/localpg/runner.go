package localpg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runner runs the Postgres binaries of one bin dir, as the postgres OS user
// when this process is root: initdb and postgres refuse to run as root.
type runner struct {
	binDir string
	cred   *syscall.Credential // nil: run as ourselves
}

func newRunner(binDir string) (*runner, error) {
	r := &runner{binDir: binDir}
	if os.Geteuid() != 0 {
		return r, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user to own the cluster, since initdb refuses root (create one with useradd, or run as another user): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid of postgres user: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid of postgres user: %w", err)
	}
	r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return r, nil
}

// run runs a binary from the bin dir in dir and returns its output in the
// error when it fails.
func (r *runner) run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(r.binDir, name), args...)
	// The working directory must be one the postgres user can enter, not
	// the caller's (often /root).
	cmd.Dir = dir
	cmd.Env = childEnv()
	// A process group of its own keeps a terminal's Ctrl-C away from the
	// postmaster that pg_ctl start leaves behind: the owner stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Setpgid: true}
	// If a child ever kept our output pipe open, don't hang on it.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name += " " + args[0] // pg_ctl's action
	}
	if out := strings.TrimSpace(string(out)); out != "" {
		return fmt.Errorf("%s: %w: %s", name, err, out)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// childEnv is our environment without the libpq and server variables
// (PGDATA, PGPORT, PGOPTIONS, ...) that could point the tools elsewhere, and
// with the C locale so server messages are in English and stable.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// own gives path to the postgres user when we run as root.
func (r *runner) own(path string) error {
	if r.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
		return fmt.Errorf("chown %s to postgres: %w", path, err)
	}
	return nil
}

// writeFile writes a file the server reads, owned by the server's user.
func (r *runner) writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return r.own(path)
}

// checkReachable fails early, with a hint, when the postgres user could not
// reach dir: initdb's own message ("could not change directory") does not
// say which parent is in the way.
func (r *runner) checkReachable(dir string) error {
	if r.cred == nil {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			perm := fi.Mode().Perm()
			if ok && perm&0o001 == 0 &&
				(st.Uid != r.cred.Uid || perm&0o100 == 0) &&
				(st.Gid != r.cred.Gid || perm&0o010 == 0) {
				return fmt.Errorf("the postgres OS user cannot reach %s because %s has mode %o (owner uid %d): use a data dir under a directory others may enter, or chmod o+x %s", dir, d, perm, st.Uid, d)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
