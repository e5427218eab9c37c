package transcode

import (
	"fmt"
	"strconv"
)

// Applies says which inputs a preset can be made from.
type Applies string

const (
	// AppliesAny: every asset, media or not (only the original).
	AppliesAny Applies = "any"
	// AppliesVideo: assets with a moving video stream.
	AppliesVideo Applies = "video"
	// AppliesAudio: assets with an audio stream (audio files and videos with sound).
	AppliesAudio Applies = "audio"
)

// Original is the name of the preset that serves the uploaded bytes as they are.
const Original = "original"

// Preset is one rendition format. Presets live in one table (Presets);
// adding one is a few lines there.
type Preset struct {
	// Name is the format name used in the API (`format` in requests).
	Name string `json:"name"`
	// Description is a short human description.
	Description string `json:"description"`
	// Container is the output container ("mp4", "m4a", "jpeg"); empty for
	// the original, which keeps the asset's own.
	Container string `json:"container,omitempty"`
	// VideoCodec is the output video codec ("h264", "mjpeg"), if any.
	VideoCodec string `json:"video_codec,omitempty"`
	// AudioCodec is the output audio codec ("aac"), if any.
	AudioCodec string `json:"audio_codec,omitempty"`
	// MaxWidth and MaxHeight bound the output frame for landscape sources
	// (swapped for portrait ones). Sources are never upscaled: the output is
	// the largest even size with the source's aspect ratio that fits.
	MaxWidth  int `json:"max_width,omitempty"`
	MaxHeight int `json:"max_height,omitempty"`
	// ContentType is the MIME type of the output; empty for the original.
	ContentType string `json:"content_type,omitempty"`
	// Extension is the output file extension without the dot; empty for
	// the original.
	Extension string `json:"extension,omitempty"`
	// Version changes whenever the encoding settings change, so renditions
	// and jobs made with old settings are not reused (see DedupeKey).
	Version int `json:"version"`
	// AppliesTo says which inputs the preset can be made from.
	AppliesTo Applies `json:"applies_to"`

	// videoKbps caps the H.264 bitrate (maxrate) for video presets.
	videoKbps int
	// audioKbps is the AAC bitrate.
	audioKbps int
	// kind selects the argument builder.
	kind presetKind
}

type presetKind int

const (
	kindOriginal presetKind = iota
	kindVideo
	kindAudio
	kindThumbnail
)

// Presets returns the table of every preset, original first. The slice is
// a fresh copy; callers may keep or modify it.
func Presets() []Preset {
	return []Preset{
		{Name: Original, Description: "the uploaded file, byte for byte", Version: 1, AppliesTo: AppliesAny, kind: kindOriginal},
		{Name: "mp4_1080p", Description: "H.264/AAC MP4 up to 1920x1080, never upscaled", Container: "mp4", VideoCodec: "h264", AudioCodec: "aac",
			MaxWidth: 1920, MaxHeight: 1080, ContentType: "video/mp4", Extension: "mp4", Version: 1, AppliesTo: AppliesVideo,
			videoKbps: 6000, audioKbps: 160, kind: kindVideo},
		{Name: "mp4_720p", Description: "H.264/AAC MP4 up to 1280x720, never upscaled", Container: "mp4", VideoCodec: "h264", AudioCodec: "aac",
			MaxWidth: 1280, MaxHeight: 720, ContentType: "video/mp4", Extension: "mp4", Version: 1, AppliesTo: AppliesVideo,
			videoKbps: 3500, audioKbps: 128, kind: kindVideo},
		{Name: "mp4_480p", Description: "H.264/AAC MP4 up to 854x480, never upscaled", Container: "mp4", VideoCodec: "h264", AudioCodec: "aac",
			MaxWidth: 854, MaxHeight: 480, ContentType: "video/mp4", Extension: "mp4", Version: 1, AppliesTo: AppliesVideo,
			videoKbps: 1500, audioKbps: 96, kind: kindVideo},
		{Name: "audio_m4a", Description: "the audio track as AAC in an M4A file", Container: "m4a", AudioCodec: "aac",
			ContentType: "audio/mp4", Extension: "m4a", Version: 1, AppliesTo: AppliesAudio,
			audioKbps: 160, kind: kindAudio},
		{Name: "thumbnail_jpg", Description: "a JPEG frame from 10% into the video, up to 640x360", Container: "jpeg", VideoCodec: "mjpeg",
			MaxWidth: 640, MaxHeight: 360, ContentType: "image/jpeg", Extension: "jpg", Version: 1, AppliesTo: AppliesVideo,
			kind: kindThumbnail},
	}
}

