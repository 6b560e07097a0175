#!/usr/bin/env bash
# The configuration table of docs/configuration.md cannot drift from the binary: every
# environment variable the built binary's help names (`--help-all`, and `--help` of each
# command) is exactly one row of the table, and every row is a variable the binary names or
# one of the scripts' and tests' variables listed below.
#   tests/config_doc_test.sh SOURCE_DIR BINARY
set -euo pipefail
src=$1 bin=$2
doc=$src/docs/configuration.md

# Read by scripts/ and tests/ only (docs/configuration.md says which).
script_only=(GRID_STEP NBI_BUILD_DIR NBI_SKIP_BUILD NBI_TARGETS NBI_BUILD_JOBS NBI_TEST_JOBS
  NBI_REQUIRE_PG NBI_REQUIRE_OSM NBI_TEST_PG_URL NBI_TEST_SEED NBI_OSM_DATA_DIR
  NBI_TEST_SHOW_SERVER_LOG NBI_CHROMIUM NBI_TSAN_REPEAT NBI_FUZZ_JOBS NBI_FUZZ_SECONDS
  PG_BINDIR PGTEST_PORT PGTEST_PARENT PGTEST_NO_CACHE PGTEST_EXTRA_CONF)

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
  printf '%s\n' "${script_only[@]}" | grep -qx "$v" && continue
  bad "row $v: neither the binary's help nor the scripts' list names it"
done

echo "config_doc_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
