# What scripts/demo.sh computes and the map view it opens, sourced by it and by the browser
# test of that view (tests/browser/demo_view.sh), so that the two cannot drift apart.
#   demo_compute NBI FILE SLUG NAME BBOX STEP OUT_DIR
# Imports FILE into the store of DATABASE_URL, adds the city, computes DEMO_MODELS at STEP,
# exports each model's cells to OUT_DIR/SLUG-MODEL-heatmap.{geojson,csv}, measures which model
# shows most of the area and sets DEMO_QUERY: the map page's query string that opens on it.

# The demo's extract (scripts/demo_data.sh fetches it), its city and step.
DEMO_EXTRACT=liechtenstein-2013-08-03.osm.pbf
DEMO_SLUG=liechtenstein
DEMO_BBOX=47.04,9.47,47.28,9.64
DEMO_STEP=0.001
# The models the demo computes: the seed's grocery model and the blend of groceries,
# restaurants and parks.
DEMO_MODELS=(grocery blend)
# Below this share of cells scoring 30 or more (the map leaves the others transparent) the map
# opens with the cells below 30 shown faintly (low=1), so that all of the computed area shows.
# On the Liechtenstein extract no model reaches 1 % (docs/demo.md has the measurements).
DEMO_FAINT_BELOW=50

demo_compute() {
  local nbi=$1 file=$2 slug=$3 name=$4 bbox=$5 step=$6 out=$7 m share
  echo; echo "== import"; "$nbi" import "$file"
  echo; echo "== city"; "$nbi" cities add "$slug" --name "$name" --bbox "$bbox"
  echo; echo "== schedule"
  for m in "${DEMO_MODELS[@]}"; do
    "$nbi" schedule --city "$slug" --grid-step "$step" --model "$m" --reset --force
  done
  echo; echo "== process"; "$nbi" process-jobs
  echo; echo "== result"
  # Which model shows most of the area: the share of its cells that score 30 or more,
  # measured on the cells just computed.
  local best="" best_share=-1
  for m in "${DEMO_MODELS[@]}"; do
    "$nbi" export --city "$slug" --grid-step "$step" --model "$m" --out "$out/$slug-$m-heatmap.geojson"
    "$nbi" export --city "$slug" --grid-step "$step" --model "$m" --out "$out/$slug-$m-heatmap.csv" >/dev/null
    share=$(awk -F, 'NR > 1 { n++; if ($3 >= 30) k++ } END { printf "%.2f", n ? 100 * k / n : 0 }' \
      "$out/$slug-$m-heatmap.csv")
    echo "  $m at $step: $share % of the cells score 30 or more"
    if awk -v a="$share" -v b="$best_share" 'BEGIN { exit !(a > b) }'; then best=$m best_share=$share; fi
  done
  echo "Measured: $best shows most of the area at $step ($best_share % of its cells are coloured); the map opens on it."
  DEMO_QUERY="?model=$best&gridStep=$step"
  if awk -v a="$best_share" -v b="$DEMO_FAINT_BELOW" 'BEGIN { exit !(a < b) }'; then
    DEMO_QUERY+="&low=1"
    echo "Only $best_share % of its cells are coloured: the map opens with the cells below 30 shown"
    echo "faintly (low=1, the legend's \"< 30: show faintly\"), so all of the computed area shows."
  fi
}
