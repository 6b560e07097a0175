#!/usr/bin/env bash
# Runs the benchmarks: scoring kernel, then stores/queue/worker and OSM import on SQLite and
# PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
NBI_SKIP_BUILD=1 scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target bench_score bench_queue bench_import nearbyindex >/dev/null
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
build/bench_score
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo; echo "== SQLite"
build/bench_queue --url "sqlite:$tmp/bench.db"
echo; echo "== PostgreSQL (throwaway cluster, fsync off)"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_queue --url "$DATABASE_URL"'
echo; echo "== OSM import (SQLite and a throwaway PostgreSQL)"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_import --url "$DATABASE_URL"'
