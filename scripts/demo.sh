#!/usr/bin/env bash
# make demo: start `haul serve` on a temporary data dir, upload the sample
# media in testdata/media, export it and download it with `haul export`,
# check the result with sha256sum -c, and print where the files landed.
set -euo pipefail
cd "$(dirname "$0")/.."
haul=$PWD/bin/haul
work=$(mktemp -d "${TMPDIR:-/tmp}/haul-demo.XXXXXX")
data=$work/data
out=$work/export
port=${HAUL_DEMO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)}
server=http://127.0.0.1:$port

cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT

echo "==> haul serve on $server (data in $data)"
"$haul" serve --addr "127.0.0.1:$port" --data "$data" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$server/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "haul serve exited:"; cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
export HAUL_SERVER=$server HAUL_TOKEN=$(cat "$data/admin.key")

media=$(ls testdata/media/*.mp4 testdata/media/*.mp3 testdata/media/*.m4a testdata/media/*.wav 2>/dev/null || true)
[ -n "$media" ] || { echo "no sample media in testdata/media"; exit 1; }
echo "==> haul upload $(echo $media | wc -w) files"
"$haul" upload --tag demo $media

format=${HAUL_DEMO_FORMAT:-original}
echo "==> haul export --tag demo --format $format -o $out"
"$haul" export --tag demo --format "$format" -o "$out"

echo "==> sha256sum -c"
(cd "$out" && sha256sum -c SHA256SUMS)

if command -v ffmpeg >/dev/null && [ -f testdata/media/sample.mp4 ]; then
  video=$("$haul" upload --title "Demo video" testdata/media/sample.mp4 | head -n 1)
  echo "==> haul get $video --format mp4_480p (a rendition made by ffmpeg through the job queue)"
  "$haul" get "$video" --format mp4_480p -o "$out/renditions"
fi
echo
echo "Files landed in $out:"
ls -l "$out"
echo "(server log: $work/serve.log)"
