package storm

import (
	"errors"
	"flag"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
)

// stormOptions are the flags of the storm command.
type stormOptions struct {
	join, reconnect, procs, runs int
	vsn, out, json               string
	systems                      harness.RoomSystems
}

func parseStormFlags(args []string) (stormOptions, error) {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1,000 clients join at once, 300 of them reconnect at once, one run")
	join := fs.Int("join", 5000, "clients that connect and join at once (the join storm)")
	reconnect := fs.Int("reconnect", 1000, "of those, clients that drop their socket and reconnect at once (the reconnect storm)")
	procs := fs.Int("procs", 0, "load processes the clients are spread over (default: one per 2,500 clients), each on its own 127.0.0.x address")
	runs := fs.Int("runs", 3, "runs of both storms per system (a fresh server each; the report gives the median)")
	vsn := fs.String("vsn", "2.0.0", "serializer of the walcast clients")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	peerFlags := harness.AddPeerFlags(fs, "alternating with walcast", "its clients")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return stormOptions{}, err
	}
	opt := stormOptions{join: *join, reconnect: *reconnect, procs: *procs, runs: *runs, vsn: *vsn, out: *out, json: *jsonPath}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"join":      func() { opt.join = 1000 },
		"reconnect": func() { opt.reconnect = 300 },
		"runs":      func() { opt.runs = 1 },
	})
	var err error
	if opt.systems, err = peerFlags.Systems(); err != nil {
		return opt, err
	}
	if opt.join < 1 || opt.reconnect < 1 || opt.reconnect > opt.join || opt.runs < 1 || opt.procs < 0 {
		return opt, cli.Usage(errors.New("--join and --runs must be at least 1, --reconnect from 1 to --join, --procs not negative"))
	}
	// Each process holds its share of the clients; the file limit of
	// 20,000 per process bounds what one can open.
	if opt.join > 15000 {
		return opt, cli.Usage(errors.New("--join: at most 15,000 clients (the server holds one descriptor per client under the 20,000 open files allowed)"))
	}
	return opt, cli.CheckVsnFlag(opt.vsn)
}
