package server

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Many uploads at once never run more scans (and so scanner or ffprobe
// processes) at the same time than the server's scan slots.
func TestScansAreBounded(t *testing.T) {
	dir := t.TempDir()
	running, log := filepath.Join(dir, "running"), filepath.Join(dir, "log")
	if err := os.Mkdir(running, 0o700); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *Deps) {
		// Each scan marks itself running, records how many are, and lingers.
		d.Config.ScanCommand = fmt.Sprintf(`cat >/dev/null; touch %[1]s/$$; ls %[1]s | wc -l >> %[2]s; sleep 0.2; rm %[1]s/$$`, running, log)
	})
	const uploads = 12
	var wg sync.WaitGroup
	ids := make([]string, uploads)
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/assets", e.admin, map[string]any{"title": fmt.Sprint("a", i), "filename": "a.txt"})
			if r.StatusCode != http.StatusCreated {
				t.Errorf("create: %d %s", r.StatusCode, r.body)
				return
			}
			a := r.obj()
			if r := e.do("PUT", a["upload_url"].(string), e.admin, []byte("some text")); r.StatusCode != http.StatusOK {
				t.Errorf("upload: %d %s", r.StatusCode, r.body)
			}
			ids[i] = a["id"].(string)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != "" {
			e.waitState(e.admin, id)
		}
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	most, runs := 0, 0
	for _, line := range strings.Fields(string(raw)) {
		n, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("log line %q", line)
		}
		most, runs = max(most, n), runs+1
	}
	if runs != uploads {
		t.Fatalf("%d scans ran, want %d", runs, uploads)
	}
	if limit := max(2, runtime.NumCPU()); most > limit {
		t.Fatalf("%d scans ran at once, limit %d", most, limit)
	}
}
