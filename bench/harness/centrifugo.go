package harness

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/walcast/walcast/bench/cli"
)

// The peer of the fanout and idle benchmarks: Centrifugo OSS, built from
// the Go module proxy (anchors.md §10.1).
const (
	centrifugoModule  = "github.com/centrifugal/centrifugo/v6"
	CentrifugoVersion = "v6.9.1"
	PeerCentrifugo    = "centrifugo"
	PeerNone          = "none"
)

// PeerFlags are the flags a room workload chooses its systems with:
// --walcast, --peer, --peer-protobuf and --centrifugo.
type PeerFlags struct {
	walcast, peer, centrifugo *string
	protobuf                  *bool
}

// AddPeerFlags defines the PeerFlags on flags. alternating says when the peer
// runs ("each size alternating with walcast"), speakers who speak protobuf
// with it ("its clients and publishers").
func AddPeerFlags(flags *flag.FlagSet, alternating, speakers string) PeerFlags {
	return PeerFlags{
		walcast:    flags.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)"),
		peer:       flags.String("peer", PeerCentrifugo, "server to compare with, "+alternating+": centrifugo or none"),
		protobuf:   flags.Bool("peer-protobuf", true, "also run the peer with "+speakers+" speaking Centrifugo's protobuf protocol"),
		centrifugo: flags.String("centrifugo", "", "Centrifugo binary (default: "+CentrifugoVersion+" built once with go install into the user cache directory)"),
	}
}

// Systems is what the parsed flags chose, or a usage error for a --peer
// other than centrifugo or none.
func (f PeerFlags) Systems() (RoomSystems, error) {
	sys := RoomSystems{Walcast: *f.walcast, Peer: *f.peer, Centrifugo: *f.centrifugo, PeerProtobuf: *f.protobuf}
	if sys.Peer != PeerCentrifugo && sys.Peer != PeerNone {
		return sys, cli.Usage(fmt.Errorf("--peer %q: want %s or %s", sys.Peer, PeerCentrifugo, PeerNone))
	}
	return sys, nil
}

// centrifugoBinary returns bin when given, else the cached build of
// Centrifugo, building it first when the cache has none. The build takes
// minutes and the binary ~90 MB, so it lives outside the repository and
// outlasts runs.
func centrifugoBinary(ctx context.Context, bin string) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("--centrifugo: %w", err)
		}
		return filepath.Abs(bin) // a bare name would otherwise be looked up in PATH
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory for the Centrifugo build (%v); give a binary with --centrifugo PATH", err)
	}
	dir := filepath.Join(cache, "walcast-bench", "centrifugo-"+CentrifugoVersion)
	bin = filepath.Join(dir, "centrifugo")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Install into a scratch directory and rename, so that an interrupted
	// build never leaves a partial binary where the next run looks.
	scratch, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	fmt.Fprintf(os.Stderr, "building Centrifugo %s with go install (once; cached in %s) ...\n", CentrifugoVersion, dir)
	install := exec.CommandContext(ctx, "go", "install", centrifugoModule+"@"+CentrifugoVersion)
	install.Dir = scratch // outside any module, so go.mod of the caller plays no part
	install.Env = append(os.Environ(), "GOBIN="+scratch)
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s\ngive a prebuilt binary with --centrifugo PATH, or --peer none",
			centrifugoModule, CentrifugoVersion, err, LastLines(string(out), 20))
	}
	if err := os.Rename(filepath.Join(scratch, "centrifugo"), bin); err != nil {
		return "", fmt.Errorf("move the Centrifugo build into the cache: %w", err)
	}
	return bin, nil
}

// centrifugoIdentity returns the display name of the binary ("Centrifugo
// v6.9.1", from its build information: a go install build has no version
// ldflags, so "centrifugo version" prints v0.0.0) and a description with
// what "centrifugo version" prints.
func centrifugoIdentity(ctx context.Context, bin string) (name, about string) {
	name, about = "Centrifugo", "module version unknown"
	if bi, err := buildinfo.ReadFile(bin); err == nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		name = "Centrifugo " + bi.Main.Version
		about = fmt.Sprintf("module %s %s, built with %s", bi.Main.Path, bi.Main.Version, bi.GoVersion)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return name, about + `; "centrifugo version" failed: ` + err.Error()
	}
	return name, fmt.Sprintf("%s; `centrifugo version`: %s", about, strings.TrimSpace(string(out)))
}

// RoomBenchEnv is what the fanout and idle reports say about the run.
type RoomBenchEnv struct {
	Machine string          // the Machine line of the report and of --json
	Context string          // load average, duration, file limit
	Peer    *CentrifugoPeer // nil with --peer none
}

// RoomMachineLine describes the machine and the servers' builds.
func RoomMachineLine(walcastBin string, peer *CentrifugoPeer) string {
	goVersion := runtime.Version()
	if bi, err := buildinfo.ReadFile(walcastBin); err == nil {
		goVersion = bi.GoVersion
	}
	line := fmt.Sprintf("Machine: %d cores (%s), %s/%s; walcast built with %s", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, goVersion)
	if peer != nil {
		line += fmt.Sprintf("; %s (%s)", peer.Name, peer.about)
	}
	return line + "."
}

// WritePeerSetup records the peer's version and exact configuration.
func WritePeerSetup(w io.Writer, peer *CentrifugoPeer) {
	if peer == nil {
		return
	}
	// The binary's base name only: a report names no path of the machine
	// it ran on.
	fmt.Fprintf(w, "%s: %s, binary %s. Configuration of every run (port: a free one per run; this is the first run's file):\n\n", peer.Name, peer.about, filepath.Base(peer.bin))
	fmt.Fprintf(w, "```json\n%s\n```\n\n", peer.config)
}
