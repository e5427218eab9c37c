package transcode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/sqlite"
)

// env is a real SQLite store and blob/fs store in a temp dir.
type env struct {
	t      *testing.T
	dir    string
	store  *sqlite.DB
	blobs  *blobfs.Store
	tenant string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	tn := &store.Tenant{Name: "default"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, store: db, blobs: blobs, tenant: tn.ID}
}

// service builds a Service on the env; mutate tweaks its deps.
func (e *env) service(mutate func(*Deps)) *Service {
	e.t.Helper()
	d := Deps{Store: e.store, Blobs: e.blobs, Logger: testLogger(e.t),
		Config: Config{Workers: 1, Lease: 5 * time.Second, PollInterval: 50 * time.Millisecond, TempDir: e.t.TempDir()}}
	if mutate != nil {
		mutate(&d)
	}
	s, err := New(d)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// asset stores the file at path as an available asset, probed like the
// server's scan step does.
func (e *env) asset(s *Service, path string) *store.Asset {
	e.t.Helper()
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	info, err := e.blobs.Put(ctx, f, blob.PutOptions{SizeHint: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	obj, err := e.blobs.Open(ctx, info.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	defer obj.Close()
	a := &store.Asset{TenantID: e.tenant, Title: filepath.Base(path), Filename: filepath.Base(path),
		Size: info.Size, Checksum: "sha256:" + info.Key, BlobKey: info.Key, State: store.AssetAvailable,
		Rights: store.Rights{Downloadable: true}}
	media, err := s.Probe(ctx, a, obj)
	if err != nil {
		e.t.Fatal(err)
	}
	a.Media = media
	if err := e.store.CreateAsset(ctx, a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// run starts the worker pool and stops it when the test ends.
func run(t *testing.T, s *Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitJob polls the job until cond holds (or fails the test after 60 s).
func (e *env) waitJob(id string, cond func(*store.Job) bool) *store.Job {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := e.store.GetJob(context.Background(), e.tenant, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s (owner %q, progress %v, error %q)", id, j.Status, j.LeaseOwner, j.Progress, j.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func terminal(j *store.Job) bool { return j.Terminal() }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

// events returns the types of the tenant's events.
func (e *env) events() []string {
	e.t.Helper()
	evs, _, err := e.store.ListEvents(context.Background(), e.tenant, store.EventFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	return types
}

func TestWorkerMakesRendition(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	var mu sync.Mutex
	var finished []store.JobStatus
	s := e.service(func(d *Deps) {
		d.JobFinished = func(ctx context.Context, j *store.Job) error {
			mu.Lock()
			finished = append(finished, j.Status)
			mu.Unlock()
			return nil
		}
	})
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "640x360", seconds: 2, audio: true, ext: "mp4"}))
	if m := MediaOf(a); !m.IsVideo() || m.Width != 640 {
		t.Fatalf("probed media = %+v", m)
	}
	ctx := context.Background()
	rend, job, err := s.Ensure(ctx, a, "mp4_1080p")
	if err != nil || rend != nil || job == nil || job.Status != store.JobQueued {
		t.Fatalf("Ensure = %v, %+v, %v; want a queued job", rend, job, err)
	}
	if est := s.EstimateSeconds(ctx, job); est < 1 {
		t.Fatalf("EstimateSeconds = %d", est)
	}
	run(t, s)
	j := e.waitJob(job.ID, terminal)
	if j.Status != store.JobSucceeded || j.Progress != 1 || j.RenditionID == "" || j.Attempts != 1 {
		t.Fatalf("job = %+v", j)
	}

	rend, job, err = s.Ensure(ctx, a, "mp4_1080p")
	if err != nil || rend == nil || job != nil {
		t.Fatalf("second Ensure = %+v, %+v, %v; want the rendition", rend, job, err)
	}
	if rend.ID != j.RenditionID || rend.ContentType != "video/mp4" || rend.Checksum != "sha256:"+rend.BlobKey {
		t.Fatalf("rendition = %+v", rend)
	}
	// The stored bytes hash to the key and are the encoded video, not upscaled.
	obj, err := e.blobs.Open(ctx, rend.BlobKey)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, obj)
	obj.Close()
	if err != nil || n != rend.Size || hex.EncodeToString(h.Sum(nil)) != rend.BlobKey {
		t.Fatalf("blob: %d bytes, err %v, hash mismatch with %s", n, err, rend.BlobKey)
	}
	out := mustProbe(t, obj.(*blobfs.Object).Name())
	if out.VideoCodec != "h264" || out.AudioCodec != "aac" || out.Width != 640 || out.Height != 360 {
		t.Fatalf("output = %+v", out)
	}
	var meta RenditionMetadata
	if err := json.Unmarshal(rend.Metadata, &meta); err != nil || meta.Media == nil || meta.Width != 640 || meta.Height != 360 || meta.Preset != "mp4_1080p" || meta.SourceDuration < 1.8 {
		t.Fatalf("metadata = %s (%v)", rend.Metadata, err)
	}
	if got := e.events(); len(got) != 1 || got[0] != store.EventJobSucceeded {
		t.Fatalf("events = %v", got)
	}
	// Estimates learn the measured speed, also in a new process.
	want := meta.SourceDuration / meta.EncodeSeconds
	for _, svc := range []*Service{s, e.service(nil)} {
		if got := svc.speeds.speed(ctx, svc, "mp4_1080p"); got != want {
			t.Errorf("speed = %v, want %v (measured)", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(finished) != 2 || finished[0] != store.JobProcessing || finished[1] != store.JobSucceeded {
		t.Fatalf("JobFinished saw %v", finished)
	}
}

func TestEnsureDedupe(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, audio: true, ext: "mp4"}))
	const n = 20
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, job, err := s.Ensure(context.Background(), a, "mp4_480p")
			errs[i] = err
			if job != nil {
				ids[i] = job.ID
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("request %d: job %q err %v; want all to share job %q", i, ids[i], errs[i], ids[0])
		}
	}
	jobs, err := e.store.ListJobs(context.Background(), e.tenant, a.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("%d jobs (err %v), want 1", len(jobs), err)
	}
	// A different format is a different job.
	_, other, err := s.Ensure(context.Background(), a, "audio_m4a")
	if err != nil || other.ID == ids[0] {
		t.Fatalf("audio_m4a job %+v err %v", other, err)
	}
}

func TestEnsureRefuses(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	pdf := e.asset(s, notMedia(t, e.dir))
	if pdf.Media != nil {
		t.Fatalf("PDF got media %s", pdf.Media)
	}
	tone := e.asset(s, genMedia(t, e.dir, "tone", mediaSpec{seconds: 1, audio: true, ext: "mp3"}))
	ctx := context.Background()
	tests := []struct {
		a      *store.Asset
		format string
		want   error
	}{
		{pdf, "mp4_720p", ErrNotApplicable},
		{pdf, "audio_m4a", ErrNotApplicable},
		{tone, "thumbnail_jpg", ErrNotApplicable},
		{tone, "mp4_4k", ErrUnknownFormat},
		{tone, "original", ErrUnknownFormat},
	}
	for _, tt := range tests {
		if _, _, err := s.Ensure(ctx, tt.a, tt.format); !errors.Is(err, tt.want) {
			t.Errorf("Ensure(%s, %s) err = %v, want %v", tt.a.Filename, tt.format, err, tt.want)
		}
	}
	if got := s.Allowed(pdf); len(got) != 0 {
		t.Errorf("Allowed(pdf) = %v", got)
	}
	if got := s.Allowed(tone); len(got) != 1 || got[0] != "audio_m4a" {
		t.Errorf("Allowed(tone) = %v", got)
	}

	missing := e.service(func(d *Deps) {
		d.Tools = Tools{FFmpeg: filepath.Join(e.dir, "none"), FFprobe: filepath.Join(e.dir, "none")}
	})
	if !errors.Is(missing.Available(), ErrUnavailable) || len(missing.Presets()) != 0 || len(missing.Allowed(tone)) != 0 {
		t.Fatalf("without ffmpeg: Available %v, Presets %v, Allowed %v", missing.Available(), missing.Presets(), missing.Allowed(tone))
	}
	if _, _, err := missing.Ensure(ctx, tone, "audio_m4a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ensure without ffmpeg err = %v", err)
	}
}

func TestWorkerReclaimsExpiredLease(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, audio: true, ext: "mp4"}))
	ctx := context.Background()
	_, job, err := s.Ensure(ctx, a, "mp4_480p")
	if err != nil {
		t.Fatal(err)
	}
	// A worker that claims the job and dies without a word.
	dead, err := e.store.ClaimJob(ctx, "dead-worker", time.Now(), 2*time.Second)
	if err != nil || dead == nil || dead.ID != job.ID {
		t.Fatalf("claim by the dead worker: %+v %v", dead, err)
	}
	start := time.Now()
	run(t, s)
	j := e.waitJob(job.ID, terminal)
	if j.Status != store.JobSucceeded || j.Attempts != 2 {
		t.Fatalf("job = %+v; want succeeded on the second attempt", j)
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Fatalf("job reclaimed after %v, before the dead worker's lease expired", waited)
	}
	if err := e.store.HeartbeatJob(ctx, job.ID, "dead-worker", 0.5, time.Now(), time.Minute); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("dead worker's heartbeat err = %v, want conflict", err)
	}
}

