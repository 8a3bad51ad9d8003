package localpg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	confFile    = "walcast.conf"
	includeLine = "include = '" + confFile + "'"
	// maxSocketPath is the room in sockaddr_un.sun_path (108 bytes with the
	// terminating NUL) that the socket's lock file name must fit in.
	maxSocketPath = 107
)

// baseSettings hold on every cluster: logical decoding for walcast's slots,
// room for a slot and a walsender per node and test, and a cap on the WAL a
// forgotten slot may pin.
var baseSettings = [][2]string{
	{"listen_addresses", "127.0.0.1"},
	{"wal_level", "logical"},
	{"max_replication_slots", "64"},
	{"max_wal_senders", "64"},
	{"max_connections", "200"},
	{"max_slot_wal_keep_size", "1GB"},
}

// fastSettings trade crash safety for speed.
var fastSettings = [][2]string{
	{"fsync", "off"},
	{"synchronous_commit", "off"},
	{"full_page_writes", "off"},
}

// hbaConf trusts the local machine: the cluster listens on 127.0.0.1 only.
const hbaConf = `# Managed by walcast (internal/localpg): rewritten on every start.
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
`

// renderConf renders walcast.conf. Values are always quoted, which Postgres
// accepts for settings of every type.
func renderConf(dataDir string, port int, fast bool, extra map[string]string) ([]byte, error) {
	settings := slices.Clone(baseSettings)
	settings = append(settings, [2]string{"port", strconv.Itoa(port)}, [2]string{"unix_socket_directories", socketDir(dataDir)})
	if fast {
		settings = append(settings, fastSettings...)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		settings = append(settings, [2]string{k, extra[k]})
	}
	var b bytes.Buffer
	b.WriteString("# Managed by walcast (internal/localpg): rewritten on every start.\n")
	for _, kv := range settings {
		if !validName(kv[0]) || strings.ContainsAny(kv[1], "\n\r\x00") {
			return nil, fmt.Errorf("invalid setting %q = %q", kv[0], kv[1])
		}
		fmt.Fprintf(&b, "%s = '%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", "''"))
	}
	return b.Bytes(), nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// socketDir puts the Unix socket in the data dir, a directory the server's
// user owns wherever the data dir is (the default /var/run/postgresql is not
// ours). When that path is too long for a socket, Unix sockets are switched
// off: walcast connects over TCP anyway.
func socketDir(dataDir string) string {
	if len(dataDir)+len("/.s.PGSQL.65535.lock") > maxSocketPath {
		return ""
	}
	return dataDir
}

// writeConfig (re)writes the files that carry the contract of this package.
func (c *Cluster) writeConfig(port int) error {
	conf, err := renderConf(c.dataDir, port, c.cfg.Fast, c.cfg.Settings)
	if err != nil {
		return err
	}
	if err := c.run.writeFile(filepath.Join(c.dataDir, confFile), conf); err != nil {
		return fmt.Errorf("write %s: %w", confFile, err)
	}
	if err := c.run.writeFile(filepath.Join(c.dataDir, "pg_hba.conf"), []byte(hbaConf)); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	// The include goes last in postgresql.conf so that it wins over
	// initdb's defaults.
	path := filepath.Join(c.dataDir, "postgresql.conf")
	main, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read postgresql.conf: %w", err)
	}
	if !bytes.Contains(main, []byte("\n"+includeLine+"\n")) {
		main = append(main, "\n"+includeLine+"\n"...)
		if err := c.run.writeFile(path, main); err != nil {
			return fmt.Errorf("write postgresql.conf: %w", err)
		}
	}
	return nil
}

// pidFile is what the postmaster writes to postmaster.pid. Its lines are, in
// order: PID, data dir, start time, port, socket dir, listen address, shared
// memory key, and (since PostgreSQL 10) the status that pg_ctl -w waits on.
type pidFile struct {
	pid    int
	port   int
	status string // "starting", "ready", "stopping" or "standby"
}

// readPidFile returns ok=false when there is no postmaster.pid. A file
// caught half-written reads as status "".
func readPidFile(dataDir string) (pf pidFile, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return pidFile{}, false, nil
	}
	if err != nil {
		return pidFile{}, false, err
	}
	lines := strings.Split(string(data), "\n")
	field := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	pf.pid, _ = strconv.Atoi(field(0))
	pf.port, _ = strconv.Atoi(field(3))
	pf.status = field(7)
	return pf, true, nil
}

// pidState says who a PID from postmaster.pid belongs to.
type pidState int

const (
	pidDead       pidState = iota // no such process
	pidOther                      // reused by a process that is not our postmaster
	pidPostmaster                 // the postmaster of this data dir
)

// pidOwner tells a live postmaster from a stale postmaster.pid. A dead PID
// is left to the new postmaster, which also checks that no old backend still
// holds the shared memory. A PID reused by an unrelated process would make
// the new postmaster refuse to start, so that case is told apart: a
// postmaster's working directory is its data dir.
func pidOwner(pid int, dataDir string) pidState {
	if pid <= 0 {
		return pidDead
	}
	if _, err := os.Stat("/proc/self"); err != nil {
		// No /proc to tell: any live PID counts, so that a running server
		// is never taken for a stale one.
		if ProcessExists(pid) {
			return pidPostmaster
		}
		return pidDead
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	if _, err := os.Stat(proc); err != nil {
		return pidDead
	}
	if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
		if cwd == dataDir || cwd == evalSymlinks(dataDir) {
			return pidPostmaster
		}
		return pidOther
	}
	// Another user's process (we are not root): go by its name.
	if comm, err := os.ReadFile(proc + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
		return pidPostmaster
	}
	return pidOther
}

func evalSymlinks(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}
