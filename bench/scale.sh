#!/usr/bin/env bash
# End-to-end benchmark of haul serve on each metadata backend, embedded
# SQLite (--data DIR) and PostgreSQL (--db postgres://…, blobs on local disk),
# on loopback with wrk at 64 connections:
#   1. POST /v1/assets/{id}/downloads {"format":"original"}: req/s and p99
#   2. grant redemption GET /g/{token} (one limited grant, huge max_downloads;
#      wrk does not follow the redirect): req/s and p99
#   3. GET /v1/exports/{id}/manifest of an N-item export (N distinct assets,
#      exported by tag): median of a few curl timings
# Usage: bench/scale.sh [DURATION]   (default 5s)
#   ITEMS=10000   assets in the export (the server's cap is 10 000)
#   RUNS=5        manifest timings per backend
#   BUDGET=120    seconds to spend creating assets on the first backend; when
#                 fewer than ITEMS are made, the count made is used for both
#   HAUL_BIN=path use this binary instead of building one
# Needs: go, wrk, curl, jq, python3, PostgreSQL server binaries (initdb,
# postgres; Debian's postgresql package). Results: docs/scale-out.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5s}
ITEMS=${ITEMS:-10000}
RUNS=${RUNS:-5}
BUDGET=${BUDGET:-120}
for tool in wrk curl jq python3; do
  command -v "$tool" >/dev/null || { echo "bench/scale.sh: $tool is not installed" >&2; exit 1; }
done
PGBIN=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")")
[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/postgres" ] || {
  echo "bench/scale.sh: PostgreSQL server binaries not found: apt-get install postgresql" >&2; exit 1; }

WORK=$(mktemp -d)
HAUL_PID=""; PG_PID=""
stop_haul() {
  if [ -n "$HAUL_PID" ]; then kill "$HAUL_PID" 2>/dev/null || true; wait "$HAUL_PID" 2>/dev/null || true; HAUL_PID=""; fi
}
cleanup() {
  stop_haul
  if [ -n "$PG_PID" ]; then
    kill -INT "$PG_PID" 2>/dev/null || true # fast shutdown
    for _ in $(seq 100); do # until it exits (a zombie until waited for)
      case $(awk '{print $3}' "/proc/$PG_PID/stat" 2>/dev/null) in ""|Z) break ;; esac
      sleep 0.1
    done
    kill -KILL "$PG_PID" 2>/dev/null || true
    wait "$PG_PID" 2>/dev/null || true
  fi
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

# A throwaway PostgreSQL cluster on a free loopback port, like
# internal/testsvc: postgres refuses root, so run it as the postgres user.
echo "== starting PostgreSQL ($PGBIN)"
# setpriv execs (no lingering parent), so $PG_PID is postgres itself.
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
mkdir -p "$WORK/pg/data" "$WORK/pg/sock"
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown -R postgres: "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >"$WORK/pg/initdb.log" 2>&1 ||
  { cat "$WORK/pg/initdb.log" >&2; exit 1; }
PGPORT=$(free_port)
# The same settings as the test cluster (fsync off: a throwaway cluster).
as_pg "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg/sock" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=300 -c shared_buffers=32MB -c log_min_messages=warning >"$WORK/pg/postgres.log" 2>&1 &
PG_PID=$!
for _ in $(seq 100); do
  as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null && break
  kill -0 "$PG_PID" 2>/dev/null || { cat "$WORK/pg/postgres.log" >&2; exit 1; }
  sleep 0.1
done
as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { echo "PostgreSQL did not start" >&2; cat "$WORK/pg/postgres.log" >&2; exit 1; }
DSN="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"

