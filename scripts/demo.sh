#!/usr/bin/env bash
# Demo placeholder replaced as features land.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/haul version
