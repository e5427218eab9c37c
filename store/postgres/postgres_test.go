package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/postgres"
	"github.com/haulhq/haul/store/storetest"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

func openTest(t *testing.T) store.Store {
	t.Helper()
	db, err := postgres.Open(context.Background(), testsvc.PostgreSQL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, openTest)
}

// TestConcurrentOpenMigratesOnce: replicas starting together on an empty
// database all come up, and the schema is applied once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dsn := testsvc.PostgreSQL(t)
	const n = 6
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	var count int
	if err := dbs[0].SQL().QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", count)
	}
	// Every replica sees the same bootstrap value.
	stored := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			v, _, err := dbs[i].PutSettingIfAbsent(ctx, "bootstrap", []byte{byte('a' + i)})
			if err != nil {
				t.Error(err)
			}
			stored[i] = v
		})
	}
	wg.Wait()
	for i := range n {
		if string(stored[i]) != string(stored[0]) {
			t.Errorf("replica %d stored %q, replica 0 %q", i, stored[i], stored[0])
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testsvc.PostgreSQL(t)
	cases := []struct {
		name    string
		dsn     string
		want    error
		mention string
	}{
		{"unreachable", "postgres://haul:s3cret@127.0.0.1:1/haul?sslmode=disable&connect_timeout=2", postgres.ErrUnreachable, "127.0.0.1:1"},
		{"no database", replaceDB(dsn, "no_such_db"), postgres.ErrNoDatabase, "no_such_db"},
		{"no role", strings.Replace(dsn, "postgres://postgres@", "postgres://nobody:s3cret@", 1), postgres.ErrAuth, "nobody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := postgres.Open(ctx, c.dsn, postgres.Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("err = %v, want it to mention %q", err, c.mention)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	if _, err := postgres.Open(ctx, "postgres://a:s3cret@[::1:5432/x", postgres.Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("malformed URL: err = %v, want an error without the password", err)
	}
}

func replaceDB(dsn, db string) string {
	i := strings.LastIndex(dsn, "/")
	j := strings.Index(dsn, "?")
	return dsn[:i+1] + db + dsn[j:]
}
