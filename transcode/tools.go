package transcode

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
)

// ErrUnavailable is returned when ffmpeg or ffprobe cannot be found. Its
// message tells the operator what to install.
var ErrUnavailable = errors.New("renditions unavailable: ffmpeg and ffprobe are not installed (install ffmpeg, e.g. `apt-get install ffmpeg`, and restart)")

// Tools names the executables the package runs. The zero value runs
// "ffmpeg" and "ffprobe" from PATH.
type Tools struct {
	// FFmpeg is the ffmpeg executable (name or path); "" means "ffmpeg".
	FFmpeg string
	// FFprobe is the ffprobe executable (name or path); "" means "ffprobe".
	FFprobe string
}

func (t Tools) ffmpeg() string {
	if t.FFmpeg == "" {
		return "ffmpeg"
	}
	return t.FFmpeg
}

func (t Tools) ffprobe() string {
	if t.FFprobe == "" {
		return "ffprobe"
	}
	return t.FFprobe
}

// Find resolves both executables and returns Tools holding their full
// paths, or an error wrapping ErrUnavailable naming the missing one.
func (t Tools) Find() (Tools, error) {
	ffmpeg, err := exec.LookPath(t.ffmpeg())
	if err != nil {
		return Tools{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, t.ffmpeg(), err)
	}
	ffprobe, err := exec.LookPath(t.ffprobe())
	if err != nil {
		return Tools{}, fmt.Errorf("%w: %s: %v", ErrUnavailable, t.ffprobe(), err)
	}
	return Tools{FFmpeg: ffmpeg, FFprobe: ffprobe}, nil
}

// Available reports whether ffmpeg and ffprobe are both on PATH, that is,
// whether media renditions can be made at all.
func Available() bool {
	_, err := Tools{}.Find()
	return err == nil
}

// notInstalled reports whether err from starting a command means the
// executable does not exist.
func notInstalled(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
