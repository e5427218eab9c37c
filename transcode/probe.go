package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotMedia is returned by Probe for input ffprobe cannot read as audio
// or video (documents, archives, text). It is an answer, not a failure:
// such assets only have the original format.
var ErrNotMedia = errors.New("not a media file")

// Media kinds reported in Media.Kind.
const (
	KindVideo = "video"
	KindAudio = "audio"
	KindImage = "image"
)

// Media is what Probe learns about a media file: what users filter and
// name files by. It is stored with the asset and shown as its `media`.
type Media struct {
	// Kind is "video", "audio" or "image" (a still picture).
	Kind string `json:"kind"`
	// Container is ffprobe's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	Container string `json:"container"`
	// Duration is the length in seconds (0 for still images).
	Duration float64 `json:"duration"`
	// Width and Height are the display size of the first video stream, in
	// pixels, with rotation and sample aspect ratio applied.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// VideoCodec is the first video stream's codec name ("h264", "vp9").
	VideoCodec string `json:"video_codec,omitempty"`
	// AudioCodec is the first audio stream's codec name ("aac", "opus").
	AudioCodec string `json:"audio_codec,omitempty"`
	// Bitrate is the overall bitrate in bits per second.
	Bitrate int64 `json:"bitrate,omitempty"`
	// FrameRate is the first video stream's average frame rate.
	FrameRate float64 `json:"frame_rate,omitempty"`
	// AudioChannels is the first audio stream's channel count.
	AudioChannels int `json:"audio_channels,omitempty"`
	// AudioStreams counts the audio streams.
	AudioStreams int `json:"audio_streams,omitempty"`
	// Languages lists the audio streams' language tags (ISO 639), in
	// stream order, without duplicates or "und".
	Languages []string `json:"languages,omitempty"`
	// Subtitles lists the subtitle streams.
	Subtitles []Subtitle `json:"subtitles,omitempty"`
	// Rotation is the display rotation in degrees, when the file has one.
	Rotation int `json:"rotation,omitempty"`
}

// Subtitle describes one subtitle stream.
type Subtitle struct {
	// Codec is the subtitle codec ("mov_text", "subrip", "webvtt").
	Codec string `json:"codec"`
	// Language is the stream's language tag, when present.
	Language string `json:"language,omitempty"`
	// Title is the stream's title tag, when present.
	Title string `json:"title,omitempty"`
	// Forced marks forced subtitles.
	Forced bool `json:"forced,omitempty"`
}

// IsVideo reports whether m has a moving video stream (not a still image
// or embedded cover art) with a duration.
func (m *Media) IsVideo() bool {
	return m != nil && m.Kind == KindVideo && m.Width > 0 && m.Height > 0 && m.Duration > 0
}

// HasAudio reports whether m has an audio stream.
func (m *Media) HasAudio() bool {
	return m != nil && m.AudioCodec != "" && m.Duration > 0
}

// Probe runs ffprobe on the file at path using the ffprobe on PATH.
// Input that is not audio or video returns an error wrapping ErrNotMedia.
func Probe(ctx context.Context, path string) (*Media, error) {
	return Tools{}.Probe(ctx, path)
}

// deniedFormat reports whether the demuxer named by ffprobe's format_name
// (a comma-separated list) reads other files or URLs named inside the
// input (playlists, concat lists) or accepts arbitrary text: uploaded
// bytes must never make ffmpeg open anything else.
func deniedFormat(formatName string) bool {
	for _, f := range strings.Split(formatName, ",") {
		switch f {
		case "hls", "applehttp", "concat", "dash", "ffmetadata", "tty", "lavfi", "subviewer":
			return true
		}
	}
	return false
}

// Probe runs t's ffprobe on the file at path. Input that is not audio or
// video returns an error wrapping ErrNotMedia.
func (t Tools) Probe(ctx context.Context, path string) (*Media, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, t.ffprobe(), "-v", "error", "-protocol_whitelist", "file",
		"-print_format", "json", "-show_format", "-show_streams", "file:"+abs)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	dieWithParent(cmd)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probe %s: %w", path, ctx.Err())
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 {
			return nil, fmt.Errorf("%w: %s", ErrNotMedia, lastLine(stderr.String(), abs))
		}
		if notInstalled(err) {
			return nil, fmt.Errorf("probe: %w", ErrUnavailable)
		}
		return nil, fmt.Errorf("probe %s: ffprobe: %w: %s", path, err, lastLine(stderr.String(), abs))
	}
	return parseProbe(stdout.Bytes())
}

// lastLine returns the last non-empty line of s with the (temporary,
// uninteresting) input path removed.
func lastLine(s, path string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	l = strings.TrimPrefix(l, "file:"+path+": ")
	l = strings.TrimPrefix(l, path+": ")
	if l == "" {
		return "ffprobe found no audio or video"
	}
	return l
}

