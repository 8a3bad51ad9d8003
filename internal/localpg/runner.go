package localpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrUnreachable reports a data dir that the postgres OS user, which runs
// the cluster when this process is root, cannot enter.
var ErrUnreachable = errors.New("the postgres OS user cannot reach the data dir")

// osUser is the OS user the server binaries run as.
type osUser struct{ uid, gid uint32 }

// runner runs the Postgres binaries of one bin dir, as the postgres OS user
// when this process is root: initdb and postgres refuse to run as root.
type runner struct {
	binDir string
	owner  *osUser // nil: run as ourselves
}

func newRunner(binDir string) (*runner, error) {
	owner, err := serverUser()
	if err != nil {
		return nil, err
	}
	return &runner{binDir: binDir, owner: owner}, nil
}

// serverUser returns the postgres OS user when this process runs as root,
// and nil otherwise (and on systems without root, where os.Geteuid is -1).
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
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
	return &osUser{uid: uint32(uid), gid: uint32(gid)}, nil
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
	cmd.SysProcAttr = sysProcAttr(r.owner)
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
	if r.owner == nil {
		return nil
	}
	if err := os.Chown(path, int(r.owner.uid), int(r.owner.gid)); err != nil {
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
	if r.owner == nil {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil {
			uid, gid, ok := fileOwner(fi)
			perm := fi.Mode().Perm()
			if ok && perm&0o001 == 0 &&
				(uid != r.owner.uid || perm&0o100 == 0) &&
				(gid != r.owner.gid || perm&0o010 == 0) {
				return fmt.Errorf("%w %s because %s has mode %o (owner uid %d): use a data dir under a directory others may enter, or chmod o+x %s", ErrUnreachable, dir, d, perm, uid, d)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// CheckReachable reports, with ErrUnreachable, a data dir that Start would
// refuse because this process is root and the postgres OS user, which then
// runs the cluster, cannot enter one of its parents.
func CheckReachable(dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	owner, err := serverUser()
	if err != nil {
		return err
	}
	return (&runner{owner: owner}).checkReachable(abs)
}
