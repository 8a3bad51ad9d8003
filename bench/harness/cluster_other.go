//go:build !unix

package harness

import (
	"context"
	"errors"
	"runtime"
)

var errNoCluster = errors.New("the bench starts its throwaway Postgres clusters with internal/localpg, which needs a Unix system; this is " + runtime.GOOS + ": run the bench on Linux")

// FindPGBinDir fails: see errNoCluster.
func FindPGBinDir() (string, error) { return "", errNoCluster }

// StartCluster fails: see errNoCluster.
func StartCluster(context.Context, ClusterConfig) (Cluster, error) { return nil, errNoCluster }
