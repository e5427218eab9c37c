#!/usr/bin/env bash
# make bench: Go benchmarks of the hot paths, then the peer races.
#   BENCH=go     only the Go benchmarks (compare runs with benchstat)
#   BENCH=fetch  only bench/fetch.sh (haul fetch vs aria2c, curl, wget2 from nginx)
#   BENCH=serve  only bench/serve.sh (haul serve vs nginx with wrk; signing rate)
#   BENCH=scale  only bench/scale.sh (SQLite vs PostgreSQL end to end with wrk)
# Results are written to bench-results/ (Go benchmark output, for benchstat).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${BENCH:-all}
mkdir -p bench-results
if [ "$what" = all ] || [ "$what" = go ]; then
  out=bench-results/go-$(date -u +%Y%m%dT%H%M%SZ).txt
  echo "== Go benchmarks -> $out (compare two runs: benchstat old.txt new.txt)"
  go test -run '^$' -bench . -benchmem -count "${COUNT:-3}" \
    ./downloader/ ./manifest/ ./server/ ./store/sqlite/ | tee "$out"
fi
if [ "$what" = all ] || [ "$what" = fetch ]; then
  echo "== bench/fetch.sh (see docs/benchmarks.md)"
  bash bench/fetch.sh
fi
if [ "$what" = all ] || [ "$what" = serve ]; then
  echo "== bench/serve.sh (see docs/benchmarks-server.md)"
  bash bench/serve.sh
fi
if [ "$what" = all ] || [ "$what" = scale ]; then
  echo "== bench/scale.sh (see docs/scale-out.md)"
  bash bench/scale.sh
fi
