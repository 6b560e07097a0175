#!/usr/bin/env bash
# The layout check can fail: it passes on the tree, and on a copy of src/ and app/ it names each
# deliberate break put into the copy (a back-edge include across layers, the store including
# the jobs layer above it as it once did by exemption, a folder outside the layer list).
# Usage: tests/check_layout_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
check=$src/tests/check_layout.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
fail() { echo "FAIL: $*"; bad=1; }

"$check" "$src" >"$tmp/out" || fail "the tree itself fails the check: $(cat "$tmp/out")"

# A fresh copy (not a git checkout: the check lists the files with find there).
fresh() {
  rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
  cp -r "$src/src" "$src/app" "$tmp/tree/"
  mkdir "$tmp/tree/tests" "$tmp/tree/bench"
}
fresh
"$check" "$tmp/tree" >"$tmp/out" || fail "an untouched copy fails the check: $(cat "$tmp/out")"

# expect_break FILE LINE EXPECTED: FILE (in the copy) gets LINE first; the check must fail and
# print EXPECTED.
expect_break() {
  fresh
  mkdir -p "$(dirname "$tmp/tree/$1")"
  { echo "$2"; [[ -f $tmp/tree/$1 ]] && cat "$tmp/tree/$1"; } >"$tmp/new" || true
  mv "$tmp/new" "$tmp/tree/$1"
  if "$check" "$tmp/tree" >"$tmp/out"; then
    fail "the check passes with '$2' in $1"
  elif ! grep -qF -- "$3" "$tmp/out"; then
    fail "the check fails with '$2' in $1 but does not say '$3': $(cat "$tmp/out")"
  else
    echo "ok: '$2' in $1 -> $(grep -F -- "$3" "$tmp/out")"
  fi
}
expect_break src/geo/geo.h '#include "store/store.h"' \
  'layout: geo/ includes the higher layer store/: src/geo/geo.h:1:#include "store/store.h"'
expect_break src/store/job.h '#include "jobs/service.h"' \
  'layout: store/ includes the higher layer jobs/: src/store/job.h:1:#include "jobs/service.h"'
expect_break src/poi/import.h '#include "walk/walk_graph.h"' \
  'layout: poi/ includes the higher layer walk/: src/poi/import.h:1:#include "walk/walk_graph.h"'
expect_break src/extra/extra.h '#pragma once' 'layout: src/extra/ is in no layer'
exit $bad
