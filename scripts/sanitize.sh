#!/usr/bin/env bash
# The test suite under clang 14's sanitizers, each in a build directory of its own:
#   scripts/sanitize.sh asan [ctest args...]   AddressSanitizer + UndefinedBehaviorSanitizer
#       (every UB report is fatal; leaks are reported) over every test, both stores (build-asan)
#   scripts/sanitize.sh asan|tsan --build-only   the build alone
#   scripts/sanitize.sh tsan [ctest args...]   ThreadSanitizer over the store, worker (with the
#       worker timers of jobs_test) and HTTP suites, both stores, each test twice
#       (NBI_TSAN_REPEAT=N: N times) (build-tsan); known-benign reports would be suppressed in
#       tests/tsan.supp, one comment per entry
# PostgreSQL as in scripts/test.sh (throwaway cluster; NBI_REQUIRE_PG=1 makes its absence fatal).
# Sanitizer reports go to files (log_path), so those of the processes the tests start (the
# `nearbyindex serve`, worker and CLI children, whose exit codes not every test checks) are
# seen too: after ctest, any report fails the run and is printed.
# NBI_BUILD_JOBS=N: parallel compile jobs (default: the number of cores).
# Ends with "MODE: N passed, N failed" (tests; a report of a child process counts as a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case $mode in
  asan | tsan) shift ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [ctest args...]" >&2; exit 2 ;;
esac
dir=build-$mode
t0=$SECONDS

NBI_SKIP_BUILD=1 scripts/setup.sh
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $cxx ]]; then echo "sanitize: no clang++ (scripts/setup.sh installs clang-14)" >&2; exit 1; fi
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNBI_SANITIZE="$mode" -DNBI_BUILD_BENCH=OFF >/dev/null

ctest_args=()
if [[ $mode == tsan ]]; then
  # The suites with threads of our own: the stores (pool, 8 claiming threads), the worker, and
  # `serve` (Asio I/O threads, handler pool, embedded worker), the metrics endpoint of `worker`,
  # several parts of one job on one worker sharing its POI index (job_parts_test), small jobs
  # through the local queue of a job thread (local_queue_test), the walking searches shared by
  # one thread per core (walk_job_test).
  # ctest labels = suite names.
  suites=(store_conformance_test city_store_test poi_store_test cell_store_test job_queue_test
          sqlite_db_test jobs_test worker_test http_api_test http_test http_jobs_test
          http_front_door_test ops_test job_parts_test local_queue_test walk_job_test)
  export NBI_TARGETS="nearbyindex ${suites[*]}"
  # Each test twice (NBI_TSAN_REPEAT): a race shows only when the threads meet.
  ctest_args=(-L "^($(IFS='|'; echo "${suites[*]}"))\$" --repeat "until-fail:${NBI_TSAN_REPEAT:-2}")
else
  # Everything. browser_pages runs too: the sanitized `serve` answers an uninstrumented Chromium.
  unset NBI_TARGETS
fi

# The install check again (quick), then the build; compiler errors still reach stderr.
if ! NBI_BUILD_DIR=$dir scripts/setup.sh >/dev/null; then
  echo "$mode: the build failed"
  echo "$mode: 0 passed, 1 failed"
  exit 1
fi
# --build-only: the build and nothing else (scripts/stress_suite.sh builds before it loads the
# cores).
if [[ ${1:-} == --build-only ]]; then echo "$mode: built in $((SECONDS - t0))s"; exit 0; fi
t_build=$((SECONDS - t0))

logs=$PWD/$dir/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
# llvm-symbolizer (llvm-14) turns addresses into file:line in the reports.
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer ||
             echo /usr/lib/llvm-14/bin/llvm-symbolizer)
export ASAN_SYMBOLIZER_PATH=$symbolizer TSAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="log_path=$logs/tsan:suppressions=$PWD/tests/tsan.supp:second_deadlock_stack=1:halt_on_error=0:print_suppressions=0"

out=$(mktemp)
set +e
NBI_BUILD_DIR=$dir scripts/test.sh "${ctest_args[@]}" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
t_tests=$((SECONDS - t0 - t_build))
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n1)
rm -f "$out"
passed=${counts%% passed*}; passed=${passed:-0}
failed=${counts##*passed, }; failed=${failed%% failed*}; failed=${failed:-0}

((rc != 0 && failed == 0)) && failed=1  # it stopped before or outside ctest (a build error)
reports=$(find "$logs" -type f | sort)
nreports=0
if [[ -n $reports ]]; then
  nreports=$(wc -l <<<"$reports")
  echo "--- $mode: $nreports sanitizer report file(s) (tests and the processes they started):"
  while IFS= read -r f; do echo "=== $f"; head -n 80 "$f"; done <<<"$reports"
  rc=1
fi
echo "$mode: build ${t_build}s, tests ${t_tests}s, sanitizer reports: $nreports"
echo "$mode: $passed passed, $((failed + nreports)) failed"
exit "$rc"