// Lookup returns the preset with the given name.
func Lookup(name string) (Preset, bool) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Names returns every preset name, in table order.
func Names() []string {
	ps := Presets()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// IsOriginal reports whether p serves the uploaded bytes unchanged.
func (p Preset) IsOriginal() bool { return p.kind == kindOriginal }

// Applicable reports whether p can be made from an input with probe
// result m. m is nil for assets that are not media; only the original
// applies to those.
func (p Preset) Applicable(m *Media) bool {
	switch p.AppliesTo {
	case AppliesAny:
		return true
	case AppliesVideo:
		return m != nil && m.IsVideo()
	case AppliesAudio:
		return m != nil && m.HasAudio()
	}
	return false
}

// Applicable returns the names of the presets that apply to an input with
// probe result m (nil: not media), in table order. With media false
// (ffmpeg missing) only the original is listed.
func Applicable(m *Media, media bool) []string {
	var names []string
	for _, p := range Presets() {
		if p.IsOriginal() || (media && p.Applicable(m)) {
			names = append(names, p.Name)
		}
	}
	return names
}

// DedupeKey identifies the work of making preset p from the asset with
// the given id: requests with the same key share one job and one rendition.
func (p Preset) DedupeKey(assetID string) string {
	return assetID + ":" + p.Name + ":v" + strconv.Itoa(p.Version)
}

// OutputSize returns the frame size p produces from a source whose
// display size is srcW x srcH: the largest size with the source's aspect
// ratio that fits the preset's box (oriented like the source), never
// larger than the source, with even dimensions (H.264 4:2:0 needs them).
// Presets without a box return the source size rounded down to even.
func (p Preset) OutputSize(srcW, srcH int) (w, h int) {
	if srcW <= 0 || srcH <= 0 {
		return 0, 0
	}
	boxW, boxH := p.MaxWidth, p.MaxHeight
	if boxW <= 0 || boxH <= 0 {
		return even(srcW), even(srcH)
	}
	if srcH > srcW {
		boxW, boxH = boxH, boxW
	}
	scale := 1.0
	if s := float64(boxW) / float64(srcW); s < scale {
		scale = s
	}
	if s := float64(boxH) / float64(srcH); s < scale {
		scale = s
	}
	// Nearest even size, then clamped so it never exceeds the source or the box.
	w = fitEven(float64(srcW)*scale, min(srcW, boxW))
	h = fitEven(float64(srcH)*scale, min(srcH, boxH))
	return w, h
}

// fitEven rounds x to the nearest even integer, at most even(limit).
func fitEven(x float64, limit int) int {
	n := 2 * int(x/2+0.5)
	if n > limit {
		n = limit
	}
	return even(n)
}

// even rounds n down to an even number of at least 2.
func even(n int) int {
	n &^= 1
	if n < 2 {
		return 2
	}
	return n
}

// args returns ffmpeg's input options (before -i) and output options
// (after it, without the output name) for making p from a source probed
// as src.
func (p Preset) args(src *Media) (in, out []string, err error) {
	switch p.kind {
	case kindVideo:
		w, h := p.OutputSize(src.Width, src.Height)
		out = []string{
			"-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-map_chapters", "-1",
			"-vf", fmt.Sprintf("scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p", w, h),
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "high",
			"-maxrate", fmt.Sprintf("%dk", p.videoKbps), "-bufsize", fmt.Sprintf("%dk", 2*p.videoKbps),
			"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", p.audioKbps),
		}
		if src.AudioChannels > 2 {
			out = append(out, "-ac", "2")
		}
		out = append(out, "-movflags", "+faststart", "-f", "mp4")
		return nil, out, nil
	case kindAudio:
		out = []string{"-map", "0:a:0", "-vn", "-sn", "-dn", "-map_chapters", "-1",
			"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", p.audioKbps)}
		if src.AudioChannels > 2 {
			out = append(out, "-ac", "2")
		}
		out = append(out, "-movflags", "+faststart", "-f", "ipod")
		return nil, out, nil
	case kindThumbnail:
		w, h := p.OutputSize(src.Width, src.Height)
		at := src.Duration * 0.10
		in = []string{"-ss", strconv.FormatFloat(at, 'f', 3, 64)}
		out = []string{"-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", "1",
			"-vf", fmt.Sprintf("scale=%d:%d:flags=bicubic,setsar=1", w, h),
			"-c:v", "mjpeg", "-q:v", "3", "-f", "mjpeg"}
		return in, out, nil
	}
	return nil, nil, fmt.Errorf("preset %s: nothing to encode", p.Name)
}
