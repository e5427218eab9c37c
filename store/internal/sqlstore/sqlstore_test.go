package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/haulhq/haul/store"
)

func TestApplyMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("two")},
		"migrations/0001_init.sql": {Data: []byte("one")},
		"migrations/README":        {Data: []byte("not a migration")},
		"other/0000_x.sql":         {Data: []byte("elsewhere")},
	}
	var got []string
	err := ApplyMigrations(fsys, func(version, body string) error {
		got = append(got, version+"="+body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0001_init=one 0002_more=two"; strings.Join(got, " ") != want {
		t.Errorf("applied %q, want %q", strings.Join(got, " "), want)
	}

	boom := errors.New("boom")
	got = nil
	err = ApplyMigrations(fsys, func(version, body string) error {
		got = append(got, version)
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "migration 0001_init") {
		t.Errorf("error %v, want boom naming 0001_init", err)
	}
	if len(got) != 1 {
		t.Errorf("applied %v after the first failed, want only 0001_init", got)
	}
}

func TestDialectErr(t *testing.T) {
	d := &Dialect{Name: "testdb"}
	if err := d.Err("read", nil); err != nil {
		t.Errorf("nil error became %v", err)
	}
	conflict := store.Errorf(store.ECONFLICT, "taken")
	if err := d.Err("write", conflict); err != conflict {
		t.Errorf("store error became %v", err)
	}
	for _, cause := range []error{context.Canceled, context.DeadlineExceeded} {
		err := d.Err("read", fmt.Errorf("query: %w", cause))
		var se *store.Error
		if !errors.Is(err, cause) || errors.As(err, &se) {
			t.Errorf("%v became %#v, want it kept (not a store.Error)", cause, err)
		}
		if !strings.HasPrefix(err.Error(), "testdb: read: ") {
			t.Errorf("message %q does not say where", err)
		}
	}
	cause := errors.New("disk I/O error")
	err := d.Err("write", cause)
	var se *store.Error
	if !errors.As(err, &se) || se.Code != store.EINTERNAL || se.Message != "testdb: write" || !errors.Is(err, cause) {
		t.Errorf("got %#v, want EINTERNAL \"testdb: write\" wrapping the cause", err)
	}
}