# Creates up to N assets tagged "bench", each with the same small content,
# over a few keep-alive connections, stopping after BUDGET seconds. Prints
# how many were created.
cat >"$WORK/mkassets.py" <<'PY'
import http.client, json, sys, threading
import time
port, key, n, path, budget = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
deadline = time.monotonic() + budget
body = open(path, "rb").read()
lock, done, errors = threading.Lock(), [0], []
def worker(ids):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in ids:
        if time.monotonic() > deadline:
            return
        c.request("POST", "/v1/assets", json.dumps({"filename": "item-%05d.bin" % i, "tags": ["bench"]}),
                  {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse(); data = r.read()
        if r.status != 201:
            errors.append("create %d: %d %s" % (i, r.status, data[:200])); return
        aid = json.loads(data)["id"]
        c.request("PUT", "/v1/assets/%s/content" % aid, body, {"Authorization": "Bearer " + key})
        r = c.getresponse(); data = r.read()
        if r.status >= 300:
            errors.append("upload %d: %d %s" % (i, r.status, data[:200])); return
        with lock: done[0] += 1
threads = [threading.Thread(target=worker, args=(range(k, n, 8),)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
for e in errors[:5]: print(e, file=sys.stderr)
print(done[0])
PY

head -c 4096 /dev/urandom >"$WORK/small.bin"

ROWS=()
bench_backend() { # NAME [haul serve backend flags...]
  local name=$1; shift
  local port api key auth id grant token created secs n export_id
  port=$(free_port)
  "$WORK/haul" serve --addr "127.0.0.1:$port" --data "$WORK/data-$name" --rate-limit=off --download-ttl 24h "$@" >"$WORK/haul-$name.log" 2>&1 &
  HAUL_PID=$!
  api="http://127.0.0.1:$port"
  for _ in $(seq 150); do curl -fs "$api/readyz" >/dev/null && break; sleep 0.1; done
  curl -fs "$api/readyz" >/dev/null || { echo "haul serve ($name) did not become ready" >&2; tail -20 "$WORK/haul-$name.log" >&2; exit 1; }
  key=$(cat "$WORK/data-$name/admin.key"); auth="Authorization: Bearer $key"

  id=$(curl -fs -H "$auth" -H 'Content-Type: application/json' -d '{"filename":"small.bin"}' "$api/v1/assets" | jq -r .id)
  curl -fs -H "$auth" -T "$WORK/small.bin" "$api/v1/assets/$id/content" >/dev/null
  for _ in $(seq 300); do
    [ "$(curl -fs -H "$auth" "$api/v1/assets/$id" | jq -r .state)" = available ] && break
    sleep 0.1
  done
  grant=$(curl -fs -H "$auth" -H 'Content-Type: application/json' \
    -d '{"policy":"limited","max_downloads":1000000000,"expires_in":86400}' "$api/v1/assets/$id/grants")
  token=$(jq -r .token <<<"$grant")
  [ -n "$token" ] && [ "$token" != null ] || { echo "grant create failed: $grant" >&2; exit 1; }

  cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"format":"original"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
  echo "== $name: POST …/downloads, 64 connections, $DUR"
  wrk -t2 -c64 -d"$DUR" --latency -s "$WORK/post.lua" "$api/v1/assets/$id/downloads" | tee "$WORK/wrk-post-$name.txt"
  echo "== $name: GET /g/{token}, 64 connections, $DUR"
  wrk -t2 -c64 -d"$DUR" --latency "$api/g/$token" | tee "$WORK/wrk-grant-$name.txt"

  echo "== $name: creating $ITEMS assets"
  secs=$SECONDS
  created=$(python3 "$WORK/mkassets.py" "$port" "$key" "$ITEMS" "$WORK/small.bin" "$BUDGET")
  # The next backend gets the same count (and more time) for a fair comparison.
  if [ "$created" -lt "$ITEMS" ]; then ITEMS=$created; BUDGET=$((BUDGET * 3)); fi
  echo "   created $created in $((SECONDS - secs)) s"
  # Wait (bounded) until every tagged asset is available.
  for _ in $(seq 600); do
    n=$(count_available "$api" "$auth")
    [ "$n" -ge "$created" ] && break
    sleep 0.5
  done
  echo "   $n available"
  export_id=$(curl -fs -H "$auth" -H 'Content-Type: application/json' -d '{"tag":"bench","format":"original","name":"bench"}' "$api/v1/exports" | jq -r .id)
  local times=() t items ready
  for _ in $(seq "$RUNS"); do
    t=$(curl -fs -o "$WORK/manifest.json" -w '%{time_total}' -H "$auth" "$api/v1/exports/$export_id/manifest")
    times+=("$t")
  done
  items=$(jq '.items | length' "$WORK/manifest.json")
  ready=$(jq '[.items[] | select(.status == "ready")] | length' "$WORK/manifest.json")
  echo "   manifest: $items items ($ready ready), $(wc -c <"$WORK/manifest.json") bytes, times: ${times[*]}"
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.0f", 1000*a[int((NR+1)/2)]}')

  local post_rps post_p99 post_non2xx grant_rps grant_p99 grant_non2xx
  post_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-post-$name.txt")
  post_p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-post-$name.txt")
  post_non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk-post-$name.txt")
  grant_rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-grant-$name.txt")
  grant_p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-grant-$name.txt")
  # Redemption answers 302; wrk counts anything outside 2xx/3xx as Non-2xx/3xx.
  grant_non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk-grant-$name.txt")
  ROWS+=("$name|$post_rps|$post_p99|${post_non2xx:-0}|$grant_rps|$grant_p99|${grant_non2xx:-0}|$items|$median")
  local status5xx
  status5xx=$(grep -cE 'status[=":]+5[0-9]{2}' "$WORK/haul-$name.log" || true)
  echo "   5xx in the access log: $status5xx"
  grep -E 'level=ERROR|"level":"ERROR"' "$WORK/haul-$name.log" | head -5 || true
  stop_haul
}

count_available() { # API AUTH → number of available assets tagged bench
  local api=$1 auth=$2 cursor="" total=0 page next
  for _ in $(seq 1000); do
    page=$(curl -fs -H "$auth" "$api/v1/assets?tag=bench&state=available&limit=1000${cursor:+&cursor=$cursor}")
    total=$((total + $(jq '.data | length' <<<"$page")))
    next=$(jq -r '.next_cursor // empty' <<<"$page")
    [ -z "$next" ] && break
    cursor=$next
  done
  echo "$total"
}

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
bench_backend sqlite
bench_backend postgres --db "$DSN"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n| backend | POST …/downloads req/s | p99 | non-2xx | GET /g/{token} req/s | p99 | non-2xx/3xx | manifest items | manifest median (ms) |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for row in "${ROWS[@]}"; do
  IFS='|' read -r b a1 a2 a3 b1 b2 b3 c1 c2 <<<"$row"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$b" "$a1" "$a2" "$a3" "$b1" "$b2" "$b3" "$c1" "$c2"
done
