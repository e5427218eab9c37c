// Package transcode owns everything haul does with ffmpeg: the table of
// rendition presets, probing media with ffprobe, running one ffmpeg
// encode under a context with a timeout and parsed progress, and the
// durable worker pool that turns queued rendition jobs in the store into
// blobs.
//
// The package runs the ffmpeg and ffprobe executables found on PATH (or
// given explicitly in Tools); when they are missing, Available reports
// false and callers offer only the original format.
package transcode