func TestWorkerStopsWhenLeaseIsLost(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	var mu sync.Mutex
	var finished []store.JobStatus
	s := e.service(func(d *Deps) {
		d.Config.Lease = 900 * time.Millisecond
		d.JobFinished = func(ctx context.Context, j *store.Job) error {
			mu.Lock()
			finished = append(finished, j.Status)
			mu.Unlock()
			return nil
		}
	})
	// Long enough that the encode is still running when the lease is stolen.
	a := e.asset(s, genMedia(t, e.dir, "long", mediaSpec{size: "640x360", seconds: 30, audio: true, ext: "mp4"}))
	ctx := context.Background()
	_, job, err := s.Ensure(ctx, a, "mp4_1080p")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	e.waitJob(job.ID, func(j *store.Job) bool { return j.Status == store.JobProcessing })
	// Another worker takes the job as if the lease had expired (its clock
	// is ahead): the first worker must notice at its next heartbeat and
	// stop, never completing the job it no longer holds.
	thief, err := e.store.ClaimJob(ctx, "thief", time.Now().Add(time.Hour), time.Hour)
	if err != nil || thief == nil || thief.ID != job.ID {
		t.Fatalf("steal: %+v %v", thief, err)
	}
	time.Sleep(3 * time.Second)
	j, err := e.store.GetJob(ctx, e.tenant, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.JobProcessing || j.LeaseOwner != "thief" || j.RenditionID != "" {
		t.Fatalf("job = %+v; want still the thief's", j)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	for _, st := range finished {
		if st == store.JobSucceeded || st == store.JobFailed {
			t.Fatalf("the worker finished a job it lost: %v", finished)
		}
	}
	if got := e.events(); len(got) != 0 {
		t.Fatalf("events = %v", got)
	}
}

func TestWorkerFailsJob(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	var mu sync.Mutex
	var last *store.Job
	s := e.service(func(d *Deps) {
		d.JobFinished = func(ctx context.Context, j *store.Job) error {
			mu.Lock()
			last = j
			mu.Unlock()
			return nil
		}
	})
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, audio: true, ext: "mp4"}))
	// The bytes change behind the probe result: the encode must fail with
	// ffmpeg's reason, not hang or crash.
	garbage := filepath.Join(e.dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a video any more"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(garbage)
	info, err := e.blobs.Put(context.Background(), f, blob.PutOptions{SizeHint: -1})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, err = e.store.UpdateAsset(context.Background(), e.tenant, a.ID, time.Now(), func(a *store.Asset) error {
		a.BlobKey = info.Key
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, job, err := s.Ensure(context.Background(), a, "mp4_480p")
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	j := e.waitJob(job.ID, terminal)
	if j.Status != store.JobFailed || j.Error == "" {
		t.Fatalf("job = %+v; want failed with a reason", j)
	}
	if got := e.events(); len(got) != 1 || got[0] != store.EventJobFailed {
		t.Fatalf("events = %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if last == nil || last.Status != store.JobFailed {
		t.Fatalf("JobFinished last saw %+v", last)
	}
}

func TestWorkerReleasesJobAtShutdown(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	a := e.asset(s, genMedia(t, e.dir, "long", mediaSpec{size: "640x360", seconds: 30, ext: "mp4"}))
	_, job, err := s.Ensure(context.Background(), a, "mp4_720p")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	e.waitJob(job.ID, func(j *store.Job) bool { return j.Status == store.JobProcessing })
	stop()
	j := e.waitJob(job.ID, func(*store.Job) bool { return true })
	if j.Status != store.JobQueued || j.LeaseOwner != "" {
		t.Fatalf("job after shutdown = %+v; want queued again", j)
	}
}

func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(func(d *Deps) { d.Config.MaxAttempts = 2 })
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, ext: "mp4"}))
	ctx := context.Background()
	_, job, err := s.Ensure(ctx, a, "thumbnail_jpg")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 2 { // two attempts that die
		if j, err := e.store.ClaimJob(ctx, "crashing", now.Add(time.Duration(i)*time.Hour), time.Minute); err != nil || j == nil {
			t.Fatalf("claim %d: %v %v", i, j, err)
		}
	}
	s.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
	run(t, s)
	j := e.waitJob(job.ID, terminal)
	if j.Status != store.JobFailed || j.Attempts != 3 {
		t.Fatalf("job = %+v; want failed on the third claim", j)
	}
}

