package transcode

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestProbe(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	ctx := context.Background()

	t.Run("video with audio and subtitles", func(t *testing.T) {
		p := genMedia(t, dir, "av", mediaSpec{size: "640x360", seconds: 2, audio: true, lang: "eng", subtitle: true, ext: "mp4"})
		m, err := Probe(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != KindVideo || m.Width != 640 || m.Height != 360 || m.VideoCodec != "h264" || m.AudioCodec != "aac" {
			t.Fatalf("media = %+v", m)
		}
		if math.Abs(m.Duration-2) > 0.2 || math.Abs(m.FrameRate-10) > 0.01 || m.AudioChannels != 1 || m.Bitrate <= 0 {
			t.Fatalf("media = %+v", m)
		}
		if !slices.Equal(m.Languages, []string{"eng"}) {
			t.Fatalf("languages = %v", m.Languages)
		}
		if len(m.Subtitles) != 1 || m.Subtitles[0].Codec != "mov_text" || m.Subtitles[0].Language != "fra" {
			t.Fatalf("subtitles = %+v", m.Subtitles)
		}
	})
	t.Run("video without audio", func(t *testing.T) {
		m := mustProbe(t, genMedia(t, dir, "silent", mediaSpec{size: "320x240", seconds: 1, ext: "mp4"}))
		if !m.IsVideo() || m.HasAudio() || m.AudioCodec != "" {
			t.Fatalf("media = %+v", m)
		}
	})
	t.Run("audio only", func(t *testing.T) {
		m := mustProbe(t, genMedia(t, dir, "tone", mediaSpec{seconds: 2, audio: true, channels: 2, ext: "mp3"}))
		if m.Kind != KindAudio || m.IsVideo() || !m.HasAudio() || m.AudioCodec != "mp3" || m.AudioChannels != 2 {
			t.Fatalf("media = %+v", m)
		}
	})
	t.Run("not media", func(t *testing.T) {
		_, err := Probe(ctx, notMedia(t, dir))
		if !errors.Is(err, ErrNotMedia) {
			t.Fatalf("Probe(pdf) error = %v, want ErrNotMedia", err)
		}
		empty := filepath.Join(dir, "empty")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Probe(ctx, empty); !errors.Is(err, ErrNotMedia) {
			t.Fatalf("Probe(empty) error = %v, want ErrNotMedia", err)
		}
	})
	t.Run("playlist refused", func(t *testing.T) {
		secret := filepath.Join(dir, "secret.ts")
		genMediaAt(t, secret)
		m3u := filepath.Join(dir, "list")
		body := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n" + secret + "\n#EXT-X-ENDLIST\n"
		if err := os.WriteFile(m3u, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Probe(ctx, m3u); !errors.Is(err, ErrNotMedia) {
			t.Fatalf("Probe(m3u8) error = %v, want ErrNotMedia", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Probe(ctx, filepath.Join(dir, "nope"))
		if err == nil || errors.Is(err, ErrNotMedia) {
			t.Fatalf("Probe(missing) error = %v, want a plain error", err)
		}
	})
}

// genMediaAt writes a short MPEG-TS video at path.
func genMediaAt(t *testing.T, path string) {
	t.Helper()
	p := genMedia(t, filepath.Dir(path), "seg", mediaSpec{size: "64x48", seconds: 1, ext: "ts"})
	if err := os.Rename(p, path); err != nil {
		t.Fatal(err)
	}
}

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Media
		err  error
	}{
		{
			name: "rotated anamorphic",
			json: `{"streams":[{"codec_type":"video","codec_name":"h264","width":720,"height":576,"sample_aspect_ratio":"16:15","avg_frame_rate":"30000/1001","side_data_list":[{"rotation":-90}]}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"3.5","bit_rate":"1000"}}`,
			want: Media{Kind: KindVideo, Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 3.5, Width: 576, Height: 768, VideoCodec: "h264", Bitrate: 1000, FrameRate: 30000.0 / 1001, Rotation: 270},
		},
		{
			name: "cover art is not video",
			json: `{"streams":[{"codec_type":"audio","codec_name":"mp3","channels":2,"tags":{"language":"deu"}},{"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,"disposition":{"attached_pic":1}}],"format":{"format_name":"mp3","duration":"100"}}`,
			want: Media{Kind: KindAudio, Container: "mp3", Duration: 100, AudioCodec: "mp3", AudioChannels: 2, AudioStreams: 1, Languages: []string{"deu"}},
		},
		{
			name: "still image",
			json: `{"streams":[{"codec_type":"video","codec_name":"png","width":64,"height":48,"avg_frame_rate":"25/1"}],"format":{"format_name":"png_pipe"}}`,
			want: Media{Kind: KindImage, Container: "png_pipe", Width: 64, Height: 48, VideoCodec: "png"},
		},
		{name: "no streams", json: `{"streams":[],"format":{"format_name":"data"}}`, err: ErrNotMedia},
		{name: "playlist", json: `{"streams":[{"codec_type":"video","codec_name":"h264","width":64,"height":48}],"format":{"format_name":"hls","duration":"1"}}`, err: ErrNotMedia},
		{name: "garbage numbers", json: `{"streams":[{"codec_type":"audio","codec_name":"aac","duration":"NaN"}],"format":{"format_name":"aac","duration":"-inf","bit_rate":"x"}}`,
			want: Media{Kind: KindAudio, Container: "aac", AudioCodec: "aac", AudioStreams: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseProbe([]byte(tt.json))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mediaEqual(*m, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *m, tt.want)
			}
		})
	}
}

func mediaEqual(a, b Media) bool {
	return a.Kind == b.Kind && a.Container == b.Container && a.Duration == b.Duration &&
		a.Width == b.Width && a.Height == b.Height && a.VideoCodec == b.VideoCodec &&
		a.AudioCodec == b.AudioCodec && a.Bitrate == b.Bitrate && math.Abs(a.FrameRate-b.FrameRate) < 1e-9 &&
		a.AudioChannels == b.AudioChannels && a.AudioStreams == b.AudioStreams &&
		slices.Equal(a.Languages, b.Languages) && slices.Equal(a.Subtitles, b.Subtitles) && a.Rotation == b.Rotation
}

func FuzzParseProbe(f *testing.F) {
	f.Add([]byte(`{"streams":[{"codec_type":"video","codec_name":"h264","width":720,"height":576,"sample_aspect_ratio":"16:15","avg_frame_rate":"30000/1001","side_data_list":[{"rotation":-90}]}],"format":{"format_name":"mov","duration":"3.5"}}`))
	f.Add([]byte(`{"streams":[{"codec_type":"audio","codec_name":"aac","tags":{"language":"eng"}},{"codec_type":"subtitle","codec_name":"subrip"}],"format":{"duration":"1e308"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseProbe(data)
		if err != nil {
			return
		}
		if m.Duration < 0 || math.IsNaN(m.Duration) || math.IsInf(m.Duration, 0) {
			t.Fatalf("bad duration %v", m.Duration)
		}
		if m.Rotation%90 != 0 || m.Rotation < 0 || m.Rotation >= 360 {
			t.Fatalf("bad rotation %d", m.Rotation)
		}
		for _, p := range Presets() {
			if p.Applicable(m) && !p.IsOriginal() {
				w, h := p.OutputSize(m.Width, m.Height)
				if p.MaxWidth > 0 && (w%2 != 0 || h%2 != 0) {
					t.Fatalf("%s: odd size %dx%d", p.Name, w, h)
				}
			}
		}
	})
}

func TestSampleMedia(t *testing.T) {
	requireFFmpeg(t)
	m := mustProbe(t, filepath.Join("..", "testdata", "media", "sample.mp4"))
	if !m.IsVideo() || !m.HasAudio() || m.Width != 480 || m.Height != 270 || !slices.Equal(m.Languages, []string{"eng"}) {
		t.Fatalf("sample.mp4 = %+v", m)
	}
	a := mustProbe(t, filepath.Join("..", "testdata", "media", "tone.mp3"))
	if a.Kind != KindAudio || a.AudioCodec != "mp3" {
		t.Fatalf("tone.mp3 = %+v", a)
	}
}
