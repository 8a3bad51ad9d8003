package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/walcast/walcast/auth"
)

// tokenCmd prints a JWT signed with the secret the server uses: the
// --jwt-secret / $JWT_SECRET given, else the local mode's secret file. Only
// the token goes to stdout, so that KEY=$(walcast token) works.
func tokenCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("token", getenv, stderr)
	role := f.String("role", "anon", "the role claim (anon, authenticated, service_role, ...)")
	exp := f.Duration("exp", time.Hour, "lifetime of the token, e.g. 1h or 8760h")
	sub := f.String("sub", "", "the sub claim (a user id), when set")
	secret := f.string("jwt-secret", "JWT_SECRET", "", "HS256 secret the server verifies with (default: the local mode's, from --data-dir)")
	dataDir := f.string("data-dir", "WALCAST_DATA_DIR", ".walcast", "data dir of the local mode, whose jwt_secret is used when no secret is given")
	logger := f.logFlags("warn")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := logger(stderr); err != nil {
		return err
	}
	if strings.TrimSpace(*role) == "" {
		return usageErrorf("token: --role must not be empty")
	}
	if *exp <= 0 {
		return usageErrorf("token: --exp %s: want a positive duration such as 1h", *exp)
	}
	key := *secret
	if key == "" {
		path := filepath.Join(*dataDir, "jwt_secret")
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("token: no secret: set --jwt-secret (or $JWT_SECRET) to the server's, or run walcast serve in local mode once, which creates %s", path)
		}
		if err != nil {
			return fmt.Errorf("token: read %s: %w", path, err)
		}
		key = strings.TrimSpace(string(b))
	}
	claims := map[string]any{"role": *role, "iss": "walcast", "iat": time.Now().Unix(), "exp": time.Now().Add(*exp).Unix()}
	if *sub != "" {
		claims["sub"] = *sub
	}
	token, err := auth.Sign([]byte(key), claims)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
