#!/usr/bin/env bash
# Runs every test: installs/builds (scripts/setup.sh), starts a throwaway PostgreSQL
# (scripts/pg_test_cluster.sh) for the PostgreSQL half of the suites, runs ctest.
#   scripts/test.sh [ctest args...]      e.g. scripts/test.sh -R Store
# NBI_REQUIRE_PG=1 (set by .ci/run) turns "no PostgreSQL" from a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=${NBI_BUILD_DIR:-build}

run_ctest() {
  local log; log=$(mktemp)
  set +e
  (cd "$dir" && NBI_TEST_PG_URL="${DATABASE_URL:-}" DATABASE_URL= \
     ctest --output-on-failure -j"${NBI_TEST_JOBS:-2}" --timeout 900 "$@") 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local total failed
  total=$(grep -oE 'tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  failed=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' || echo 0)
  echo "$((total - failed)) passed, $failed failed"
  rm -f "$log"
  return "$rc"
}
export -f run_ctest
export dir

if scripts/pg_test_cluster.sh run -- true >/dev/null 2>&1; then
  scripts/pg_test_cluster.sh run -- bash -c 'run_ctest "$@"' _ "$@"
else
  if [[ -n "${NBI_REQUIRE_PG:-}" ]]; then echo "test: PostgreSQL could not start" >&2; exit 1; fi
  echo "test: no PostgreSQL server could be started here: PostgreSQL tests will be skipped (with a message)" >&2
  DATABASE_URL= run_ctest "$@"
fi
