package transcode

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/e2e"
)

// The end-to-end tests run the real `haul serve` binary (built once by
// internal/e2e) and drive the 202 download flow over HTTP.

func TestMain(m *testing.M) { e2e.Main(m) }

// requireE2E skips end-to-end tests in -short mode.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: end-to-end test runs the haul binary")
	}
}

// api is a small client for one server.
type api struct {
	t   *testing.T
	srv *e2e.Server
}

// reply is one HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (c api) do(method, path string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	url := path
	if !strings.HasPrefix(url, "http") {
		url = c.srv.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+c.srv.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// expect fails unless the reply has the status (and problem code).
func (c api) expect(r reply, status int, code ...string) map[string]any {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(c.t)
	if len(code) > 0 && m["code"] != code[0] {
		c.t.Fatalf("problem %s, want code %s", r.body, code[0])
	}
	return m
}

// upload creates an asset from the file and waits until it is scanned.
func (c api) upload(path string) map[string]any {
	c.t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	a := c.expect(c.do("POST", "/v1/assets", map[string]any{"title": filepath.Base(path), "filename": filepath.Base(path)}), 201)
	c.expect(c.do("PUT", a["upload_url"].(string), content), 200)
	id := a["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := c.expect(c.do("GET", "/v1/assets/"+id, nil), 200)
		if got["state"] == "available" {
			return got
		}
		if got["state"] == "quarantined" || time.Now().After(deadline) {
			c.t.Fatalf("asset %s is %v", id, got["state"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitJob polls GET /v1/jobs/{id} until the job is finished, calling
// seen with every reply.
func (c api) waitJob(id string, timeout time.Duration, seen func(map[string]any)) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := c.expect(c.do("GET", "/v1/jobs/"+id, nil), 200)
		if seen != nil {
			seen(j)
		}
		if j["status"] == "succeeded" || j["status"] == "failed" {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s still %v after %s", id, j["status"], timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestE2EDownloadFlow(t *testing.T) {
	requireE2E(t)
	requireFFmpeg(t)
	srv := e2e.StartServer(t, "--workers", "1")
	c := api{t, srv}
	dir := t.TempDir()

	formats := c.expect(c.do("GET", "/v1/formats", nil), 200)["data"].([]any)
	var names []string
	for _, f := range formats {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, Names()) {
		t.Fatalf("formats = %v, want %v", names, Names())
	}
	ready := c.expect(c.do("GET", "/readyz", nil), 200)
	if ready["checks"].(map[string]any)["renditions"] != "ok" {
		t.Fatalf("readyz = %v", ready)
	}

	video := c.upload(genMedia(t, dir, "clip", mediaSpec{size: "640x360", seconds: 2, audio: true, lang: "eng", ext: "mp4"}))
	media, _ := video["media"].(map[string]any)
	if media["width"] != 640.0 || media["height"] != 360.0 || media["video_codec"] != "h264" || media["audio_codec"] != "aac" || media["kind"] != "video" {
		t.Fatalf("asset media = %v", media)
	}
	id := video["id"].(string)

	// Not ready yet: 202 with the job, Location and Retry-After.
	r := c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_1080p"})
	accepted := c.expect(r, 202)
	jobID, _ := accepted["job_id"].(string)
	if !strings.HasPrefix(jobID, "job_") || r.header.Get("Location") != "/v1/jobs/"+jobID || r.header.Get("Retry-After") == "" {
		t.Fatalf("202 = %s, headers %v", r.body, r.header)
	}
	if est, _ := accepted["estimated_seconds"].(float64); est < 1 {
		t.Fatalf("estimated_seconds = %v", accepted["estimated_seconds"])
	}
	var progress []float64
	job := c.waitJob(jobID, 2*time.Minute, func(j map[string]any) {
		p, _ := j["progress"].(float64)
		progress = append(progress, p)
	})
	if job["status"] != "succeeded" {
		t.Fatalf("job = %v", job)
	}
	for i, p := range progress {
		if p < 0 || p > 1 || (i > 0 && p < progress[i-1]) {
			t.Fatalf("progress went %v", progress)
		}
	}
	result, _ := job["result"].(map[string]any)
	if result == nil || !strings.HasPrefix(result["download_url"].(string), srv.URL+"/dl/") {
		t.Fatalf("job result = %v", job)
	}

	// Ready now: 200 with a signed URL; the bytes are the H.264 rendition, not upscaled.
	ok := c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_1080p"}), 200)
	if ok["checksum"] != result["checksum"] || ok["content_type"] != "video/mp4" {
		t.Fatalf("200 = %v, job result %v", ok, result)
	}
	resp, err := http.Get(ok["download_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "got.mp4")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || int64(len(b)) != int64(ok["size"].(float64)) {
		t.Fatalf("download: %d, %d bytes (want %v)", resp.StatusCode, len(b), ok["size"])
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := mustProbe(t, out)
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 640 || m.Height != 360 || m.Duration < 1.7 || m.Duration > 2.3 {
		t.Fatalf("downloaded rendition = %+v", m)
	}

	// A video preset on a document: 422 unsupported_format naming what applies.
	pdf := c.upload(notMedia(t, dir))
	p := c.expect(c.do("POST", "/v1/assets/"+pdf["id"].(string)+"/downloads", map[string]any{"format": "mp4_720p"}), 422, "unsupported_format")
	if allowed, _ := p["allowed_formats"].([]any); len(allowed) != 1 || allowed[0] != "original" {
		t.Fatalf("allowed_formats = %v", p["allowed_formats"])
	}
	// An audio-only asset gets audio_m4a only.
	tone := c.upload(genMedia(t, dir, "tone", mediaSpec{seconds: 1, audio: true, ext: "mp3"}))
	p = c.expect(c.do("POST", "/v1/assets/"+tone["id"].(string)+"/downloads", map[string]any{"format": "thumbnail_jpg"}), 422, "unsupported_format")
	if allowed, _ := p["allowed_formats"].([]any); len(allowed) != 2 || allowed[1] != "audio_m4a" {
		t.Fatalf("allowed_formats = %v", p["allowed_formats"])
	}
}

func TestE2EConcurrentRequestsShareOneJob(t *testing.T) {
	requireE2E(t)
	requireFFmpeg(t)
	srv := e2e.StartServer(t, "--workers", "1", "--rate-limit=off")
	c := api{t, srv}
	id := c.upload(genMedia(t, t.TempDir(), "clip", mediaSpec{size: "640x360", seconds: 8, audio: true, ext: "mp4"}))["id"].(string)
	const n = 20
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_720p"})
		})
	}
	close(start)
	wg.Wait()
	jobs := map[string]bool{}
	for i, r := range replies {
		if r.status != 202 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		jobs[r.json(t)["job_id"].(string)] = true
	}
	if len(jobs) != 1 {
		t.Fatalf("%d jobs for one rendition: %v", len(jobs), jobs)
	}
	for j := range jobs {
		if got := c.waitJob(j, 3*time.Minute, nil); got["status"] != "succeeded" {
			t.Fatalf("job = %v", got)
		}
	}
}

// ffmpegsUsing counts running ffmpeg processes whose arguments mention dir.
func ffmpegsUsing(t *testing.T, dir string) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "ffmpeg" && strings.Contains(string(b), dir) {
			n++
		}
	}
	return n
}

func TestE2EKilledServerResumesJob(t *testing.T) {
	requireE2E(t)
	requireFFmpeg(t)
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("SKIPPED: needs /proc to watch ffmpeg processes")
	}
	srv := e2e.StartServer(t, "--workers", "1")
	c := api{t, srv}
	// Long enough that an idle machine is still encoding when the kill
	// comes (20 s of video took 1.7 s to encode on an idle 2-core VM).
	id := c.upload(genMedia(t, t.TempDir(), "long", mediaSpec{size: "640x360", seconds: 90, audio: true, ext: "mp4"}))["id"].(string)
	jobID := c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_1080p"}), 202)["job_id"].(string)

	// Wait until ffmpeg is encoding, then SIGKILL the server.
	deadline := time.Now().Add(time.Minute)
	for {
		j := c.expect(c.do("GET", "/v1/jobs/"+jobID, nil), 200)
		if p, _ := j["progress"].(float64); j["status"] == "processing" && (p > 0 || ffmpegsUsing(t, srv.DataDir) > 0) {
			break
		}
		if j["status"] == "succeeded" || time.Now().After(deadline) {
			t.Fatalf("job %v before the kill", j)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Kill()
	// The killed server's ffmpeg dies with it.
	for i := 0; ffmpegsUsing(t, srv.DataDir) > 0; i++ {
		if i > 50 {
			t.Fatal("ffmpeg outlived the killed server")
		}
		time.Sleep(20 * time.Millisecond)
	}

	srv.KillAndRestart()
	// The sole server of a SQLite store requeues the job at start-up: it
	// runs again at once, not after its 15 s lease.
	for start := time.Now(); !strings.Contains(srv.Output(), "attempt=2"); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 8*time.Second {
			t.Fatalf("job not running again 8 s after the restart (lease 15 s):\n%s", srv.Output())
		}
	}
	if !strings.Contains(srv.Output(), "requeued rendition jobs left running by a previous run") {
		t.Fatalf("no requeue at start-up:\n%s", srv.Output())
	}
	maxConcurrent := 0
	job := c.waitJob(jobID, 3*time.Minute, func(map[string]any) {
		maxConcurrent = max(maxConcurrent, ffmpegsUsing(t, srv.DataDir))
	})
	if job["status"] != "succeeded" {
		t.Fatalf("job after restart = %v", job)
	}
	if maxConcurrent > 1 {
		t.Fatalf("%d ffmpeg processes ran the job at once", maxConcurrent)
	}
	if !strings.Contains(srv.Output(), "attempt=2") {
		t.Fatalf("job not reclaimed on a second attempt:\n%s", srv.Output())
	}
	ok := c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_1080p"}), 200)
	if ok["size"].(float64) <= 0 {
		t.Fatalf("download = %v", ok)
	}
}

func TestE2EWithoutFFmpeg(t *testing.T) {
	requireE2E(t)
	e2e.Binary(t) // built with the real PATH
	bin := t.TempDir()
	t.Setenv("PATH", bin) // no ffmpeg, no ffprobe
	srv := e2e.StartServer(t)
	c := api{t, srv}
	ready := c.expect(c.do("GET", "/readyz", nil), 200)
	if r, _ := ready["checks"].(map[string]any)["renditions"].(string); !strings.Contains(r, "unavailable") {
		t.Fatalf("readyz = %v", ready)
	}
	formats := c.expect(c.do("GET", "/v1/formats", nil), 200)["data"].([]any)
	if len(formats) != 1 || formats[0].(map[string]any)["name"] != "original" {
		t.Fatalf("formats = %v", formats)
	}
	src := filepath.Join("..", "testdata", "media", "sample.mp4")
	id := c.upload(src)["id"].(string)
	p := c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_720p"}), 503, "unavailable")
	if !strings.Contains(p["detail"].(string), "install ffmpeg") {
		t.Fatalf("503 detail %q does not say to install ffmpeg", p["detail"])
	}
	c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "original"}), 200)
	c.expect(c.do("POST", "/v1/assets/"+id+"/downloads", map[string]any{"format": "mp4_4k"}), 422, "unsupported_format")
}

