#!/usr/bin/env bash
# Benchmark haul serve on loopback with wrk, beside nginx serving the same
# files: delivery throughput for one 256 MiB file and for 64 KiB files, and
# the signing rate and p99 latency of POST /v1/assets/{id}/downloads at 64
# connections. Usage: bench/serve.sh [DURATION]   (default 10s)
# HAUL_BIN=path uses that binary instead of building one; HAUL_BASE=path
# runs a second haul (e.g. a build of main) interleaved with it, for
# before/after figures measured under the same load. ROUNDS (default 3).
# Needs: go, wrk, nginx, curl, jq. Results: docs/benchmarks-server.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
for tool in wrk nginx curl jq; do
  command -v "$tool" >/dev/null || { echo "bench/serve.sh: $tool is not installed" >&2; exit 1; }
done

WORK=$(mktemp -d)
HAUL_PIDS=""; BASE_PID=""; NGINX_PID=""
cleanup() {
  for p in $HAUL_PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

if [ -n "${HAUL_BIN:-}" ]; then
  cp "$HAUL_BIN" "$WORK/haul"
else
  echo "== building haul"
  CGO_ENABLED=0 go build -trimpath -o "$WORK/haul" ./cmd/haul
fi

echo "== making files"
mkdir -p "$WORK/www"
head -c $((256 << 20)) /dev/urandom > "$WORK/www/big.bin"
head -c $((64 << 10)) /dev/urandom > "$WORK/www/small.bin"

# start_haul BIN DATA: starts haul serve, uploads both files and sets
# PID, API, KEY, SMALL (asset id), BIG_URL and SMALL_URL.
start_haul() {
  local port
  port=$(free_port)
  "$1" serve --addr "127.0.0.1:$port" --data "$2" --rate-limit=off --download-ttl 24h >"$2.log" 2>&1 &
  PID=$!
  HAUL_PIDS="$HAUL_PIDS $PID"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  API="http://127.0.0.1:$port"
  KEY=$(cat "$2/admin.key")
  AUTH="Authorization: Bearer $KEY"
  local big
  big=$(upload "$WORK/www/big.bin")
  SMALL=$(upload "$WORK/www/small.bin")
  BIG_URL=$(url_of "$big")
  SMALL_URL=$(url_of "$SMALL")
}
upload() { # file → asset id once available
  local id
  id=$(curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d "{\"filename\":\"$(basename "$1")\"}" "$API/v1/assets" | jq -r .id)
  curl -fs -H "$AUTH" -T "$1" "$API/v1/assets/$id/content" >/dev/null
  for _ in $(seq 600); do
    [ "$(curl -fs -H "$AUTH" "$API/v1/assets/$id" | jq -r .state)" = available ] && break
    sleep 0.1
  done
  echo "$id"
}
url_of() { curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d '{"format":"original"}' "$API/v1/assets/$1/downloads" | jq -r .download_url; }

# An optional second haul (HAUL_BASE=path, e.g. a build of main) runs
# interleaved with the first, for before/after figures from one session.
if [ -n "${HAUL_BASE:-}" ]; then
  cp "$HAUL_BASE" "$WORK/haul-base"
  start_haul "$WORK/haul-base" "$WORK/data-base"
  BASE_PID=$PID BASE_API=$API BASE_KEY=$KEY BASE_SMALL=$SMALL BASE_BIG_URL=$BIG_URL BASE_SMALL_URL=$SMALL_URL
fi
start_haul "$WORK/haul" "$WORK/data"
HAUL_PID=$PID

# nginx workers run as an unprivileged user: let them read the files.
chmod 755 "$WORK" "$WORK/www"; chmod 644 "$WORK"/www/*.bin
NPORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  server { listen 127.0.0.1:$NPORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!
sleep 0.5
curl -fs -o /dev/null "http://127.0.0.1:$NPORT/small.bin" || { echo "nginx does not serve the files" >&2; cat "$WORK/nginx/error.log" >&2; exit 1; }

# One wrk run: "req/s transfer/s p99 cpu_us_per_req", where the last is the
# CPU time (user+sys, from /proc) the server process and its children used
# per request: robust when other work shares the cores, unlike req/s.
cpu_ticks() { local t=0 p; for p in "$1" $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
run_wrk() { # PID URL [wrk args...]
  local pid=$1 url=$2 c0 c1 out n; shift 2
  c0=$(cpu_ticks "$pid"); out=$(wrk -t2 -d"$DUR" --latency "$@" "$url"); c1=$(cpu_ticks "$pid")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '%s %s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '/Transfer\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" "$(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / (n > 0 ? n : 1) ))"
}
ROUNDS=${ROUNDS:-3}
post_lua() { # FILE KEY
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '{"format":"original"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
LUA
}
post_lua "$WORK/post.lua" "$KEY"
[ -n "$BASE_PID" ] && post_lua "$WORK/post-base.lua" "$BASE_KEY"

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $ROUNDS rounds of $DUR, servers interleaved"
# base runs the HAUL_BASE binary's leg of a test (nothing without it).
base() { if [ -n "$BASE_PID" ]; then run_wrk "$BASE_PID" "$@"; else echo "— — — —"; fi; }
unit() { [ "$1" = "—" ] && echo "—" || echo "$1 $2"; }
printf '\n| round | test | haul | base (HAUL_BASE) | nginx | haul/nginx |\n| --- | --- | --- | --- | --- | --- |\n'
for r in $(seq "$ROUNDS"); do
  read -r hb_rps hb_t _ hb_cpu < <(run_wrk "$HAUL_PID" "$BIG_URL" -c4)
  read -r bb_rps bb_t _ bb_cpu < <(base "${BASE_BIG_URL:-}" -c4)
  read -r nb_rps nb_t _ nb_cpu < <(run_wrk "$NGINX_PID" "http://127.0.0.1:$NPORT/big.bin" -c4)
  printf '| %s | 256 MiB file, 4 conns (transfer/s) | %s | %s | %s | |\n' "$r" "$hb_t" "$bb_t" "$nb_t"
  read -r hs_rps hs_t hs_p99 hs_cpu < <(run_wrk "$HAUL_PID" "$SMALL_URL" -c64)
  read -r bs_rps bs_t bs_p99 bs_cpu < <(base "${BASE_SMALL_URL:-}" -c64)
  read -r ns_rps ns_t ns_p99 ns_cpu < <(run_wrk "$NGINX_PID" "http://127.0.0.1:$NPORT/small.bin" -c64)
  printf '| %s | 64 KiB file, 64 conns (req/s) | %s | %s | %s | %s %% |\n' "$r" "$hs_rps" "$bs_rps" "$ns_rps" "$(awk -v a="$hs_rps" -v b="$ns_rps" 'BEGIN {printf "%.0f", 100*a/b}')"
  printf '| %s | 64 KiB file, p99 latency | %s | %s | %s | |\n' "$r" "$hs_p99" "$bs_p99" "$ns_p99"
  printf '| %s | 64 KiB file, server CPU per request | %s µs | %s | %s µs | |\n' "$r" "$hs_cpu" "$(unit "$bs_cpu" µs)" "$ns_cpu"
  read -r hp_rps _ hp_p99 hp_cpu < <(run_wrk "$HAUL_PID" "$API/v1/assets/$SMALL/downloads" -c64 -s "$WORK/post.lua")
  if [ -n "$BASE_PID" ]; then
    read -r bp_rps _ bp_p99 bp_cpu < <(run_wrk "$BASE_PID" "$BASE_API/v1/assets/$BASE_SMALL/downloads" -c64 -s "$WORK/post-base.lua")
  else
    bp_rps="—" bp_p99="—" bp_cpu="—"
  fi
  printf '| %s | POST …/downloads, 64 conns (req/s) | %s | %s | — | |\n' "$r" "$hp_rps" "$bp_rps"
  printf '| %s | POST …/downloads p99 latency | %s | %s | — | |\n' "$r" "$hp_p99" "$bp_p99"
  printf '| %s | POST …/downloads, server CPU per request | %s µs | %s | — | |\n' "$r" "$hp_cpu" "$(unit "$bp_cpu" µs)"
done
echo
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
