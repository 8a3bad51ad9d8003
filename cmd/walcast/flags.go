package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// usageError is a bad flag or argument: the process exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

func usageErrorf(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// flags is a flag set whose defaults come from environment variables, so
// every setting can be given either way; a flag wins over its variable.
type flags struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

func newFlags(name string, getenv func(string) string, out io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &flags{FlagSet: fs, getenv: getenv}
}

func (f *flags) string(name, env, def, help string) *string {
	if v := f.getenv(env); v != "" {
		def = v
	}
	return f.String(name, def, help+" [$"+env+"]")
}

func (f *flags) int(name, env string, def int, help string) *int {
	return f.Int(name, fromEnv(f, env, def, strconv.Atoi, "an integer"), help+" [$"+env+"]")
}

func (f *flags) bool(name, env string, def bool, help string) *bool {
	return f.Bool(name, fromEnv(f, env, def, strconv.ParseBool, "true or false"), help+" [$"+env+"]")
}

func (f *flags) duration(name, env string, def time.Duration, help string) *time.Duration {
	return f.Duration(name, fromEnv(f, env, def, time.ParseDuration, "a duration such as 500us or 2ms"), help+" [$"+env+"]")
}

// fromEnv is a flag's default: $env parsed when set, else def. A value
// that does not parse is reported when the flags are parsed (want says
// what was expected).
func fromEnv[T any](f *flags, env string, def T, parse func(string) (T, error), want string) T {
	v := f.getenv(env)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("$%s=%q: want %s", env, v, want))
	}
	return x
}

// list is a repeatable flag that also accepts comma-separated values.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func (f *flags) list(name, env, help string) *list {
	l := new(list)
	if v := f.getenv(env); v != "" {
		_ = l.Set(v)
	}
	f.Var(l, name, help+" [$"+env+"]")
	return l
}

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // -h: the usage was printed; exit 0
		}
		return usageError{err}
	}
	if len(f.errs) > 0 {
		return usageError{errors.Join(f.errs...)}
	}
	if f.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", f.Name(), f.Arg(0))
	}
	return nil
}

// logFlags adds --log-level and --log-format, which every command takes,
// and returns what makes the logger once the flags are parsed.
func (f *flags) logFlags(defLevel string) func(io.Writer) (*slog.Logger, error) {
	level := f.string("log-level", "WALCAST_LOG_LEVEL", defLevel, "debug, info, warn or error (logs go to stderr)")
	format := f.string("log-format", "WALCAST_LOG_FORMAT", "text", "text or json")
	return func(w io.Writer) (*slog.Logger, error) { return newLogger(w, *level, *format) }
}

// checkDatabaseURL catches what the driver would report obscurely: a URL
// with a misspelt scheme reads to it as a malformed key=value string.
func checkDatabaseURL(flagName, raw string) error {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok || scheme == "postgres" || scheme == "postgresql" {
		return nil
	}
	if strings.ContainsAny(scheme, " =") {
		return nil // a key=value string whose value holds "://"
	}
	return usageErrorf("%s: scheme %q is not postgres:// or postgresql://", flagName, scheme+"://")
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("log format %q: want text or json", format)
}