func TestE2EExportFillsAsJobsFinish(t *testing.T) {
	requireE2E(t)
	requireFFmpeg(t)
	srv := e2e.StartServer(t, "--workers", "2")
	c := api{t, srv}
	dir := t.TempDir()
	v1 := c.upload(genMedia(t, dir, "one", mediaSpec{size: "320x240", seconds: 2, ext: "mp4"}))["id"].(string)
	v2 := c.upload(genMedia(t, dir, "two", mediaSpec{size: "1280x720", seconds: 2, audio: true, ext: "mkv"}))["id"].(string)
	pdf := c.upload(notMedia(t, dir))["id"].(string)
	exp := c.expect(c.do("POST", "/v1/exports", map[string]any{"name": "thumbs", "format": "thumbnail_jpg",
		"items": []map[string]any{{"asset_id": v1}, {"asset_id": v2}, {"asset_id": pdf}}}), 202)
	url := exp["manifest_url"].(string)

	var m map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m = c.expect(c.do("GET", url+"?wait=20s", nil), 200)
		if m["status"] != "processing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("export still processing: %v", m)
		}
	}
	items := m["items"].([]any)
	if m["status"] != "partial" || len(items) != 3 {
		t.Fatalf("manifest = %v", m)
	}
	sizes := map[string][2]int{v1: {320, 240}, v2: {640, 360}}
	for _, raw := range items {
		it := raw.(map[string]any)
		id := it["asset_id"].(string)
		if id == pdf {
			if it["status"] != "failed" || it["error"].(map[string]any)["code"] != "unsupported_format" {
				t.Fatalf("pdf item = %v", it)
			}
			continue
		}
		if it["status"] != "ready" || !strings.HasSuffix(it["filename"].(string), "_thumbnail_jpg.jpg") {
			t.Fatalf("item = %v", it)
		}
		resp, err := http.Get(it["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := filepath.Join(dir, id+".jpg")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got := mustProbe(t, out)
		if want := sizes[id]; resp.StatusCode != 200 || got.Kind != KindImage || got.Width != want[0] || got.Height != want[1] {
			t.Fatalf("thumbnail of %s: %d %+v, want %v", id, resp.StatusCode, got, want)
		}
	}
}