func TestProbeHook(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	ctx := context.Background()
	for _, c := range []struct {
		path string
		kind string
	}{
		{genMedia(t, e.dir, "v", mediaSpec{size: "320x240", seconds: 1, audio: true, lang: "spa", ext: "mkv"}), KindVideo},
		{notMedia(t, e.dir), ""},
	} {
		// A reader without a file behind it, as from S3: copied to a temp file.
		b, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range []blob.Object{memObject{bytesReadSeeker(b)}, fileObject(t, c.path)} {
			raw, err := s.Probe(ctx, &store.Asset{ID: "ast_x"}, obj)
			if err != nil {
				t.Fatal(err)
			}
			if c.kind == "" {
				if raw != nil {
					t.Fatalf("%s: media %s, want none", c.path, raw)
				}
				continue
			}
			m := MediaOf(&store.Asset{Media: raw})
			if m == nil || m.Kind != c.kind || m.Width != 320 || len(m.Languages) != 1 || m.Languages[0] != "spa" {
				t.Fatalf("%s: media %s", c.path, raw)
			}
		}
	}
	entries, _ := os.ReadDir(s.cfg.TempDir)
	if len(entries) != 0 {
		t.Fatalf("temp files left: %v", entries)
	}
}

type memObject struct{ *readSeeker }

