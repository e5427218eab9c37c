package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// ts converts a time to its column value: Unix microseconds, NULL if zero.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// tm truncates a time as the store keeps it.
func tm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeCol scans a nullable microsecond column into a time.Time.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// jsonCol scans a JSON text column into a value (NULL leaves it zero).
type jsonCol struct{ v any }

// Scan implements sql.Scanner.
func (c jsonCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("json column holds %T", v)
	}
	return json.Unmarshal(b, c.v)
}

// rawCol scans a nullable JSON text column into a json.RawMessage.
type rawCol struct{ v *json.RawMessage }

// Scan implements sql.Scanner.
func (c rawCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.v = nil
	case string:
		*c.v = json.RawMessage(v)
	case []byte:
		*c.v = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("json column holds %T", v)
	}
	return nil
}

// rawVal is the column value of a json.RawMessage (NULL when empty).
func rawVal(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// jsonVal marshals v for a JSON column.
func jsonVal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", store.Errorf(store.EINVALID, "cannot encode %T: %v", v, err)
	}
	return string(b), nil
}

// strs returns s, or an empty non-nil slice, so JSON gets [] not null.
func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// boolCol scans an INTEGER 0/1 column, or a boolean expression.
type boolCol struct{ b *bool }

// Scan implements sql.Scanner.
func (c boolCol) Scan(v any) error {
	switch v := v.(type) {
	case int64:
		*c.b = v != 0
	case bool:
		*c.b = v
	case nil:
		*c.b = false
	default:
		return fmt.Errorf("bool column holds %T", v)
	}
	return nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// page runs the limit+1 convention: it trims rows to the page limit and
// returns the cursor of the next page.
func page[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, id(rows[len(rows)-1])
}
