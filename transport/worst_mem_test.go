package transport

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// The worst-case memory measurement runs only when asked:
//
//	WALCAST_WORST_MEM=1 go test ./transport -run TestWorstCaseMemory -v
//
// 20 sockets, in a child process (this test binary again) so that their
// memory does not count, do the worst the default limits allow: 100
// channels each with a 1024-byte topic and MaxBindings postgres_changes bindings
// of an `in` list of 100 values (on a real dispatcher), a presence meta of
// MaxPresenceBytes on each channel, then 5 broadcasts each of 2.9 MB into
// a room all 20 are in (20 × 5 × 2.9 MB fanned out to 20 readers). The
// server process's RSS is sampled throughout; the test fails past
// worstRSSBound.
const (
	envWorstMem    = "WALCAST_WORST_MEM"
	envWorstHelper = "WALCAST_WORST_HELPER_ADDR"
	worstSockets   = 20
	// worstRSSBound is the documented bound (README, "Limits").
	worstRSSBound = 1 << 30
)

func TestWorstCaseMemory(t *testing.T) {
	if os.Getenv(envWorstMem) == "" {
		t.Skip("set " + envWorstMem + "=1 to measure the server's memory under the worst the limits allow")
	}
	e := newRealEnv(t, Config{Logger: slog.New(slog.DiscardHandler), IdleTimeout: time.Hour})
	addr := strings.TrimPrefix(e.http.URL, "http://")

	base := memSnapshot()
	var peak atomic.Uint64
	stop := sync.OnceFunc(sample(20*time.Millisecond, func() { maxTo(&peak, rss()) }))
	defer stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestWorstClientsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), envWorstHelper+"="+addr)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	step := func(cmd, want string) mem {
		t.Helper()
		defer func(start time.Time) { t.Logf("%s: %v", want, time.Since(start).Round(time.Millisecond)) }(time.Now())
		if cmd != "" {
			fmt.Fprintln(stdin, cmd)
		}
		for lines.Scan() {
			if lines.Text() == want {
				return memSnapshot()
			}
			if strings.HasPrefix(lines.Text(), "closed ") {
				t.Logf("sockets closed as slow consumers: %s", strings.TrimPrefix(lines.Text(), "closed "))
			}
			if strings.HasPrefix(lines.Text(), "fail:") {
				t.Fatalf("helper: %s", lines.Text())
			}
		}
		t.Fatalf("helper ended before %q: %v", want, lines.Err())
		return mem{}
	}
	connected := step("", "connected")
	joined := step("join", "joined")
	tracked := step("track", "tracked")
	peakBefore := peak.Load()
	broadcast := step("broadcast", "broadcast")
	stop()

	st := e.s.Stats()
	report := func(name string, m mem) {
		t.Logf("%-34s RSS %7.1f MiB  heap %7.1f MiB  goroutines %d", name, mib(m.rss), mib(m.heap), m.goroutines)
	}
	report("before", base)
	report("20 sockets connected", connected)
	report(fmt.Sprintf("2,000 channels, %d bindings", 2000*DefaultMaxBindings), joined)
	report("... and 2,000 presence metas", tracked)
	report("after 100 broadcasts of 2.9 MB", broadcast)
	t.Logf("peak RSS %.1f MiB before the broadcasts, %.1f MiB overall (bound %.0f MiB); slow consumers %d",
		mib(peakBefore), mib(peak.Load()), mib(worstRSSBound), st.SlowConsumers)
	if p := peak.Load(); p > worstRSSBound {
		t.Errorf("peak RSS %.1f MiB, over the documented bound of %.0f MiB", mib(p), mib(worstRSSBound))
	}
}

