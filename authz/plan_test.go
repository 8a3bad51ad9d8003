package authz

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestVisibleQueryProbesTheKey: whatever the policy allows, the check
// looks rows up by primary key (an index scan per key), never by scanning
// the rows the policy allows, so its cost follows the batch and not the
// table. Checked on the plan Postgres chooses as the checked role.
func TestVisibleQueryProbesTheKey(t *testing.T) {
	a, pool := newDB(t, append(policySchema,
		`INSERT INTO uid_notes SELECT gen_random_uuid(), '`+user1+`', 'x' FROM generate_series(1, 5000)`,
		`INSERT INTO docs SELECT i % 7, 'doc ' || i, 't' FROM generate_series(1, 5000) i`,
		`INSERT INTO members VALUES (1, '`+user1+`')`,
		`ANALYZE uid_notes`, `ANALYZE docs`)...)
	ctx := context.Background()
	id := identity(t, "authenticated", map[string]any{"sub": user1})
	tests := []struct {
		table string
		keys  [][]string
	}{
		{"uid_notes", [][]string{{"aaaaaaaa-0000-4000-8000-000000000001"}, {"aaaaaaaa-0000-4000-8000-000000000002"}}},
		{"docs", [][]string{{"1", "doc 1"}, {"2", "doc 2"}, {"1", "doc 8"}}},
	}
	for _, tc := range tests {
		t.Run(tc.table, func(t *testing.T) {
			table := Table{"public", tc.table}
			info, err := a.info(ctx, table)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := keyColumns(table, info, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, setIdentity, id.Role, id.Claims, id.Sub, "5s"); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, "EXPLAIN "+info.query, cols...)
				if err != nil {
					return err
				}
				plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				return errRollback
			})
			if err != errRollback {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "Index Cond") || strings.Contains(text, "Seq Scan on "+tc.table) {
				t.Errorf("the check does not probe %s's primary key:\n%s", tc.table, text)
			}
		})
	}
}

type rollback struct{}

func (rollback) Error() string { return "rollback" }

var errRollback error = rollback{}
