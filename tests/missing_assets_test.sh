#!/usr/bin/env bash
# A build that cannot find what it embeds says so at configure time, naming the fix:
# Leaflet missing (NBI_LEAFLET_DIR pointing at an empty directory), and pages missing (a copy
# of the tree without web/public).
#   tests/missing_assets_test.sh SOURCE_DIR
set -uo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
expect() {  # expect NAME WANT_TEXT CMAKE_ARGS...: configure fails and prints WANT_TEXT
  local name=$1 want=$2
  shift 2
  if cmake "$@" -DNBI_BUILD_TESTS=OFF -DNBI_BUILD_BENCH=OFF >"$tmp/out" 2>&1; then
    failed=$((failed + 1)); echo "FAIL $name: configure succeeded"
  elif ! grep -q "$want" "$tmp/out"; then
    failed=$((failed + 1)); echo "FAIL $name: no '$want' in:"; cat "$tmp/out"
  else
    passed=$((passed + 1)); echo "ok   $name"
  fi
}
mkdir -p "$tmp/empty"
expect "no Leaflet" "Leaflet is missing, so the map page cannot be embedded: install Debian's" \
  -S "$src" -B "$tmp/b1" -DNBI_LEAFLET_DIR="$tmp/empty"
grep -q "apt-get install libjs-leaflet" "$tmp/out" && grep -q "npm ci --prefix web" "$tmp/out" &&
  { passed=$((passed + 1)); echo "ok   the message names both ways to get Leaflet"; } ||
  { failed=$((failed + 1)); echo "FAIL the message does not name apt-get and npm ci"; }
mkdir -p "$tmp/tree"
cp -r "$src/CMakeLists.txt" "$src/cmake" "$src/tests" "$tmp/tree/"
leaflet=/usr/share/javascript/leaflet
[[ -f $leaflet/leaflet.js ]] || leaflet=$src/web/node_modules/leaflet/dist
expect "no pages" "The pages to embed are missing" -S "$tmp/tree" -B "$tmp/b2" \
  -DNBI_LEAFLET_DIR="$leaflet"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