// TestWorstClientsHelper is the client side of TestWorstCaseMemory.
func TestWorstClientsHelper(t *testing.T) {
	addr := os.Getenv(envWorstHelper)
	if addr == "" {
		t.Skip("helper process only")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("fail: "+format+"\n", args...)
		os.Exit(1)
	}
	tok := token(t, 2*time.Hour)
	ctx := context.Background()
	type sock struct {
		ws      *websocket.Conn
		mu      sync.Mutex
		replies map[string]bool
		big     int
		closed  bool // the server closed it (a slow consumer, when 20 send at once)
		cond    *sync.Cond
	}
	socks := make([]*sock, worstSockets)
	for i := range socks {
		ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/realtime/v1/websocket?vsn=2.0.0&apikey="+tok, nil)
		if err != nil {
			fail("dial: %v", err)
		}
		ws.SetReadLimit(-1)
		s := &sock{ws: ws, replies: map[string]bool{}}
		s.cond = sync.NewCond(&s.mu)
		socks[i] = s
		go func() {
			for {
				_, b, err := ws.Read(ctx)
				s.mu.Lock()
				if err != nil {
					if websocket.CloseStatus(err) != StatusSlowConsumer {
						fmt.Printf("fail: socket %d: %v\n", i, err)
						os.Exit(1)
					}
					s.closed = true
					s.cond.Broadcast()
					s.mu.Unlock()
					return
				}
				if len(b) > 1<<20 {
					s.big++
				} else if j := strings.Index(string(b), `"phx_reply"`); j > 0 {
					var ref string
					if a := strings.SplitN(string(b), ",", 3); len(a) == 3 {
						ref, _ = strconv.Unquote(a[1])
					}
					s.replies[ref] = true
				}
				s.cond.Broadcast()
				s.mu.Unlock()
			}
		}()
	}
	fmt.Println("connected")

	waitAll := func(pred func(s *sock) bool) {
		for _, s := range socks {
			s.mu.Lock()
			for !pred(s) {
				s.cond.Wait()
			}
			s.mu.Unlock()
		}
	}
	write := func(s *sock, typ websocket.MessageType, b []byte) {
		if err := s.ws.Write(ctx, typ, b); err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				fail("write: %v", err)
			}
		}
	}
	var in strings.Builder
	for v := range 100 {
		if v > 0 {
			in.WriteByte(',')
		}
		in.WriteString(strconv.Itoa(v))
	}
	binding := `{"event":"*","schema":"public","table":"items","filter":"id=in.(` + in.String() + `)"}`
	bindings := strings.TrimSuffix(strings.Repeat(binding+",", DefaultMaxBindings), ",")
	topic := func(i, ch int) string {
		if ch == 0 {
			return "realtime:common"
		}
		name := fmt.Sprintf("s%02d-c%03d-", i, ch)
		return "realtime:" + name + strings.Repeat("t", DefaultMaxTopicBytes-len("realtime:")-len(name))
	}
	meta := `{"type":"presence","event":"track","payload":{"pad":"` + strings.Repeat("m", DefaultMaxPresenceBytes-20) + `"}}`
	pad := strings.Repeat("x", DefaultMaxPayloadBytes-100_020)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "join":
			for i, s := range socks {
				for ch := range DefaultMaxChannels {
					ref := "j" + strconv.Itoa(ch)
					write(s, websocket.MessageText, fmt.Appendf(nil, `[%q,%q,%q,"phx_join",{"config":{"broadcast":{"self":true},"presence":{"key":"k%d","enabled":true},"postgres_changes":[%s]}}]`,
						ref, ref, topic(i, ch), i, bindings))
				}
			}
			waitAll(func(s *sock) bool { return len(s.replies) >= DefaultMaxChannels })
			fmt.Println("joined")
		case "track":
			for i, s := range socks {
				for ch := range DefaultMaxChannels {
					// The presence rate is per channel: one track each.
					write(s, websocket.MessageText, fmt.Appendf(nil, `[%q,%q,%q,"presence",%s]`, "j"+strconv.Itoa(ch), "t"+strconv.Itoa(ch), topic(i, ch), meta))
				}
			}
			waitAll(func(s *sock) bool { return len(s.replies) >= 2*DefaultMaxChannels })
			fmt.Println("tracked")
		case "broadcast":
			var wg sync.WaitGroup
			for _, s := range socks {
				wg.Go(func() {
					for k := range 5 {
						// A socket closed as a slow consumer stops sending.
						if s.ws.Write(ctx, websocket.MessageBinary, binaryPush("j0", "", "realtime:common", "big", fmt.Sprintf(`{"k":%d,"p":"%s"}`, k, pad))) != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			// Senders closed as slow consumers sent fewer: wait until
			// nothing more arrives for 2 s.
			total := func() (n int) {
				for _, s := range socks {
					s.mu.Lock()
					n += s.big
					s.mu.Unlock()
				}
				return n
			}
			for last := -1; ; {
				n := total()
				if n == last || n == 5*worstSockets*worstSockets {
					break
				}
				last = n
				time.Sleep(2 * time.Second)
			}
			closed := 0
			for _, s := range socks {
				if s.closed {
					closed++
				}
			}
			fmt.Printf("closed %d\n", closed)
			fmt.Println("broadcast")
		}
	}
	for _, s := range socks {
		s.ws.CloseNow()
	}
	_ = phoenix.V2
}
