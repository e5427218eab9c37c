package sqlstore

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// ApplyMigrations calls apply with the version (the file name without
// .sql) and text of each migrations/*.sql file of fsys, in name order,
// and stops at the first error. Recording which versions are applied, and
// in which transaction, is the backend's.
func ApplyMigrations(fsys fs.FS, apply func(version, body string) error) error {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", version, err)
		}
		if err := apply(version, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
	}
	return nil
}
