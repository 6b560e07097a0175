#!/usr/bin/env bash
# The suite under load: the plain, AddressSanitizer and ThreadSanitizer runs (the stages of
# .ci/run: scripts/test.sh, scripts/sanitize.sh asan|tsan) each N times in a row while one
# `yes` per core keeps every core busy. A test that leans on timing (a sleep instead of a wait,
# a bound too tight for a slow machine) fails here first.
#   scripts/stress_suite.sh [N]      N runs of each (default 3); the builds come first, unloaded
# Ends with "stress: N passed, N failed" (runs, not tests); the first failing run of each stage
# stops that stage. PostgreSQL as in scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
t0=$SECONDS
scripts/setup.sh >/dev/null || { echo "stress: the plain build failed"; echo "stress: 0 passed, 1 failed"; exit 1; }
for mode in asan tsan; do
  scripts/sanitize.sh "$mode" --build-only || { echo "stress: the $mode build failed"; echo "stress: 0 passed, 1 failed"; exit 1; }
done
echo "stress: builds done in $((SECONDS - t0))s; loading $(nproc) cores with yes"
pids=()
for _ in $(seq "$(nproc)"); do yes >/dev/null & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT

passed=0 failed=0 lines=()
for stage in test asan tsan; do
  for round in $(seq "$n"); do
    start=$SECONDS log=$(mktemp)
    if [[ $stage == test ]]; then NBI_SKIP_BUILD=1 scripts/test.sh >"$log" 2>&1; else scripts/sanitize.sh "$stage" >"$log" 2>&1; fi
    rc=$?
    counts=$(grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
    line=$(printf '%-5s run %d/%d: %-28s exit %d, %4ds, load %s' "$stage" "$round" "$n" \
      "${counts#*: }" "$rc" $((SECONDS - start)) "$(cut -d' ' -f1-3 /proc/loadavg)")
    echo "stress: $line"
    lines+=("$line")
    if ((rc == 0)); then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      grep -E -A30 'The following tests FAILED|sanitizer report' "$log" | head -60
      rm -f "$log"
      break
    fi
    rm -f "$log"
  done
done
echo "=== stress: ${n} runs per stage under $(nproc) x yes, $((SECONDS - t0))s"
printf '%s\n' "${lines[@]}"
echo "stress: $passed passed, $failed failed"
((failed == 0))
