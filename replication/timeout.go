package replication

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// defaultWalSenderTimeout is Postgres's default wal_sender_timeout.
const defaultWalSenderTimeout = 60 * time.Second

// walSenderTimeout reads the server's wal_sender_timeout for this
// connection (0 when disabled), or assumes the default when it cannot.
func walSenderTimeout(ctx context.Context, conn *pgconn.PgConn, log *slog.Logger) time.Duration {
	res, err := conn.Exec(ctx, "SHOW wal_sender_timeout").ReadAll()
	if err == nil && len(res) == 1 && len(res[0].Rows) == 1 && len(res[0].Rows[0]) == 1 {
		if d, ok := parsePGDuration(string(res[0].Rows[0][0])); ok {
			return d
		}
	}
	log.Debug("could not read wal_sender_timeout; assuming the default", "error", err, "default", defaultWalSenderTimeout)
	return defaultWalSenderTimeout
}

// parsePGDuration parses a time setting as SHOW prints it: a number with
// an optional unit (us, ms, s, min, h, d; none means milliseconds).
func parsePGDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	unit := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	u, ok := unit[strings.TrimSpace(s[i:])]
	if !ok || n < 0 {
		return 0, false
	}
	return time.Duration(n) * u, true
}

// waitStatusInterval is how often the reader confirms while it waits for a
// slow handler and reads nothing: four times per server timeout, so that a
// late update or two still arrives in time, and no less often than the
// usual status interval.
func waitStatusInterval(senderTimeout, statusInterval time.Duration) time.Duration {
	if senderTimeout <= 0 {
		return statusInterval
	}
	return max(min(senderTimeout/4, statusInterval), 10*time.Millisecond)
}
