package soak

import (
	"errors"
	"flag"
	"time"

	"github.com/walcast/walcast/bench/cli"
)

// soakOptions are the flags of the soak command.
type soakOptions struct {
	duration, interval, warmup time.Duration
	subs, rooms, rate          int
	presence, churn, payload   int
	out, json, walcast         string
}

func parseSoakFlags(args []string) (soakOptions, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1 minute, samples every 5 s, 10 s warm-up, 200 subscribers, 50 presence clients")
	duration := fs.Duration("duration", 10*time.Minute, "how long the load runs")
	interval := fs.Duration("interval", 10*time.Second, "time between samples of RSS, heap and goroutines")
	warmup := fs.Duration("warmup", time.Minute, "samples in the first this long are shown but not compared")
	subs := fs.Int("subs", 1000, "broadcast subscribers, spread over the rooms")
	rooms := fs.Int("rooms", 10, "rooms (channels); each has one publisher")
	rate := fs.Int("rate", 50, "broadcasts/s over all rooms (at most 90 per room: walcast allows 100/s per connection)")
	presence := fs.Int("presence", 200, "presence clients, spread over the rooms, each tracking one presence")
	churn := fs.Int("churn", 10, "presence clients per second that disconnect, reconnect and track again")
	payload := fs.Int("payload", 256, "bytes of each broadcast payload")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "also write targets and chart series (Results JSON) to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return soakOptions{}, err
	}
	opt := soakOptions{duration: *duration, interval: *interval, warmup: *warmup, subs: *subs, rooms: *rooms, rate: *rate,
		presence: *presence, churn: *churn, payload: *payload, out: *out, json: *jsonPath, walcast: *walcast}
	cli.QuickDefaults(fs, *quick, map[string]func(){
		"duration": func() { opt.duration = time.Minute },
		"interval": func() { opt.interval = 5 * time.Second },
		"warmup":   func() { opt.warmup = 10 * time.Second },
		"subs":     func() { opt.subs = 200 },
		"presence": func() { opt.presence = 50 },
		"churn":    func() { opt.churn = 5 },
	})
	switch {
	case opt.rooms < 1 || opt.subs < opt.rooms || opt.rate < 1 || opt.rate > 90*opt.rooms:
		return opt, cli.Usage(errors.New("--rooms at least 1, --subs at least --rooms, --rate from 1 to 90 × --rooms"))
	case opt.presence < 0 || opt.churn < 0 || opt.churn > opt.presence || opt.payload < 40:
		return opt, cli.Usage(errors.New("--presence not negative, --churn from 0 to --presence, --payload at least 40"))
	case opt.interval <= 0 || opt.warmup < 0 || opt.duration < opt.warmup+6*opt.interval:
		return opt, cli.Usage(errors.New("--interval positive, and --duration at least --warmup plus 6 intervals (two samples in each third)"))
	}
	return opt, nil
}
