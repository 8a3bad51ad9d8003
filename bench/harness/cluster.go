package harness

import "context"

// ClusterConfig is what the workloads choose of a throwaway cluster.
type ClusterConfig struct {
	DataDir, BinDir string
	Settings        map[string]string // postgresql.conf lines beyond the defaults
}

// Cluster is a throwaway Postgres cluster the bench started.
type Cluster interface {
	URL(db string) string
	Stop(ctx context.Context) error
}
