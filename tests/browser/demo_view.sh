#!/usr/bin/env bash
# The demo's view in a real browser: computes exactly what scripts/demo.sh computes (its
# demo_compute, on the real Liechtenstein extract) into a throwaway SQLite store, serves it and
# opens the very URL the demo prints (tests/browser/demo_view.mjs).
#   tests/browser/demo_view.sh BUILD_DIR
# The extract is read from ../shared/data/osm (or NBI_OSM_DATA_DIR); without it the test is
# skipped (exit 77), or fails with NBI_REQUIRE_OSM=1.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
nbi=$build/nearbyindex
if [[ ! -x /usr/bin/chromium || ! -d $src/web/node_modules/playwright-core ]]; then
  echo "browser tests need /usr/bin/chromium and web/node_modules (scripts/setup.sh installs both)" >&2
  exit 1
fi
source "$src/scripts/demo_compute.sh"
extract=${NBI_OSM_DATA_DIR:-$src/../shared/data/osm}/$DEMO_EXTRACT
if [[ ! -s $extract ]]; then
  if [[ -n ${NBI_REQUIRE_OSM:-} ]]; then
    echo "FAIL NBI_REQUIRE_OSM set but $extract is missing (../shared/data/osm, or NBI_OSM_DATA_DIR)"
    exit 1
  fi
  echo "SKIP $extract is missing (NBI_OSM_DATA_DIR names another place; CI sets NBI_REQUIRE_OSM=1)"
  exit 77
fi
tmp=$(mktemp -d)
server="" computing=""
cleanup() {
  if [[ -n $computing ]]; then echo "FAIL the demo's computation:"; tail -n 30 "$tmp/compute.log"; fi
  if [[ -n $server ]]; then kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# The demo's settings (scripts/demo.sh), on a store of our own.
export DATABASE_URL="sqlite:$tmp/demo.db" WORKER_CHUNK_SIZE=2000
unset NBI_TEST_PG_URL NBI_TILE_URL
# Run as the demo runs it (errexit on: a failing step ends the test, its log shown on exit).
computing=1
demo_compute "$nbi" "$extract" "$DEMO_SLUG" "${DEMO_SLUG^}" "$DEMO_BBOX" "$DEMO_STEP" "$tmp" \
  >"$tmp/compute.log" 2>&1
computing=""
grep -E '^(  [a-z-]+ at|Measured|Only)' "$tmp/compute.log" | sed 's/^/# /'
PORT=0 "$nbi" serve --no-worker >"$tmp/serve.log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -nE 's|^Listening on: http://127.0.0.1:([0-9]+)$|\1|p' "$tmp/serve.log")
  [[ -n $port ]] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
[[ -n $port ]] || { echo "FAIL serve did not start"; cat "$tmp/serve.log"; exit 1; }
set +e
NBI_BASE_URL="http://127.0.0.1:$port" NBI_DEMO_QUERY="$DEMO_QUERY" NBI_TEST_CITY="$DEMO_SLUG" \
  node "$src/tests/browser/demo_view.mjs"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then echo "--- serve log (tail)"; tail -n 40 "$tmp/serve.log"; fi
exit $rc
