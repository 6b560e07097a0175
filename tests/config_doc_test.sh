#!/usr/bin/env bash
# The configuration table of docs/configuration.md cannot drift from the binary: every
# environment variable the built binary's help names (`--help-all`, and `--help` of each
# command) is exactly one row of the table, and every row is a variable the binary names or
# one of the scripts' and tests' variables listed below.
#   tests/config_doc_test.sh SOURCE_DIR BINARY
set -euo pipefail
src=$1 bin=$2
doc=$src/docs/configuration.md

# Read by scripts/ and tests/ only (docs/configuration.md says which): found in the sources,
# so a new one cannot go without its row. C++ getenv("…"), JavaScript process.env.…, and in
# shell the project's prefixes (NBI_, PG_, PGTEST_); GRID_STEP has none. Variables of other
# tools (the sanitizers' options) are theirs to document.
mapfile -t script_only < <({
  grep -rhoE 'getenv\("[A-Z][A-Z0-9_]*"\)' "$src/tests" "$src/bench" | sed -E 's/getenv\("(.*)"\)/\1/'
  grep -rhoE 'process\.env\.[A-Z][A-Z0-9_]*' "$src/tests" "$src/scripts" | sed 's/process\.env\.//'
  grep -rhoE '\$\{?(NBI|PG|PGTEST)_[A-Z0-9_]+' "$src/scripts" "$src/tests" "$src/.ci/run" \
    --include='*.sh' --include=run | sed -E 's/^\$\{?//'
  echo GRID_STEP
} | grep -vxE '(ASAN|TSAN|UBSAN|LSAN)_OPTIONS' | sort -u | grep -vxF "$("$bin" --help-all | grep -oE 'Env:[A-Z][A-Z0-9_]*' | cut -d: -f2)")
((${#script_only[@]} >= 20)) && echo "ok   found ${#script_only[@]} variables the scripts and tests read: ${script_only[*]}" ||
  { echo "FAIL found only ${#script_only[@]} script and test variables (is the search broken?)"; exit 1; }

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

[[ -f $doc ]] || { echo "FAIL $doc is missing"; exit 1; }
[[ -x $bin ]] || { echo "FAIL $bin is missing: build the nearbyindex target first"; exit 1; }

# The binary's variables: CLI11 prints each option's as "(Env:NAME)".
help=$("$bin" --help-all)
commands=$(awk '/^Subcommands:/ {on = 1; next} on && /^[a-z-]+$/ {print}' <<<"$help")
[[ -n $commands ]] || { echo "FAIL no command found in --help-all"; exit 1; }
for c in $commands; do help+=$'\n'$("$bin" "$c" --help); done
binary_vars=$(grep -oE 'Env:[A-Z][A-Z0-9_]*' <<<"$help" | cut -d: -f2 | sort -u)
n=$(wc -w <<<"$binary_vars")
((n >= 20)) && ok "the binary's help names $n environment variables" ||
  bad "the binary's help names only $n environment variables (is CLI11's Env: gone?)"

# The table's rows: lines "| `NAME` | ..." (one variable per row).
rows=$(grep -oE '^\| `[A-Z][A-Z0-9_]*` \|' "$doc" | sed -E 's/^\| `([A-Z0-9_]+)` \|$/\1/')
[[ $(grep -c '^| variable | read by | meaning | default |$' "$doc") -eq 1 ]] &&
  ok "docs/configuration.md has one configuration table" ||
  bad "docs/configuration.md must have exactly one table headed | variable | read by | meaning | default |"

for v in $binary_vars; do
  k=$(grep -cx "$v" <<<"$rows" || true)
  [[ $k -eq 1 ]] && ok "$v: one row" || bad "$v (named by the binary's help) has $k rows in docs/configuration.md"
done
for v in "${script_only[@]}"; do
  k=$(grep -cx "$v" <<<"$rows" || true)
  [[ $k -eq 1 ]] && ok "$v (scripts/tests): one row" ||
    bad "$v (a scripts/tests variable) has $k rows in docs/configuration.md"
  grep -qx "$v" <<<"$binary_vars" && bad "$v is listed as script-only but the binary names it"
done
for v in $(sort -u <<<"$rows"); do
  grep -qx "$v" <<<"$binary_vars" && continue
  # A here-string, not printf | grep -q: under pipefail, grep -q quitting at the first match
  # can kill printf with SIGPIPE, and the pipeline then reports a miss (CI failed on it).
  grep -qx "$v" <<<"$(printf '%s\n' "${script_only[@]}")" && continue
  bad "row $v: neither the binary's help nor the scripts' list names it"
done

echo "config_doc_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
