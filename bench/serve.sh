#!/usr/bin/env bash
# Benchmark haul serve on loopback with wrk, beside nginx serving the same
# files: delivery throughput for one 256 MiB file and for 64 KiB files, and
# the signing rate and p99 latency of POST /v1/assets/{id}/downloads at 64
# connections. Usage: bench/serve.sh [DURATION]   (default 10s)
# Needs: go, wrk, nginx, curl, jq. Results: docs/benchmarks-server.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
for tool in wrk nginx curl jq; do
  command -v "$tool" >/dev/null || { echo "bench/serve.sh: $tool is not installed" >&2; exit 1; }
done

WORK=$(mktemp -d)
HAUL_PID=""; NGINX_PID=""
cleanup() {
  [ -n "$HAUL_PID" ] && kill "$HAUL_PID" 2>/dev/null && wait "$HAUL_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

echo "== building haul"
CGO_ENABLED=0 go build -trimpath -o "$WORK/haul" ./cmd/haul

echo "== making files"
mkdir -p "$WORK/www"
head -c $((256 << 20)) /dev/urandom > "$WORK/www/big.bin"
head -c $((64 << 10)) /dev/urandom > "$WORK/www/small.bin"

HPORT=$(free_port)
"$WORK/haul" serve --addr "127.0.0.1:$HPORT" --data "$WORK/data" --rate-limit=off --download-ttl 24h >"$WORK/haul.log" 2>&1 &
HAUL_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HPORT/readyz" >/dev/null && break; sleep 0.1; done
API="http://127.0.0.1:$HPORT"
KEY=$(cat "$WORK/data/admin.key")
AUTH="Authorization: Bearer $KEY"

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
BIG=$(upload "$WORK/www/big.bin")
SMALL=$(upload "$WORK/www/small.bin")
url_of() { curl -fs -H "$AUTH" -H 'Content-Type: application/json' -d '{"format":"original"}' "$API/v1/assets/$1/downloads" | jq -r .download_url; }
BIG_URL=$(url_of "$BIG")
SMALL_URL=$(url_of "$SMALL")

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

rps() { grep 'Requests/sec' | awk '{print $2}'; }
tput() { grep 'Transfer/sec' | awk '{print $2}'; }
p99() { grep -E '^ +99%' | awk '{print $2}'; }

echo "== 256 MiB file, 4 connections, $DUR"
H_BIG=$(wrk -t2 -c4 -d"$DUR" "$BIG_URL")
N_BIG=$(wrk -t2 -c4 -d"$DUR" "http://127.0.0.1:$NPORT/big.bin")
echo "== 64 KiB file, 64 connections, $DUR"
H_SMALL=$(wrk -t2 -c64 -d"$DUR" "$SMALL_URL")
N_SMALL=$(wrk -t2 -c64 -d"$DUR" "http://127.0.0.1:$NPORT/small.bin")
echo "== POST /v1/assets/{id}/downloads, 64 connections, $DUR"
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"format":"original"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
H_POST=$(wrk -t2 -c64 -d"$DUR" --latency -s "$WORK/post.lua" "$API/v1/assets/$SMALL/downloads")

printf '\n| test | haul | nginx |\n| --- | --- | --- |\n'
printf '| 256 MiB file, 4 conns (transfer/s) | %s | %s |\n' "$(tput <<<"$H_BIG")" "$(tput <<<"$N_BIG")"
printf '| 64 KiB file, 64 conns (req/s) | %s | %s |\n' "$(rps <<<"$H_SMALL")" "$(rps <<<"$N_SMALL")"
printf '| 64 KiB file, 64 conns (transfer/s) | %s | %s |\n' "$(tput <<<"$H_SMALL")" "$(tput <<<"$N_SMALL")"
printf '| POST …/downloads, 64 conns (req/s) | %s | — |\n' "$(rps <<<"$H_POST")"
printf '| POST …/downloads p99 latency | %s | — |\n' "$(p99 <<<"$H_POST")"