func (memObject) Close() error             { return nil }
func (memObject) Info() blob.Info          { return blob.Info{} }
func bytesReadSeeker(b []byte) *readSeeker { return &readSeeker{b: b} }

type readSeeker struct {
	b   []byte
	off int64
}

func (r *readSeeker) Read(p []byte) (int, error) {
	if r.off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += int64(n)
	return n, nil
}

func (r *readSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		r.off = off
	case io.SeekCurrent:
		r.off += off
	case io.SeekEnd:
		r.off = int64(len(r.b)) + off
	}
	return r.off, nil
}

type osObject struct{ *os.File }

func (osObject) Info() blob.Info { return blob.Info{} }

func fileObject(t *testing.T, path string) blob.Object {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return osObject{f}
}

func TestPurgeUnused(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	clock := time.Now()
	s := e.service(func(d *Deps) {
		d.Config.RenditionTTL = 24 * time.Hour
		d.Now = func() time.Time { return clock }
	})
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, ext: "mp4"}))
	ctx := context.Background()
	_, job, err := s.Ensure(ctx, a, "thumbnail_jpg")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	j := e.waitJob(job.ID, terminal)
	stop()
	if j.Status != store.JobSucceeded {
		t.Fatalf("job = %+v", j)
	}
	rend, _, err := s.Ensure(ctx, a, "thumbnail_jpg")
	if err != nil || rend == nil {
		t.Fatalf("Ensure = %v %v", rend, err)
	}
	if n, err := s.PurgeUnused(ctx); err != nil || n != 0 {
		t.Fatalf("fresh purge: %d %v", n, err)
	}
	clock = clock.Add(25 * time.Hour)
	if n, err := s.PurgeUnused(ctx); err != nil || n != 1 {
		t.Fatalf("purge after the TTL: %d %v", n, err)
	}
	if _, err := e.blobs.Stat(ctx, rend.BlobKey); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("rendition bytes still there: %v", err)
	}
	if _, err := e.blobs.Stat(ctx, a.BlobKey); err != nil {
		t.Fatalf("original gone: %v", err)
	}
	// Rebuilt on demand.
	rend2, job2, err := s.Ensure(ctx, a, "thumbnail_jpg")
	if err != nil || rend2 != nil || job2 == nil || job2.ID == job.ID {
		t.Fatalf("Ensure after purge = %v %+v %v; want a new job", rend2, job2, err)
	}
}

