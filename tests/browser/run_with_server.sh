#!/usr/bin/env bash
# Browser tests against a real `nearbyindex serve` on a small generated city whose heatmap
# is computed first: headless Chromium (Debian) driven by playwright-core. The server is a
# copy of the binary alone in an empty directory (no web/ beside it, no --web-dir).
#   tests/browser/run_with_server.sh BUILD_DIR
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
nbi=$build/nearbyindex
if [[ ! -x /usr/bin/chromium || ! -d $src/web/node_modules/playwright-core ]]; then
  echo "browser tests need /usr/bin/chromium and web/node_modules (scripts/setup.sh installs both)" >&2
  exit 1
fi
tmp=$(mktemp -d)
server=""
server2=""
cleanup() {
  for p in $server $server2; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
export DATABASE_URL="sqlite:$tmp/browser.db" WORKER_POLL_INTERVAL=1000 WORKER_CHUNK_SIZE=2000
unset NBI_TEST_PG_URL
line=$("$nbi" generate-city --out "$tmp/city.csv")
bbox=$(sed -E 's/.* POIs in ([^ ]+), written.*/\1/' <<<"$line")
"$nbi" import "$tmp/city.csv" >/dev/null
# A street grid over the city: the map's own base layer (/tiles/streets) draws it.
node "$src/tests/browser/street_grid.mjs" "$bbox" "$tmp/streets.osm" >/dev/null
"$nbi" import "$tmp/streets.osm" >/dev/null
"$nbi" cities add generated --name "Generated city" --bbox "$bbox" >/dev/null
"$nbi" schedule --city generated --grid-step 0.0025 >/dev/null
"$nbi" schedule --city generated --grid-step 0.001 >/dev/null
# Over a million cells (the city and its surroundings at 0.0005): the zoomed-out tile check.
IFS=, read -r a b c d <<<"$bbox"
big=$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
  'BEGIN { printf "%.4f,%.4f,%.4f,%.4f", a - 0.12, b - 0.14, c + 0.12, d + 0.14 }')
"$nbi" schedule --bbox "$big" --grid-step 0.0005 >/dev/null
# An area far from every POI (all its cells below 30), of its own model: the outline check.
low=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f,%.4f,%.4f,%.4f", a - 0.6, b, a - 0.56, b + 0.06 }')
"$nbi" cities add nowhere --name "Nowhere" --bbox "$low" >/dev/null
"$nbi" schedule --city nowhere --grid-step 0.001 --model blend >/dev/null
"$nbi" process-jobs >/dev/null
# The server is a copy of the binary started in an empty directory, without NBI_WEB_DIR or
# --web-dir: its pages and Leaflet must come from the binary itself.
mkdir "$tmp/alone"
cp "$nbi" "$tmp/alone/nearbyindex"
unset NBI_WEB_DIR
port=$(( 30000 + RANDOM % 20000 ))
(cd "$tmp/alone" && PORT=$port exec ./nearbyindex serve) >"$tmp/serve.log" 2>&1 &
server=$!
# A second server with NBI_TILE_URL pointed at a tile server the test runs: that layer
# replaces the streets.
port2=$(( port + 1 )) tile_port=$(( port + 2 ))
(cd "$tmp/alone" && PORT=$port2 NBI_TILE_URL="http://127.0.0.1:$tile_port/{z}/{x}/{y}.png" \
  exec ./nearbyindex serve --no-worker) >"$tmp/serve2.log" 2>&1 &
server2=$!
for p in $port $port2; do
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
done
if [[ $(ls -A "$tmp/alone") != nearbyindex ]]; then
  echo "FAIL the server's directory holds more than the binary: $(ls -A "$tmp/alone")"; exit 1
fi
grep -q '^Web pages: embedded' "$tmp/serve.log" || { echo "FAIL serve does not say its pages are embedded"; cat "$tmp/serve.log"; exit 1; }
IFS=, read -r a b c d <<<"$bbox"
centre=$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN { printf "%.4f,%.4f", (a+c)/2, (b+d)/2 }')
set +e
NBI_BASE_URL="http://127.0.0.1:$port" NBI_TEST_CITY=generated NBI_TEST_POINT="$centre" \
  NBI_TILE_URL_BASE="http://127.0.0.1:$port2" NBI_TEST_TILE_PORT=$tile_port \
  node "$src/tests/browser/run.mjs"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then echo "--- serve log (tail)"; tail -n 40 "$tmp/serve.log"; fi
exit $rc
