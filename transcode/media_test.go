package transcode

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// requireFFmpeg skips the test, loudly, when ffmpeg or ffprobe is missing.
func requireFFmpeg(t testing.TB) {
	t.Helper()
	if !Available() {
		t.Skip("SKIPPED: ffmpeg/ffprobe not found on PATH; install ffmpeg (apt-get install ffmpeg) to run the rendition tests")
	}
}

// mediaSpec describes a tiny media file generated with lavfi sources.
type mediaSpec struct {
	size     string  // "640x360"; empty: no video
	seconds  float64 // duration
	audio    bool
	channels int
	lang     string // audio language tag
	subtitle bool   // add a mov_text subtitle stream
	ext      string // "mp4", "mp3", "mkv"
	rotate   int    // display rotation in degrees (mp4 only)
}

// genMedia writes a media file described by s into dir and returns its path.
func genMedia(t testing.TB, dir, name string, s mediaSpec) string {
	t.Helper()
	out := filepath.Join(dir, name+"."+s.ext)
	dur := strconv.FormatFloat(s.seconds, 'f', 2, 64)
	args := []string{"-nostdin", "-v", "error", "-y"}
	inputs := 0
	var maps []string
	if s.size != "" {
		args = append(args, "-f", "lavfi", "-i", "testsrc2=size="+s.size+":rate=10:duration="+dur)
		maps = append(maps, "-map", strconv.Itoa(inputs)+":v")
		inputs++
	}
	if s.audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration="+dur)
		maps = append(maps, "-map", strconv.Itoa(inputs)+":a")
		inputs++
	}
	if s.subtitle {
		srt := filepath.Join(dir, name+".srt")
		if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,000\nhello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-i", srt)
		maps = append(maps, "-map", strconv.Itoa(inputs)+":s")
		inputs++
	}
	args = append(args, maps...)
	if s.size != "" {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	}
	if s.audio {
		if s.channels > 1 {
			args = append(args, "-ac", strconv.Itoa(s.channels))
		}
		if s.lang != "" {
			args = append(args, "-metadata:s:a:0", "language="+s.lang)
		}
	}
	if s.subtitle {
		args = append(args, "-c:s", "mov_text", "-metadata:s:s:0", "language=fra")
	}
	args = append(args, "-t", dur, out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("generate %s: %v\n%s", name, err, b)
	}
	if s.rotate != 0 {
		rotated := filepath.Join(dir, name+"-rotated."+s.ext)
		args := []string{"-nostdin", "-v", "error", "-y", "-i", out, "-c", "copy", "-metadata:s:v:0", "rotate=" + strconv.Itoa(s.rotate), rotated}
		if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			t.Fatalf("rotate %s: %v\n%s", name, err, b)
		}
		if err := os.Rename(rotated, out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// notMedia writes a small PDF-like file that is not media.
func notMedia(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "doc.pdf")
	body := "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustProbe probes path or fails the test.
func mustProbe(t testing.TB, path string) *Media {
	t.Helper()
	m, err := Probe(context.Background(), path)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	return m
}
