package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// roomBench is what the fanout and idle benchmarks share: a throwaway
// Postgres cluster (walcast serve needs a database even when only rooms are
// used) and walcast serve processes started on it.
type roomBench struct {
	tmp, Bin      string
	dbURL         string
	secret, token string
	cluster       Cluster
	serves        int

	// Of StartRoomSystems, for Env.
	peer       *CentrifugoPeer
	began      time.Time
	loadBefore string
}

// startRoomBenchTemp is startRoomBench in a fresh temporary directory
// named after pattern, which stop also removes.
func startRoomBenchTemp(ctx context.Context, pattern, bin string) (b *roomBench, stop func(), err error) {
	tmp, err := ClusterTempDir(pattern)
	if err != nil {
		return nil, func() {}, err
	}
	b, stopBench, err := startRoomBench(ctx, tmp, bin)
	return b, func() {
		stopBench()
		os.RemoveAll(tmp)
	}, err
}

// startRoomBench builds walcast unless bin is given and starts the cluster
// under tmp. stop undoes what was done, also after an error.
func startRoomBench(ctx context.Context, tmp, bin string) (b *roomBench, stop func(), err error) {
	b = &roomBench{tmp: tmp, Bin: bin}
	stop = func() {}
	if err := raiseFileLimit(); err != nil {
		return nil, stop, err
	}
	binDir, err := FindPGBinDir()
	if err != nil {
		return nil, stop, err
	}
	if b.Bin == "" {
		b.Bin = filepath.Join(tmp, "walcast")
		if err := BuildWalcast(ctx, b.Bin); err != nil {
			return nil, stop, err
		}
	}
	fmt.Fprintln(os.Stderr, "starting postgres ...")
	b.cluster, err = StartCluster(ctx, ClusterConfig{DataDir: filepath.Join(tmp, "pgdata"), BinDir: binDir})
	if err != nil {
		return nil, stop, err
	}
	stop = func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := b.cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	b.dbURL = b.cluster.URL("postgres")
	if b.secret, b.token, err = AnonToken(); err != nil {
		return nil, stop, err
	}
	return b, stop, nil
}

