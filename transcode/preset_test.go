package transcode

import (
	"slices"
	"testing"
)

func TestPresetTable(t *testing.T) {
	ps := Presets()
	want := []string{"original", "mp4_1080p", "mp4_720p", "mp4_480p", "audio_m4a", "thumbnail_jpg"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			t.Errorf("duplicate preset %s", p.Name)
		}
		seen[p.Name] = true
		if p.Version < 1 {
			t.Errorf("%s: version %d", p.Name, p.Version)
		}
		if p.IsOriginal() {
			if p.AppliesTo != AppliesAny {
				t.Errorf("original applies to %s", p.AppliesTo)
			}
			continue
		}
		if p.ContentType == "" || p.Extension == "" || p.Container == "" {
			t.Errorf("%s: missing content type/extension/container: %+v", p.Name, p)
		}
		if _, _, err := p.args(&Media{Kind: KindVideo, Width: 640, Height: 360, Duration: 2, AudioCodec: "aac", AudioChannels: 6}); err != nil {
			t.Errorf("%s: args: %v", p.Name, err)
		}
	}
	p, ok := Lookup("mp4_720p")
	if !ok || p.MaxWidth != 1280 || p.MaxHeight != 720 || p.VideoCodec != "h264" || p.AudioCodec != "aac" {
		t.Fatalf("Lookup(mp4_720p) = %+v, %v", p, ok)
	}
	if _, ok := Lookup("mp4_4k"); ok {
		t.Fatal("Lookup of an unknown preset succeeded")
	}
	if got := p.DedupeKey("ast_1"); got != "ast_1:mp4_720p:v1" {
		t.Fatalf("DedupeKey = %q", got)
	}
}

func TestOutputSize(t *testing.T) {
	tests := []struct {
		preset     string
		srcW, srcH int
		w, h       int
	}{
		{"mp4_1080p", 640, 360, 640, 360},   // never upscaled
		{"mp4_1080p", 1280, 720, 1280, 720}, // a 720p source asked for 1080p
		{"mp4_720p", 1920, 1080, 1280, 720}, // exact downscale
		{"mp4_720p", 3840, 2160, 1280, 720}, // 4k
		{"mp4_480p", 1920, 1080, 854, 480},  // 853.33 rounds to 854, within the box
		{"mp4_720p", 1440, 1080, 960, 720},  // 4:3 keeps its aspect
		{"mp4_720p", 1080, 1920, 720, 1280}, // portrait uses a portrait box
		{"mp4_720p", 1000, 1000, 720, 720},  // square
		{"mp4_720p", 4000, 400, 1280, 128},  // very wide
		{"mp4_1080p", 641, 361, 640, 360},   // odd sizes become even
		{"mp4_480p", 3, 3, 2, 2},            // never below 2
		{"thumbnail_jpg", 1920, 1080, 640, 360},
		{"thumbnail_jpg", 320, 240, 320, 240},
		{"mp4_720p", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		p, _ := Lookup(tt.preset)
		w, h := p.OutputSize(tt.srcW, tt.srcH)
		if w != tt.w || h != tt.h {
			t.Errorf("%s from %dx%d = %dx%d, want %dx%d", tt.preset, tt.srcW, tt.srcH, w, h, tt.w, tt.h)
		}
		if w%2 != 0 || h%2 != 0 {
			t.Errorf("%s from %dx%d: odd size %dx%d", tt.preset, tt.srcW, tt.srcH, w, h)
		}
		if tt.srcW > 0 && (w > max(tt.srcW, 2) || h > max(tt.srcH, 2)) {
			t.Errorf("%s from %dx%d upscaled to %dx%d", tt.preset, tt.srcW, tt.srcH, w, h)
		}
	}
}

func TestApplicable(t *testing.T) {
	video := &Media{Kind: KindVideo, Width: 640, Height: 360, Duration: 2, VideoCodec: "h264", AudioCodec: "aac"}
	silent := &Media{Kind: KindVideo, Width: 640, Height: 360, Duration: 2, VideoCodec: "h264"}
	audio := &Media{Kind: KindAudio, Duration: 2, AudioCodec: "mp3"}
	image := &Media{Kind: KindImage, Width: 64, Height: 48, VideoCodec: "png"}
	all := []string{"original", "mp4_1080p", "mp4_720p", "mp4_480p", "audio_m4a", "thumbnail_jpg"}
	tests := []struct {
		name  string
		m     *Media
		media bool
		want  []string
	}{
		{"video with sound", video, true, all},
		{"silent video", silent, true, []string{"original", "mp4_1080p", "mp4_720p", "mp4_480p", "thumbnail_jpg"}},
		{"audio", audio, true, []string{"original", "audio_m4a"}},
		{"image", image, true, []string{"original"}},
		{"not media", nil, true, []string{"original"}},
		{"ffmpeg missing", video, false, []string{"original"}},
	}
	for _, tt := range tests {
		if got := Applicable(tt.m, tt.media); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Applicable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
