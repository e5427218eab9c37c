package backend_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/haulhq/haul/internal/e2e"
	"github.com/haulhq/haul/internal/testsvc"
)

// pidOf finds the process of a haul serve started on addr.
func pidOf(t *testing.T, addr string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i, a := range args {
			if a == "--addr" && i+1 < len(args) && args[i+1] == addr && strings.Contains(string(b), "serve") {
				pid, _ := strconv.Atoi(filepath.Base(d))
				return pid
			}
		}
	}
	t.Fatalf("no haul serve process for %s", addr)
	return 0
}

// TestTwoReplicasRenditionJobs: 40 rendition jobs requested through two
// replicas are spread over both; replica A is killed while it runs one,
// B picks that job up once A's lease runs out, and every job succeeds,
// none of the others run twice.
func TestTwoReplicasRenditionJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("SKIPPING: ffmpeg not found (apt-get install ffmpeg); CI installs it")
	}
	dsn := testsvc.PostgreSQL(t)
	bucket := testsvc.S3(t)
	useBinary(t)
	for _, kv := range bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	video := filepath.Join(t.TempDir(), "clip.mp4")
	gen := exec.Command("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=15",
		"-f", "lavfi", "-i", "sine=duration=3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", video)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("make test video: %v\n%s", err, out)
	}
	clip, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"--db", dsn, "--blobs", bucket.URL(""), "--rate-limit=off"}
	a := e2e.StartServer(t, args...)
	b := e2e.StartServer(t, args...)
	key := a.AdminKey

	formats := []string{"mp4_1080p", "mp4_720p", "mp4_480p", "audio_m4a", "thumbnail_jpg"}
	// Probe the build: without the rendition workers, video formats are
	// not offered.
	first := uploadAvailable(t, a, a, key, "shared.bin", clip)
	var probe struct {
		JobID string `json:"job_id"`
	}
	resp := api(t, "POST", a.URL+"/v1/assets/"+first+"/downloads", key, map[string]any{"format": formats[0]}, &probe)
	if resp.StatusCode == http.StatusUnprocessableEntity {
		t.Skip("SKIPPING: this build of haul serve makes no renditions yet (the transcode branch adds them)")
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first rendition request: %d", resp.StatusCode)
	}
	assets := []string{first}
	for i := 1; i < 8; i++ {
		// Distinct bytes per asset: a trailing byte ffmpeg ignores.
		assets = append(assets, uploadAvailable(t, b, b, key, "shared.bin", append(bytes.Clone(clip), byte(i))))
	}
	requested := 1
	for i, id := range assets {
		for j, f := range formats {
			if i == 0 && j == 0 {
				continue
			}
			srv := a
			if (i+j)%2 == 1 {
				srv = b
			}
			var r struct {
				JobID string `json:"job_id"`
			}
			if resp := api(t, "POST", srv.URL+"/v1/assets/"+id+"/downloads", key, map[string]any{"format": f}, &r); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("rendition %s of %s: %d", f, id, resp.StatusCode)
			}
			requested++
		}
	}
	if requested != 40 {
		t.Fatalf("requested %d jobs", requested)
	}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Kill A while it holds a job. A is frozen (SIGSTOP) while its jobs
	// are read, so none can finish between the look and the kill.
	pidA := pidOf(t, a.Addr)
	ownerA := fmt.Sprintf("-%d-", pidA)
	heldByA := func() map[string]bool {
		held := map[string]bool{}
		rows, err := db.QueryContext(ctx, `SELECT id FROM jobs WHERE status = 'processing' AND lease_owner LIKE '%' || $1 || '%'`, ownerA)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			held[id] = true
		}
		return held
	}
	var held map[string]bool
	for {
		if ctx.Err() != nil {
			t.Fatal("replica A never held a job")
		}
		if err := syscall.Kill(pidA, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if held = heldByA(); len(held) > 0 {
			break
		}
		if err := syscall.Kill(pidA, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Kill()

	// B finishes everything, A's jobs included.
	for {
		var open int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'processing')").Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d jobs still open after 5 minutes", open)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rows, err := db.QueryContext(ctx, "SELECT id, status, attempts, error FROM jobs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	jobs := 0
	for rows.Next() {
		var id, status, msg string
		var attempts int
		if err := rows.Scan(&id, &status, &attempts, &msg); err != nil {
			t.Fatal(err)
		}
		jobs++
		if status != "succeeded" {
			t.Errorf("job %s %s: %s", id, status, msg)
		}
		switch {
		case held[id] && attempts != 2:
			t.Errorf("job %s, running on A when it died, has %d attempts; want 2 (once on A, once after)", id, attempts)
		case !held[id] && attempts != 1:
			t.Errorf("job %s ran %d times, want once", id, attempts)
		}
	}
	if jobs != 40 {
		t.Errorf("%d jobs in the queue, want 40", jobs)
	}
	var renditions int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM renditions").Scan(&renditions); err != nil {
		t.Fatal(err)
	}
	if renditions != 40 {
		t.Errorf("%d renditions, want 40", renditions)
	}
}
