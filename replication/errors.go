package replication

import (
	"errors"
	"fmt"
)

// ConfigError is a problem with the server or its configuration that retrying
// cannot fix: the message says what to run to fix it.
type ConfigError struct {
	Problem string // what is wrong
	Fix     string // what to do about it
}

func (e *ConfigError) Error() string { return e.Problem + ": " + e.Fix }

// IsConfigError reports whether err (or an error it wraps) is a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func configErrorf(fix string, format string, args ...any) error {
	return &ConfigError{Problem: fmt.Sprintf(format, args...), Fix: fix}
}
