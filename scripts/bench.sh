#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchmem ./...
# haul serve against nginx with wrk (docs/benchmarks-server.md); BENCH_SERVE=0 skips it.
if [ "${BENCH_SERVE:-1}" != 0 ]; then
  if command -v wrk >/dev/null && command -v nginx >/dev/null; then
    bash bench/serve.sh "${SERVE_DURATION:-10s}"
  else
    echo "scripts/bench.sh: wrk or nginx missing, skipping bench/serve.sh" >&2
  fi
fi
