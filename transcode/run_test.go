package transcode

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	small := genMedia(t, dir, "small", mediaSpec{size: "640x360", seconds: 2, audio: true, lang: "eng", ext: "mp4"})
	big := genMedia(t, dir, "big", mediaSpec{size: "960x540", seconds: 1, audio: true, channels: 2, ext: "mkv"})
	silent := genMedia(t, dir, "silent", mediaSpec{size: "320x240", seconds: 1, ext: "mp4"})
	tone := genMedia(t, dir, "tone", mediaSpec{seconds: 2, audio: true, ext: "mp3"})
	phone := genMedia(t, dir, "phone", mediaSpec{size: "640x360", seconds: 1, rotate: 90, ext: "mp4"})

	tests := []struct {
		name     string
		in       string
		preset   string
		kind     string
		vcodec   string
		acodec   string
		w, h     int
		duration float64 // 0: not checked
	}{
		{"no upscale", small, "mp4_1080p", KindVideo, "h264", "aac", 640, 360, 2},
		{"downscale", big, "mp4_480p", KindVideo, "h264", "aac", 854, 480, 1},
		{"540p asked for 720p", big, "mp4_720p", KindVideo, "h264", "aac", 960, 540, 1},
		{"rotated portrait video", phone, "mp4_480p", KindVideo, "h264", "", 360, 640, 1},
		{"video without audio", silent, "mp4_720p", KindVideo, "h264", "", 320, 240, 1},
		{"audio from video", small, "audio_m4a", KindAudio, "", "aac", 0, 0, 2},
		{"audio from mp3", tone, "audio_m4a", KindAudio, "", "aac", 0, 0, 2},
		{"thumbnail", big, "thumbnail_jpg", KindImage, "mjpeg", "", 640, 360, 0},
		{"small thumbnail", silent, "thumbnail_jpg", KindImage, "mjpeg", "", 320, 240, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := Lookup(tt.preset)
			out := filepath.Join(dir, "out"+string(rune('a'+i))+".tmp")
			var progress []float64
			res, err := Run(context.Background(), p, tt.in, out, RunOptions{
				Timeout:  time.Minute,
				Progress: func(f float64) { progress = append(progress, f) },
			})
			if err != nil {
				t.Fatal(err)
			}
			m := mustProbe(t, out) // checked independently of Result
			if m.Kind != tt.kind || m.VideoCodec != tt.vcodec || m.AudioCodec != tt.acodec || m.Width != tt.w || m.Height != tt.h {
				t.Fatalf("output = %+v, want %s %q/%q %dx%d", m, tt.kind, tt.vcodec, tt.acodec, tt.w, tt.h)
			}
			if tt.duration > 0 && math.Abs(m.Duration-tt.duration) > 0.25 {
				t.Fatalf("duration = %v, want %v±0.25", m.Duration, tt.duration)
			}
			if res.Media.Width != m.Width || res.Media.Height != m.Height || res.Elapsed <= 0 {
				t.Fatalf("result = %+v (media %+v)", res, res.Media)
			}
			if len(progress) == 0 || progress[len(progress)-1] != 1 {
				t.Fatalf("progress = %v, want ending at 1", progress)
			}
			for i := 1; i < len(progress); i++ {
				if progress[i] < progress[i-1] || progress[i] < 0 || progress[i] > 1 {
					t.Fatalf("progress not monotonic in [0,1]: %v", progress)
				}
			}
			if tt.kind == KindVideo {
				if !moovFirst(t, out) {
					t.Fatal("moov atom is not before mdat: +faststart missing")
				}
			}
		})
	}
}

// moovFirst reports whether the MP4 at path has its moov box before mdat.
func moovFirst(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moov, mdat := strings.Index(string(b), "moov"), strings.Index(string(b), "mdat")
	return moov >= 0 && mdat >= 0 && moov < mdat
}

func TestRunNotApplicable(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	ctx := context.Background()
	silent := genMedia(t, dir, "silent", mediaSpec{size: "160x120", seconds: 1, ext: "mp4"})
	tone := genMedia(t, dir, "tone", mediaSpec{seconds: 1, audio: true, ext: "mp3"})
	pdf := notMedia(t, dir)
	cases := []struct {
		in, preset string
		want       error
	}{
		{silent, "audio_m4a", ErrNotApplicable},
		{tone, "mp4_720p", ErrNotApplicable},
		{tone, "thumbnail_jpg", ErrNotApplicable},
		{pdf, "mp4_480p", ErrNotMedia},
	}
	for _, c := range cases {
		p, _ := Lookup(c.preset)
		out := filepath.Join(dir, "out")
		if _, err := Run(ctx, p, c.in, out, RunOptions{}); !errors.Is(err, c.want) {
			t.Errorf("Run(%s, %s) error = %v, want %v", filepath.Base(c.in), c.preset, err, c.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("Run(%s, %s) left an output behind", filepath.Base(c.in), c.preset)
		}
	}
	orig, _ := Lookup(Original)
	if _, err := Run(ctx, orig, silent, filepath.Join(dir, "o"), RunOptions{}); err == nil {
		t.Error("Run(original) succeeded")
	}
}

func TestRunFailures(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	ctx := context.Background()
	src := genMedia(t, dir, "src", mediaSpec{size: "320x240", seconds: 2, audio: true, ext: "mp4"})
	m := mustProbe(t, src)
	p, _ := Lookup("mp4_480p")

	t.Run("timeout", func(t *testing.T) {
		out := filepath.Join(dir, "timeout.tmp")
		_, err := Run(ctx, p, src, out, RunOptions{Timeout: time.Millisecond, Source: m})
		var re *RunError
		if !errors.As(err, &re) || !re.TimedOut || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a timed-out RunError", err)
		}
		if !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("message %q does not say it timed out", err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatal("output left behind after a timeout")
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Run(cctx, p, src, filepath.Join(dir, "canceled.tmp"), RunOptions{Source: m})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("corrupt input keeps ffmpeg's reason", func(t *testing.T) {
		// The probe of the good file is reused for bytes that are no longer media.
		bad := filepath.Join(dir, "bad.mp4")
		if err := os.WriteFile(bad, []byte("this is not an mp4 at all"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(ctx, p, bad, filepath.Join(dir, "bad.tmp"), RunOptions{Source: m})
		var re *RunError
		if !errors.As(err, &re) || re.TimedOut || re.Stderr == "" {
			t.Fatalf("err = %#v, want a RunError with ffmpeg's stderr", err)
		}
		if !strings.Contains(err.Error(), "Invalid data") {
			t.Fatalf("reason %q lacks ffmpeg's message", err)
		}
	})
	t.Run("missing ffmpeg", func(t *testing.T) {
		tools := Tools{FFmpeg: filepath.Join(dir, "no-ffmpeg"), FFprobe: filepath.Join(dir, "no-ffprobe")}
		if _, err := tools.Find(); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Find err = %v", err)
		}
		_, err := tools.Run(ctx, p, src, filepath.Join(dir, "x.tmp"), RunOptions{Source: m})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 2}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n\nthree\nfou"))
	if got := w.String(); got != "two; three; fou" {
		t.Fatalf("String() = %q", got)
	}
	w.Write([]byte(strings.Repeat("x", 1000) + "\n"))
	if got := w.String(); len(got) > 2*maxTailLine+10 {
		t.Fatalf("line not capped: %d bytes", len(got))
	}
}
