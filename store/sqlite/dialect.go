package sqlite

import "github.com/haulhq/haul/store/internal/sqlstore"

// newDialect returns SQLite's side of the data operations shared with
// store/postgres: the one writer connection serializes every write, so
// nothing is locked by row, and a statement costs no round trip, so rows
// are inserted one prepared statement at a time.
func newDialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:         "sqlite",
		IsUnique:     isUnique,
		IsForeignKey: isForeignKey,
		// The driver writes a bool as the integer 0 or 1.
		Bool:       func(b bool) any { return b },
		AnyOp:      "+",
		Least:      "min",
		FloatParam: "?",
		// The write lock is held, so the newest ID is stable.
		LastEventID: "SELECT max(id) FROM events",
	}
}
