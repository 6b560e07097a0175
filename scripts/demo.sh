#!/usr/bin/env bash
# The main job, on the embedded SQLite default: install + build, import a real OSM extract,
# add its city, schedule its grocery heatmap, process it with visible progress, print the
# result summary and where to see it.
#   scripts/demo.sh                 Liechtenstein (real extract from Debian's osm2pgsql sources)
#   scripts/demo.sh FILE SLUG BBOX  any extract: e.g. porto.osm.pbf porto 41.12,-8.63,41.16,-8.59
set -euo pipefail
cd "$(dirname "$0")/.."
NBI_TARGETS=nearbyindex scripts/setup.sh
nbi=build/nearbyindex
unset DATABASE_URL          # the embedded default: ./nearbyindex.db
export WORKER_CHUNK_SIZE=${WORKER_CHUNK_SIZE:-2000}
mkdir -p data

file=${1:-}; slug=${2:-liechtenstein}; bbox=${3:-47.04,9.47,47.28,9.64}; name=${slug^}
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

step=${GRID_STEP:-0.001}
echo; echo "== import"; $nbi import "$file"
echo; echo "== city"; $nbi cities add "$slug" --name "$name" --bbox "$bbox"
echo; echo "== schedule"; $nbi schedule --city "$slug" --grid-step "$step" --reset --force
echo; echo "== process"; $nbi process-jobs
echo; echo "== result"
$nbi export --city "$slug" --grid-step "$step" --out "data/$slug-heatmap.geojson"
$nbi export --city "$slug" --grid-step "$step" --out "data/$slug-heatmap.csv" >/dev/null
cat <<EOM

Where to see it:
  - the cells:  data/$slug-heatmap.geojson and data/$slug-heatmap.csv, and table heat_cells of ./nearbyindex.db
  - the jobs:   $nbi jobs
  - the map:    $nbi serve   then open http://127.0.0.1:8080/ (heatmap) and http://127.0.0.1:8080/jobs
EOM
