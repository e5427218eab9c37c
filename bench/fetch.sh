#!/usr/bin/env bash
# Race `haul fetch` (verifying sha256) against aria2c (verifying sha256 via
# checksum= in its input file), curl --parallel and wget2 (neither verifies)
# at 8 files at once, on a generated corpus served by nginx on 127.0.0.1
# from tmpfs, beside bench/gofloor (the least a Go program does for the same
# verified, atomic result). Prints a markdown table: median wall time of RUNS runs, MB/s
# and peak RSS (from /usr/bin/time).
#
# Usage: bench/fetch.sh [SCENARIO...]     scenarios: A B C R (default all)
# Env:   RUNS=5  HAUL=bin/haul  BENCH_DIR=/dev/shm  KEEP=1 (keep the corpus)
#   A  2000 files x 32 KiB
#   B  32 files x 16 MiB
#   C  1 file x 1 GiB (plus single-stream `curl -o` as the one-connection reference)
#   R  haul's peak RSS for 1 000 and 10 000 files of 4 KiB (memory must stay flat)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
HAUL=${HAUL:-bin/haul}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(A B C R)
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] && [ -w "$BASE" ] || BASE=${TMPDIR:-/tmp}

for tool in nginx /usr/bin/time sha256sum; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
if [ ! -x "$HAUL" ]; then
	echo "bench: building $HAUL" >&2
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$HAUL" ./cmd/haul
fi
HAUL=$(realpath "$HAUL")
# The Go floor: the least a Go program does for the same verified, atomic
# result (net/http, sha256, temp name + rename; no journal, retries, gates,
# progress). Not a peer: it shows what Go itself costs next to curl/wget2.
GOFLOOR=""
if command -v go >/dev/null; then
	GOFLOOR=$(mktemp -d)/gofloor
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$GOFLOOR" ./bench/gofloor
fi

ROOT=$(mktemp -d "$BASE/haul-bench.XXXXXX")
NGINX_PID=""
cleanup() {
	if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
		kill "$NGINX_PID"
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	if [ -z "${KEEP:-}" ]; then rm -rf "$ROOT"; else echo "bench: kept $ROOT" >&2; fi
	if [ -n "$GOFLOOR" ]; then rm -rf "$(dirname "$GOFLOOR")"; fi
}
trap cleanup EXIT INT TERM

# A free port from the kernel.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASEURL="http://127.0.0.1:$PORT"
mkdir -p "$ROOT/www" "$ROOT/nginx" "$ROOT/in"

gen() { # gen DIR COUNT SIZE_BYTES
	local dir=$1 count=$2 size=$3
	mkdir -p "$ROOT/www/$dir"
	if [ "$count" -eq 1 ]; then
		head -c "$size" /dev/urandom >"$ROOT/www/$dir/f0000"
	else
		# One random blob cut into files: fast, and every file differs.
		head -c $((count * size)) /dev/urandom | split -b "$size" -a 4 -d - "$ROOT/www/$dir/f"
	fi
}

inputs() { # inputs DIR: manifest.json, aria2.txt, curl.cfg, urls.txt
	local dir=$1
	local in="$ROOT/in/$dir"
	mkdir -p "$in"
	(cd "$ROOT/www/$dir" && sha256sum f*) >"$in/sums"
	python3 - "$in" "$BASEURL/$dir" "$ROOT/www/$dir" <<'EOF'
import json, os, sys
indir, base, www = sys.argv[1:4]
items, aria, curl, urls = [], [], [], []
for line in open(os.path.join(indir, "sums")):
    h, name = line.split()
    url = f"{base}/{name}"
    items.append({"filename": name, "url": url, "size": os.path.getsize(os.path.join(www, name)), "checksum": "sha256:" + h})
    aria.append(f"{url}\n  out={name}\n  checksum=sha-256={h}\n")
    curl.append(f'url = "{url}"\noutput = "{name}"\n')
    urls.append(url + "\n")
json.dump({"version": 1, "status": "ready", "items": items}, open(os.path.join(indir, "manifest.json"), "w"))
open(os.path.join(indir, "aria2.txt"), "w").write("".join(aria))
open(os.path.join(indir, "curl.cfg"), "w").write("".join(curl))
open(os.path.join(indir, "urls.txt"), "w").write("".join(urls))
EOF
}

cat >"$ROOT/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $ROOT/nginx/nginx.pid;
error_log $ROOT/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	client_body_temp_path $ROOT/nginx/body;
	proxy_temp_path $ROOT/nginx/proxy;
	fastcgi_temp_path $ROOT/nginx/fastcgi;
	uwsgi_temp_path $ROOT/nginx/uwsgi;
	scgi_temp_path $ROOT/nginx/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$PORT;
		root $ROOT/www;
	}
}
EOF