// serve starts a fresh walcast serve on the cluster (its own slot and log)
// with extra environment variables, and waits until it answers /healthz.
func (b *roomBench) serve(ctx context.Context, env ...string) (*ServeProc, error) {
	b.serves++
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	slot := fmt.Sprintf("bench_rooms_%d", b.serves)
	logPath := filepath.Join(b.tmp, slot+".log")
	s, err := launchServe(b.Bin, b.dbURL, b.secret, slot, logPath, port, env)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if healthy(port) {
			return s, nil
		}
		if err := s.ExitedEarly(); err != nil {
			return nil, err
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("walcast serve not healthy (%v):\n%s", ctx.Err(), s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *roomBench) WsURL(port int, vsn string) string {
	return fmt.Sprintf("ws://127.0.0.1:%d/realtime/v1/websocket?apikey=%s&vsn=%s", port, b.token, vsn)
}

// Wire protocols the load clients speak.
const (
	protoPhoenix    = "phoenix"    // walcast: Supabase Realtime over Phoenix channels
	ProtoCentrifugo = "centrifugo" // Centrifugo's JSON protocol
)

// System is one server under comparison: how to start a fresh process of
// it and which protocol its clients speak.
type System struct {
	Name     string // in tables, targets and chart legends
	Proto    string
	Coalesce time.Duration // walcast's --write-coalesce when set here; 0: the server's default
	Start    func(ctx context.Context, env ...string) (benchServer, error)
}

// benchServer is a running server process of a system.
type benchServer interface {
	Pid() int
	WsURL(vsn string) string // where clients connect; vsn matters to walcast only
	LogPath() string
	SlowCloses() int // sockets the server closed as too slow, -1 when unknown
	ExitedEarly() error
	Stop() error
}

// walcastSystem starts walcast serve on the cluster of b.
func (b *roomBench) walcastSystem() System {
	return System{Name: "walcast", Proto: protoPhoenix, Start: func(ctx context.Context, env ...string) (benchServer, error) {
		s, err := b.serve(ctx, env...)
		if err != nil {
			return nil, err
		}
		return walcastServer{proc: s, b: b}, nil
	}}
}

// walcastCoalescedSystem is walcast serve with --write-coalesce d: frames
// queued for a busy connection within d of its last write go out in one
// write.
func (b *roomBench) walcastCoalescedSystem(d time.Duration) System {
	sys := b.walcastSystem()
	start := sys.Start
	sys.Name = CoalescedName(d)
	sys.Coalesce = d
	sys.Start = func(ctx context.Context, env ...string) (benchServer, error) {
		return start(ctx, append([]string{"WALCAST_WRITE_COALESCE=" + d.String()}, env...)...)
	}
	return sys
}

// CoalescedName is the name of walcast with write batching d in tables,
// targets and charts: "walcast, 10 ms batching".
func CoalescedName(d time.Duration) string { return "walcast, " + BatchingText(d) }

// BatchingText is write batching d in words: "10 ms batching".
func BatchingText(d time.Duration) string { return MsText(d) + " batching" }

// MsText is d in milliseconds for prose: "10 ms", "2.5 ms".
func MsText(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + " ms"
}

// walcastServer is a walcast serve process as a benchServer.
type walcastServer struct {
	proc *ServeProc
	b    *roomBench
}

func (s walcastServer) Pid() int                { return s.proc.Cmd.Process.Pid }
func (s walcastServer) WsURL(vsn string) string { return s.b.WsURL(s.proc.Port, vsn) }
func (s walcastServer) LogPath() string         { return s.proc.logPath }
func (s walcastServer) SlowCloses() int         { return s.proc.LogCount("slow consumer") }
func (s walcastServer) ExitedEarly() error      { return s.proc.ExitedEarly() }

func (s walcastServer) Stop() error {
	_, err := s.proc.Stop()
	return err
}

// ChannelName is the name of a channel in the protocol: walcast topics
// carry realtime-js's "realtime:" prefix.
func ChannelName(proto, name string) string {
	if proto == protoPhoenix {
		return "realtime:" + name
	}
	return name
}

// RoomSystems says which systems a room workload alternates.
type RoomSystems struct {
	Walcast      string        // walcast binary; empty: built from ./cmd/walcast
	Peer         string        // PeerCentrifugo or PeerNone
	Centrifugo   string        // the peer's binary; empty: built once into the user cache directory
	Coalesced    time.Duration // also walcast with write batching of this much; 0: not
	TunedPeer    bool          // also the peer with CentrifugoTuning
	PeerProtobuf bool          // also the peer with its clients speaking its protobuf protocol
}

// StartRoomSystems starts the room bench (in a temporary directory named
// after pattern) and lists the systems a run alternates, in this order:
// walcast, walcast with write batching when sys.Coalesced > 0, and unless
// the peer is none the peer (Centrifugo, built first when no binary is
// given), then the tuned peer and the peer speaking protobuf when asked
// for. stop undoes what was done, also after an error.
func StartRoomSystems(ctx context.Context, pattern string, sys RoomSystems) (b *roomBench, systems []System, peer *CentrifugoPeer, stop func(), err error) {
	stop = func() {}
	var peerBin string
	if sys.Peer == PeerCentrifugo {
		if peerBin, err = centrifugoBinary(ctx, sys.Centrifugo); err != nil {
			return nil, nil, nil, stop, err
		}
	}
	b, stop, err = startRoomBenchTemp(ctx, pattern, sys.Walcast)
	if err != nil {
		return nil, nil, nil, stop, err
	}
	systems = []System{b.walcastSystem()}
	if sys.Coalesced > 0 {
		systems = append(systems, b.walcastCoalescedSystem(sys.Coalesced))
	}
	if peerBin != "" {
		peer = newCentrifugoPeer(ctx, peerBin, b.tmp)
		systems = append(systems, peer.system())
		if sys.TunedPeer {
			systems = append(systems, peer.TunedSystem())
		}
		if sys.PeerProtobuf {
			systems = append(systems, peer.ProtobufSystem())
		}
	}
	b.peer, b.began, b.loadBefore = peer, time.Now(), LoadAverage()
	return b, systems, peer, stop, nil
}

// Env is what a report says of the run, which began when StartRoomSystems
// returned: the machine and the servers' builds, the load average then and
// now, how long the run took and, with fileLimit, RLIMIT_NOFILE.
func (b *roomBench) Env(fileLimit bool) RoomBenchEnv {
	context := fmt.Sprintf("load average %s before, %s after; took %s", b.loadBefore, LoadAverage(), time.Since(b.began).Round(time.Second))
	if fileLimit {
		context += "; RLIMIT_NOFILE " + FileLimit()
	}
	return RoomBenchEnv{Machine: RoomMachineLine(b.Bin, b.peer), Context: context, Peer: b.peer}
}
