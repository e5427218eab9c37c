package downloader

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestForeignFileAtTargetIsKept: a file at a target name that this
// directory's journal does not know (the user's own) is never lost: when
// it is not already what the manifest asks for, it is moved to
// .haul/replaced/ before the download takes its place.
func TestForeignFileAtTargetIsKept(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(100<<10, 71)
	withSum := s.add("sum.bin", d)
	noSum := s.add("plain.bin", d)
	noSum.Checksum = ""
	same := s.add("same.bin", d)

	dir := t.TempDir()
	mine := []byte("the user's own file")
	for _, name := range []string{"sum.bin", "plain.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), mine, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "same.bin"), d, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, evs := runEngine(t, dir, Options{}, withSum, noSum, same)
	assertOK(t, sum)
	for _, name := range []string{"sum.bin", "plain.bin", "same.bin"} {
		assertFile(t, dir, name, d)
	}
	kept := map[string]string{}
	for _, r := range sum.Results {
		kept[r.Name] = r.Replaced
	}
	for _, name := range []string{"sum.bin", "plain.bin"} {
		want := filepath.Join(dir, StateDir, ReplacedDir, name)
		if kept[name] != want {
			t.Errorf("%s: Replaced = %q, want %q", name, kept[name], want)
		}
		if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, mine) {
			t.Errorf("%s: kept copy %q, %v", name, got, err)
		}
	}
	if kept["same.bin"] != "" || !sum.Results[2].Skipped {
		t.Errorf("same.bin already matched its checksum: Replaced %q, skipped %v", kept["same.bin"], sum.Results[2].Skipped)
	}
	found := false
	for _, ev := range evs {
		if ev.Type == EventDone && ev.Filename == "plain.bin" && ev.Replaced != "" {
			found = true
		}
	}
	if !found {
		t.Error("no done event saying where plain.bin's old file went")
	}

	// A file the journal knows is this directory's own download: changed
	// since, it is fetched again without a copy.
	if err := os.WriteFile(filepath.Join(dir, "sum.bin"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, _ = runEngine(t, dir, Options{}, withSum)
	assertOK(t, sum)
	assertFile(t, dir, "sum.bin", d)
	if sum.Results[0].Replaced != "" {
		t.Errorf("journal-known file kept as %q", sum.Results[0].Replaced)
	}

	// Without the journal it is foreign again; its kept copy's name is
	// taken, so it goes to NAME.1.
	if err := os.WriteFile(filepath.Join(dir, "sum.bin"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, StateDir, doneLog)); err != nil {
		t.Fatal(err)
	}
	sum, _ = runEngine(t, dir, Options{}, withSum)
	assertOK(t, sum)
	assertFile(t, dir, "sum.bin", d)
	if got, err := os.ReadFile(filepath.Join(dir, StateDir, ReplacedDir, "sum.bin.1")); err != nil || string(got) != "edited" {
		t.Errorf("second kept copy: %q, %v", got, err)
	}
}
