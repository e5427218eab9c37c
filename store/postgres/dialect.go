package postgres

import "github.com/haulhq/haul/store/internal/sqlstore"

// newDialect returns PostgreSQL's side of the data operations shared with
// store/sqlite: writers on many replicas run at once, so the hot paths
// queue on row locks and event IDs advance a locked clock row, and every
// statement is a round trip, so rows are inserted many to a statement.
func newDialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:         "postgres",
		IsUnique:     isUnique,
		IsForeignKey: isForeignKey,
		// The schema keeps SQLite's 0/1 integers for booleans.
		Bool:       b2i,
		AnyOp:      "OR",
		Least:      "LEAST",
		FloatParam: "?::float8",
		RowLocks:   true,
		// A round trip per item would make a 10 000 item export wait on
		// 10 000 round trips.
		RowsPerInsert: 500,
		// Lock the event clock row until commit: appends serialize, and in
		// a serializable transaction the lock also fails (and the
		// transaction is retried) if another append committed since our
		// snapshot.
		LastEventID:    "SELECT last_id FROM event_clock FOR UPDATE",
		SetLastEventID: "UPDATE event_clock SET last_id = ?",
	}
}

// b2i is the column value of a boolean: the schema keeps SQLite's 0/1.
func b2i(b bool) any {
	if b {
		return 1
	}
	return 0
}
