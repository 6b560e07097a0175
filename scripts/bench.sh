#!/usr/bin/env bash
# Prints every benchmark figure BENCHMARKS.md reports, each beside its same-run reference:
#   - scoring kernel, and bytes per POI of a job's index                       (bench_score)
#   - cell writes vs the raw path, the queue, end to end at chunk 500 (default) and 5,000
#     next to raw, enqueue -> start latency after 20,000 finished jobs, 20,000 one-cell jobs
#     through process-jobs; SQLite and PostgreSQL                               (bench_queue)
#   - one job of 4 M cells by 1, 2, 4 worker processes and 1 x 2 slots, beside 1 and 2
#     parallel raw COPY streams (PostgreSQL)                                    (bench_parts)
#   - import vs libosmium's own read rate of the same file                      (bench_import)
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
# A failing step stops the run with its own error output (set -e; the build's log is shown).
build_quietly() {
  local log; log=$(mktemp)
  if ! cmake --build build -j"$(nproc)" --target "$@" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; echo "bench.sh: building $* failed" >&2; exit 1
  fi
  rm -f "$log"
}
build_quietly bench_score bench_queue bench_parts bench_tiles bench_walk bench_import load_http \
  nearbyindex
secs=3 load_secs=10
if [[ "${1:-}" == "--quick" ]]; then secs=0.5 load_secs=4; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u "+%F %H:%M UTC"), $(uptime | sed "s/.*load/load/")"
build/bench_score --seconds "$secs"
echo; echo "== SQLite"
build/bench_queue --url "sqlite:$tmp/bench.db" --binary build/nearbyindex
echo; echo "== PostgreSQL (throwaway cluster, fsync off)"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_queue --url "$DATABASE_URL" --binary build/nearbyindex'
echo; echo "== One job, many workers (job parts), PostgreSQL"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_parts --url "$DATABASE_URL" --binary build/nearbyindex'
echo; echo "== Import"
scripts/pg_test_cluster.sh run -- bash -c 'build/bench_import --url "$DATABASE_URL"'
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