func TestEstimateSeconds(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(func(d *Deps) { d.Config.Workers = 2 })
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 4, ext: "mp4"}))
	_, job, err := s.Ensure(context.Background(), a, "mp4_720p")
	if err != nil {
		t.Fatal(err)
	}
	// Default speed for 720p is 2x: 1 s start + 4 s / 2.
	if got := s.EstimateSeconds(context.Background(), job); got != 3 {
		t.Fatalf("estimate with no history = %d, want 3", got)
	}
	for range 3 {
		s.speeds.record("mp4_720p", 0.5)
	}
	if got := s.EstimateSeconds(context.Background(), job); got != 9 {
		t.Fatalf("estimate at 0.5x = %d, want 9", got)
	}
	job.Progress = 0.5
	if got := s.EstimateSeconds(context.Background(), job); got != 5 {
		t.Fatalf("estimate half done = %d, want 5", got)
	}
}

func TestPurgeForSpace(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(nil)
	a := e.asset(s, genMedia(t, e.dir, "src", mediaSpec{size: "160x90", seconds: 1, ext: "mp4"}))
	ctx := context.Background()
	_, job, err := s.Ensure(ctx, a, "thumbnail_jpg")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	if j := e.waitJob(job.ID, terminal); j.Status != store.JobSucceeded {
		t.Fatalf("job = %+v", j)
	}
	stop()
	free, ok := freeBytes(s.cfg.TempDir)
	if !ok {
		t.Skip("SKIPPED: free disk space is not known on this system")
	}
	s.cfg.MinFreeBytes = free / 2 // plenty of room: nothing to do
	if n, err := s.PurgeForSpace(ctx); err != nil || n != 0 {
		t.Fatalf("purge with room to spare: %d %v", n, err)
	}
	s.cfg.MinFreeBytes = free + 1<<50 // never enough: every rendition goes, originals stay
	if n, err := s.PurgeForSpace(ctx); err != nil || n != 1 {
		t.Fatalf("purge under pressure: %d %v", n, err)
	}
	if _, err := e.blobs.Stat(ctx, a.BlobKey); err != nil {
		t.Fatalf("original gone: %v", err)
	}
	if rend, job, err := s.Ensure(ctx, a, "thumbnail_jpg"); err != nil || rend != nil || job == nil {
		t.Fatalf("Ensure after purge = %v %v %v; want a new job", rend, job, err)
	}
}

func TestWorkerPoolIsBounded(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	s := e.service(func(d *Deps) { d.Config.Workers = 2 })
	ctx := context.Background()
	var jobs []string
	for i := range 4 {
		a := e.asset(s, genMedia(t, e.dir, "src"+string(rune('a'+i)), mediaSpec{size: "320x180", seconds: 3, ext: "mp4"}))
		_, job, err := s.Ensure(ctx, a, "mp4_480p")
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job.ID)
	}
	run(t, s)
	most := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		most = max(most, ffmpegsUsing(t, s.cfg.TempDir))
		n, err := e.store.CountJobs(ctx, store.JobProcessing)
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("%d jobs processing with 2 workers", n)
		}
		done, err := e.store.CountJobs(ctx, store.JobSucceeded)
		if err != nil {
			t.Fatal(err)
		}
		if done == len(jobs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs done", done, len(jobs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if most > 2 || most == 0 {
		t.Fatalf("at most %d ffmpeg processes seen at once, want 1 or 2", most)
	}
	t.Logf("at most %d ffmpeg processes at once", most)
}

func TestBackfillMediaAfterFFmpegArrives(t *testing.T) {
	requireFFmpeg(t)
	e := newEnv(t)
	ctx := context.Background()
	without := e.service(func(d *Deps) {
		d.Tools = Tools{FFmpeg: filepath.Join(e.dir, "none"), FFprobe: filepath.Join(e.dir, "none")}
	})
	video := e.asset(without, genMedia(t, e.dir, "v", mediaSpec{size: "160x90", seconds: 1, ext: "mp4"}))
	pdf := e.asset(without, notMedia(t, e.dir))
	if video.Media != nil {
		t.Fatalf("media without ffmpeg: %s", video.Media)
	}
	with := e.service(nil)
	if n, err := with.Backfill(ctx); err != nil || n != 1 {
		t.Fatalf("Backfill = %d, %v; want the video probed", n, err)
	}
	got, err := e.store.GetAsset(ctx, e.tenant, video.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m := MediaOf(got); !m.IsVideo() || m.Width != 160 {
		t.Fatalf("backfilled media = %s", got.Media)
	}
	if got, _ := e.store.GetAsset(ctx, e.tenant, pdf.ID); got.Media != nil {
		t.Fatalf("pdf media = %s", got.Media)
	}
	// Done once: nothing to do on the next start.
	if n, err := with.Backfill(ctx); err != nil || n != 0 {
		t.Fatalf("second Backfill = %d, %v", n, err)
	}
}