declare -A SIZE=([A]=$((32 << 10)) [B]=$((16 << 20)) [C]=$((1 << 30)) [R1]=4096 [R10]=4096)
declare -A COUNT=([A]=2000 [B]=32 [C]=1 [R1]=1000 [R10]=10000)
declare -A LABEL=([A]="A 2000 x 32 KiB" [B]="B 32 x 16 MiB" [C]="C 1 x 1 GiB" [R1]="R 1000 x 4 KiB" [R10]="R 10000 x 4 KiB")
EXPANDED=()
for s in "${SCENARIOS[@]}"; do
	if [ "$s" = R ]; then EXPANDED+=(R1 R10); else EXPANDED+=("$s"); fi
done
SCENARIOS=("${EXPANDED[@]}")

echo "bench: generating corpus in $ROOT" >&2
for s in "${SCENARIOS[@]}"; do
	gen "$s" "${COUNT[$s]}" "${SIZE[$s]}"
	inputs "$s"
done

# nginx workers may run as another user (nobody when started as root).
chmod -R a+rX "$ROOT"
nginx -p "$ROOT/nginx" -c "$ROOT/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do
	curl -sf -o /dev/null "$BASEURL/" -r 0-0 2>/dev/null && break
	curl -s -o /dev/null "$BASEURL/" && break
	sleep 0.1
done

# run_tool SCENARIO NAME CMD... -> appends "seconds rss_kib" lines per run.
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

ROWS=()
race() { # race SCENARIO NAME verify(yes/no) CMD...
	local s=$1 name=$2 verifies=$3
	shift 3
	local out="$ROOT/out" times="$ROOT/times" rss="$ROOT/rss" cpu="$ROOT/cpu"
	: >"$times"
	: >"$cpu"
	: >"$rss"
	for _ in $(seq "$RUNS"); do
		rm -rf "$out"
		mkdir -p "$out"
		if ! (cd "$out" && /usr/bin/time -f "%e %M %U %S" -o "$ROOT/t" "$@" >"$ROOT/log" 2>&1); then
			echo "bench: $name failed on $s:" >&2
			tail -5 "$ROOT/log" >&2
			return 0
		fi
		awk '{print $1}' "$ROOT/t" >>"$times"
		awk '{print $2}' "$ROOT/t" >>"$rss"
		awk '{print $3 + $4}' "$ROOT/t" >>"$cpu"
	done
	# Check the result once: every byte must be there and right.
	if ! (cd "$out" && sha256sum --quiet -c "$ROOT/in/$s/sums" >/dev/null 2>&1); then
		echo "bench: $name on $s produced wrong files" >&2
	fi
	local med peak mbps cpus
	med=$(median <"$times")
	cpus=$(median <"$cpu")
	peak=$(sort -n "$rss" | tail -1)
	mbps=$(awk -v b=$((COUNT[$s] * SIZE[$s])) -v t="$med" 'BEGIN {if (t > 0) printf "%.0f", b / t / 1e6; else print "-"}')
	ROWS+=("| ${LABEL[$s]} | $name | $verifies | $med | $mbps | $cpus | $((peak / 1024)) |")
	echo "bench: ${LABEL[$s]}  $name  ${med}s  ${mbps} MB/s  cpu ${cpus}s  $((peak / 1024)) MiB" >&2
}

for s in "${SCENARIOS[@]}"; do
	in="$ROOT/in/$s"
	race "$s" "haul fetch" yes "$HAUL" fetch "$in/manifest.json" -o . -j 8 --no-progress
	case $s in R*) continue ;; esac
	if [ -n "$GOFLOOR" ]; then
		race "$s" "go floor (bench/gofloor)" yes "$GOFLOOR" -j 8 -o . "$in/manifest.json"
	fi
	if command -v aria2c >/dev/null; then
		race "$s" "aria2c" yes aria2c -i "$in/aria2.txt" -d . -j 8 -x 1 --quiet=true --file-allocation=none \
			--allow-overwrite=true --auto-file-renaming=false --console-log-level=error --summary-interval=0
	fi
	race "$s" "curl --parallel" no curl -s -f --parallel --parallel-max 8 -K "$in/curl.cfg"
	if command -v wget2 >/dev/null; then
		race "$s" "wget2" no wget2 -q --max-threads 8 -i "$in/urls.txt" -nd -P . --no-robots
	fi
	if [ "$s" = C ]; then
		race "$s" "curl -o (1 stream)" no curl -s -f -o f0000 "$BASEURL/C/f0000"
	fi
done

echo
echo "Median of $RUNS runs, nginx on 127.0.0.1 serving tmpfs, output on tmpfs, $(nproc) cores."
echo
echo "| scenario | tool | verifies sha256 | median wall s | MB/s | CPU s (user+sys) | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
