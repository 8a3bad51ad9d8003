//go:build unix

package harness

import (
	"context"

	"github.com/walcast/walcast/internal/localpg"
)

// FindPGBinDir is the directory of the Postgres server binaries.
func FindPGBinDir() (string, error) { return localpg.FindBinDir() }

// StartCluster initialises and starts a cluster in cfg.DataDir, tuned for
// speed over durability (localpg's Fast mode).
func StartCluster(ctx context.Context, cfg ClusterConfig) (Cluster, error) {
	return localpg.Start(ctx, localpg.Config{DataDir: cfg.DataDir, BinDir: cfg.BinDir, Fast: true, Settings: cfg.Settings})
}
