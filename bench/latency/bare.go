package latency

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/walcast/walcast/bench/stats"
)

// bareReceiver is the baseline: a bare pgoutput consumer that parses each
// Insert of public.t and times it, with nothing else in between. Its
// receive loop owns hist, first and last until done is closed.
type bareReceiver struct {
	conn   *pgconn.PgConn
	marker int64 // k of the rows it counts

	stats.Arrivals

	done    chan struct{}
	err     error // why the loop ended, unless stopped
	stopped atomic.Bool
}

// startBare starts replication for a receiver counting rows whose k is
// marker: on slot when given (it must exist), otherwise on a new temporary
// slot, which starts at the current end of WAL.
func startBare(ctx context.Context, url, slot string, marker int64) (*bareReceiver, error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	for k, v := range map[string]string{"replication": "database", "application_name": "bench-bare", "TimeZone": "UTC", "DateStyle": "ISO"} {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bare receiver: connect for replication: %w", err)
	}
	if slot == "" {
		slot = "bench_bare_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		_, err = pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Temporary: true, SnapshotAction: "NOEXPORT_SNAPSHOT"})
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("bare receiver: create temporary slot: %w", err)
		}
	}
	opts := pglogrepl.StartReplicationOptions{PluginArgs: []string{"proto_version '2'", "publication_names 'walcast'"}}
	if err := pglogrepl.StartReplication(ctx, conn, slot, 0, opts); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("bare receiver: start replication on %s: %w", slot, err)
	}
	b := &bareReceiver{conn: conn, marker: marker, done: make(chan struct{})}
	go b.loop()
	return b, nil
}

// Stop ends the receive loop and closes the connection, which drops a
// temporary slot.
func (b *bareReceiver) Stop() {
	b.stopped.Store(true)
	_ = b.conn.Conn().SetReadDeadline(time.Now())
	<-b.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.conn.Close(ctx)
}

// failed reports an error that ended the loop early.
func (b *bareReceiver) failed() error {
	select {
	case <-b.done:
		if !b.stopped.Load() {
			return b.err
		}
	default:
	}
	return nil
}

// loop reads with socket deadlines rather than a context per message, and
// reports the received position every few seconds so the slot can advance.
func (b *bareReceiver) loop() {
	defer close(b.done)
	netConn := b.conn.Conn()
	var (
		pos        pglogrepl.LSN
		relID      uint32
		kCol, sCol = -1, -1
		nextStatus time.Time
	)
	for {
		if now := time.Now(); !now.Before(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(context.Background(), b.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos}); err != nil {
				b.err = fmt.Errorf("send status: %w", err)
				return
			}
			nextStatus = now.Add(5 * time.Second)
			if err := netConn.SetReadDeadline(nextStatus); err != nil {
				b.err = err
				return
			}
		}
		raw, err := b.conn.ReceiveMessage(context.Background())
		if err != nil {
			var ne net.Error
			if b.stopped.Load() {
				return
			}
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			b.err = fmt.Errorf("receive: %w", err)
			return
		}
		now := time.Now().UnixNano()
		var data []byte
		switch m := raw.(type) {
		case *pgproto3.CopyData:
			data = m.Data
		case *pgproto3.ErrorResponse:
			b.err = fmt.Errorf("server error: %s", m.Message)
			return
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err == nil && ka.ReplyRequested {
				nextStatus = time.Time{}
			}
			continue
		case pglogrepl.XLogDataByteID:
		default:
			continue
		}
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			b.err = fmt.Errorf("parse XLogData: %w", err)
			return
		}
		pos = max(pos, xld.WALStart+pglogrepl.LSN(len(xld.WALData)))
		msg, err := pglogrepl.ParseV2(xld.WALData, false)
		if err != nil {
			b.err = fmt.Errorf("parse pgoutput message: %w", err)
			return
		}
		switch m := msg.(type) {
		case *pglogrepl.RelationMessageV2:
			if m.Namespace == "public" && m.RelationName == "t" {
				relID = m.RelationID
				for i, c := range m.Columns {
					switch c.Name {
					case "k":
						kCol = i
					case "sent_at":
						sCol = i
					}
				}
			}
		case *pglogrepl.InsertMessageV2:
			if m.RelationID != relID || kCol < 0 || sCol < 0 || m.Tuple == nil || len(m.Tuple.Columns) <= max(kCol, sCol) {
				continue
			}
			k, ok := digitsSigned(m.Tuple.Columns[kCol].Data)
			if !ok || k != b.marker {
				continue
			}
			sent, ok := stats.ParseStamp(m.Tuple.Columns[sCol].Data)
			if !ok {
				continue
			}
			b.Record(now, sent)
		}
	}
}

func digitsSigned(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if b[0] == '-' {
		n, ok := stats.Digits(b[1:])
		return -n, ok && len(b) > 1
	}
	return stats.Digits(b)
}