type ffprobeOutput struct {
	Streams []ffprobeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

type ffprobeStream struct {
	CodecName    string            `json:"codec_name"`
	CodecType    string            `json:"codec_type"`
	Width        int               `json:"width"`
	Height       int               `json:"height"`
	SampleAspect string            `json:"sample_aspect_ratio"`
	AvgFrameRate string            `json:"avg_frame_rate"`
	RFrameRate   string            `json:"r_frame_rate"`
	Channels     int               `json:"channels"`
	Duration     string            `json:"duration"`
	Tags         map[string]string `json:"tags"`
	Disposition  map[string]int    `json:"disposition"`
	SideData     []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// parseProbe turns ffprobe's JSON into Media.
func parseProbe(data []byte) (*Media, error) {
	var out ffprobeOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("probe: decode ffprobe output: %w", err)
	}
	format := out.Format.FormatName
	if deniedFormat(format) {
		return nil, fmt.Errorf("%w: %s input is not accepted", ErrNotMedia, format)
	}
	m := &Media{Container: format}
	m.Duration = parseFloat(out.Format.Duration)
	m.Bitrate = int64(parseFloat(out.Format.BitRate))
	var video *ffprobeStream
	langSeen := map[string]bool{}
	for i := range out.Streams {
		s := &out.Streams[i]
		switch s.CodecType {
		case "video":
			if s.Disposition["attached_pic"] == 1 || s.Width <= 0 || s.Height <= 0 {
				continue
			}
			if video == nil {
				video = s
			}
		case "audio":
			m.AudioStreams++
			if m.AudioCodec == "" {
				m.AudioCodec = s.CodecName
				m.AudioChannels = s.Channels
			}
			if lang := s.Tags["language"]; lang != "" && lang != "und" && !langSeen[lang] {
				langSeen[lang] = true
				m.Languages = append(m.Languages, lang)
			}
			if m.Duration == 0 {
				m.Duration = parseFloat(s.Duration)
			}
		case "subtitle":
			lang := s.Tags["language"]
			if lang == "und" {
				lang = ""
			}
			m.Subtitles = append(m.Subtitles, Subtitle{Codec: s.CodecName, Language: lang,
				Title: s.Tags["title"], Forced: s.Disposition["forced"] == 1})
		}
	}
	if video != nil {
		m.VideoCodec = video.CodecName
		m.FrameRate = parseRate(video.AvgFrameRate)
		if m.FrameRate == 0 {
			m.FrameRate = parseRate(video.RFrameRate)
		}
		if m.Duration == 0 {
			m.Duration = parseFloat(video.Duration)
		}
		m.Rotation = rotation(video)
		w, h := video.Width, video.Height
		if sar := parseRate(video.SampleAspect); sar > 0 && sar != 1 {
			w = int(math.Round(float64(w) * sar))
		}
		if m.Rotation == 90 || m.Rotation == 270 {
			w, h = h, w
		}
		m.Width, m.Height = w, h
	}
	switch {
	case video != nil && isStill(format, m.Duration):
		m.Kind = KindImage
		m.Duration = 0
		m.FrameRate = 0
	case video != nil:
		m.Kind = KindVideo
	case m.AudioCodec != "":
		m.Kind = KindAudio
	default:
		return nil, fmt.Errorf("%w: no audio or video streams", ErrNotMedia)
	}
	if m.Duration < 0 || math.IsNaN(m.Duration) || math.IsInf(m.Duration, 0) {
		m.Duration = 0
	}
	return m, nil
}

// isStill reports whether a file with a video stream is a still picture:
// read by an image demuxer, or without a duration.
func isStill(format string, duration float64) bool {
	return format == "image2" || strings.HasSuffix(format, "_pipe") || duration <= 0
}

// rotation returns the display rotation of s in degrees, normalized to
// 0, 90, 180 or 270.
func rotation(s *ffprobeStream) int {
	var deg float64
	found := false
	for _, sd := range s.SideData {
		if sd.Rotation != nil {
			deg, found = *sd.Rotation, true
			break
		}
	}
	if !found {
		if r, ok := s.Tags["rotate"]; ok {
			deg = parseFloat(r)
		}
	}
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	r := int(math.Round(deg)) % 360
	if r < 0 {
		r += 360
	}
	return r / 90 * 90
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// parseRate parses "num/den" (or "num:den") ratios; 0 when malformed or
// the denominator is zero.
func parseRate(s string) float64 {
	sep := strings.IndexAny(s, "/:")
	if sep < 0 {
		return parseFloat(s)
	}
	n, d := parseFloat(s[:sep]), parseFloat(s[sep+1:])
	if d == 0 {
		return 0
	}
	return n / d
}
