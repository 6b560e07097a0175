#!/usr/bin/env bash
# Prints every benchmark figure BENCHMARKS.md reports, each beside its same-run reference:
#   - scoring kernel, and bytes per POI of a job's index                       (bench_score)
#   - cell writes vs the raw path, the queue, end to end at chunk 500 (default) and 5,000
#     next to raw, enqueue -> start latency; SQLite and PostgreSQL              (bench_queue)
#   - one job of 4 M cells by 1, 2, 4 worker processes and 1 x 2 slots, beside 1 and 2
#     parallel raw COPY streams (PostgreSQL)                                    (bench_parts)
#   - import vs libosmium's own read rate of the same file       (bench_import, when built)
#   - the API under load, and the embedded worker under that load vs alone       (load_http)
#   - heat tiles over a 4 M-cell job: latency hot/cold, overview cost, storage (bench_tiles)
#   - walking models: network import, per-job preparation, end to end beside the
#     straight-line model on the same job (bench_walk; the Andorra extract when present)
# PostgreSQL runs on a throwaway cluster (scripts/pg_test_cluster.sh, fsync off).
#   scripts/bench.sh [--quick]    --quick: shorter kernel and load runs
set -euo pipefail
cd "$(dirname "$0")/.."
NBI_SKIP_BUILD=1 scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target bench_score bench_queue bench_parts bench_tiles bench_walk load_http \
  nearbyindex >/dev/null
cmake --build build -j"$(nproc)" --target bench_import >/dev/null 2>&1 || true
secs=3 load_secs=10
if [[ "${1:-}" == "--quick" ]]; then secs=0.5 load_secs=4; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
build/bench_score --seconds "$secs"
echo; echo "== SQLite"
build/bench_queue --url "sqlite:$tmp/bench.db"
echo; echo "== PostgreSQL (throwaway cluster, fsync off)"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_queue --url "$DATABASE_URL"'
echo; echo "== One job, many workers (job parts), PostgreSQL"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_parts --url "$DATABASE_URL" --binary build/nearbyindex'
if [[ -x build/bench_import ]]; then
  echo; echo "== Import"
  scripts/pg_test_cluster.sh run -- bash -c 'build/bench_import --url "$DATABASE_URL"'
fi
echo; echo "== HTTP under load, SQLite"
build/load_http --seconds "$load_secs"
echo; echo "== HTTP under load, PostgreSQL"
scripts/pg_test_cluster.sh run -- bash -c "build/load_http --seconds $load_secs --url \"\$DATABASE_URL\""
echo; echo "== Heatmap tiles, SQLite"
build/bench_tiles --url "sqlite:$tmp/tiles.db"
echo; echo "== Heatmap tiles, PostgreSQL"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_tiles --url "$DATABASE_URL"'
extract=../shared/data/osm/andorra.osm.pbf
[[ -f $extract ]] && extract_arg="--extract $extract" || extract_arg=""
echo; echo "== Walking models, SQLite"
build/bench_walk --url "sqlite:$tmp/walk.db" $extract_arg
echo; echo "== Walking models, PostgreSQL"
scripts/pg_test_cluster.sh run -- bash -c "build/bench_walk --url \"\$DATABASE_URL\" $extract_arg"
