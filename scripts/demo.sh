#!/usr/bin/env bash
# The main job, on the embedded SQLite default: install + build, import a real OSM extract,
# add its city, schedule its grocery and blend heatmaps, process them with visible progress,
# measure which model shows most of the area, print the URL of the map on it and take a
# screenshot of that map (data/demo-map.png, when Chromium is installed).
#   scripts/demo.sh                 Liechtenstein (real extract from Debian's osm2pgsql sources)
#   scripts/demo.sh FILE SLUG BBOX  any extract: e.g. porto.osm.pbf porto 41.12,-8.63,41.16,-8.59
#   NBI_SKIP_BUILD=1                install only: use the build/nearbyindex already built
set -euo pipefail
cd "$(dirname "$0")/.."
NBI_TARGETS=nearbyindex scripts/setup.sh
nbi=build/nearbyindex
unset DATABASE_URL          # the embedded default: ./nearbyindex.db
export WORKER_CHUNK_SIZE=${WORKER_CHUNK_SIZE:-2000}
mkdir -p data
# The computation and the view it opens are shared with the browser test of that view.
source scripts/demo_compute.sh

file=${1:-}; slug=${2:-$DEMO_SLUG}; bbox=${3:-$DEMO_BBOX}; name=${slug^}
if [[ -z $file ]]; then
  if file=$(scripts/demo_data.sh); then
    echo "Demo data: $file (real OpenStreetMap extract, © OpenStreetMap contributors, ODbL)"
  else
    echo "NOTE: the real Liechtenstein extract could not be downloaded here;"
    echo "      falling back to a GENERATED city (synthetic POIs, not real data)."
    file=data/generated-city.csv
    line=$($nbi generate-city --out "$file")
    echo "$line"
    slug=generated; name="Generated city"
    bbox=$(sed -E 's/.* POIs in ([^ ]+), written.*/\1/' <<<"$line")
  fi
fi

step=${GRID_STEP:-$DEMO_STEP}
demo_compute "$nbi" "$file" "$slug" "$name" "$bbox" "$step" data
url="http://127.0.0.1:8080/$DEMO_QUERY"

# A screenshot of that map, for a machine without a browser: headless Chromium when installed.
shot=""
if [[ -x /usr/bin/chromium && -d web/node_modules/playwright-core ]] && command -v node >/dev/null; then
  echo; echo "== screenshot"
  log=$(mktemp)
  PORT=0 $nbi serve --no-worker >"$log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 1 200); do
    port=$(sed -nE 's|^Listening on: http://127.0.0.1:([0-9]+)$|\1|p' "$log")
    [[ -n $port ]] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  if [[ -n $port ]] && node scripts/demo_screenshot.mjs "http://127.0.0.1:$port/$DEMO_QUERY" data/demo-map.png; then
    shot=data/demo-map.png
  else
    echo "NOTE: the screenshot failed; the server's log:"; tail -n 20 "$log"
  fi
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  rm -f "$log"
else
  echo; echo "NOTE: no screenshot: Chromium (apt-get install chromium) and web/node_modules (npm ci --prefix web) are needed"
fi

cat <<EOM

Where to see it:
  - the cells:  data/$slug-{grocery,blend}-heatmap.geojson and .csv, and table heat_cells of ./nearbyindex.db
  - the jobs:   $nbi jobs
  - the map:    $nbi serve   then open $url
                (the jobs page: http://127.0.0.1:8080/jobs)${shot:+
  - a picture:  $shot (that map, taken with headless Chromium)}
EOM
