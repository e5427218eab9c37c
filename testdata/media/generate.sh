#!/usr/bin/env bash
# Regenerates the tiny sample media used by `make demo` and the docs.
# Needs ffmpeg. Output is deterministic enough for a demo, not byte-stable.
set -euo pipefail
cd "$(dirname "$0")"
# 3 s, 480x270 test pattern with a 440 Hz tone, English audio.
ffmpeg -nostdin -v error -y \
  -f lavfi -i testsrc2=size=480x270:rate=12:duration=3 \
  -f lavfi -i sine=frequency=440:sample_rate=22050:duration=3 \
  -map 0:v -map 1:a -c:v libx264 -preset veryslow -crf 38 -pix_fmt yuv420p \
  -c:a aac -b:a 24k -metadata:s:a:0 language=eng -metadata title="haul sample" \
  -movflags +faststart -fflags +bitexact -flags:v +bitexact -flags:a +bitexact sample.mp4
# 2 s tone as MP3 (an audio-only asset).
ffmpeg -nostdin -v error -y -f lavfi -i sine=frequency=660:sample_rate=22050:duration=2 \
  -c:a libmp3lame -b:a 32k -fflags +bitexact -flags:a +bitexact tone.mp3
ls -l sample.mp4 tone.mp3
