#!/usr/bin/env bash
# libFuzzer runs of the targets in tests/fuzz (clang 14, -fsanitize=fuzzer,address,undefined),
# built in build-fuzz with -DNBI_FUZZ=ON:
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60), all by default
# Targets: csv_import, geojson_import, osm_import (the importers), schedule_request (schedule
# bodies), http_query (query strings, percent-decoding, numbers, Host/Origin/bearer checks),
# duration (ParseDurationMs).
# Each run starts from tests/fuzz/corpus/<name> and tests/fuzz/regressions/<name> and grows
# build-fuzz/corpus/<name> (kept between runs on one machine). A crash, a sanitizer report, a
# failed property (NBI_FUZZ_CHECK), an input slower than 10 s or over 2 GB fails the target;
# libFuzzer saves the input as build-fuzz/artifacts/<name>/crash-* (or timeout-*, oom-*): fix
# the bug, then keep the input in tests/fuzz/regressions/<name>/ (replayed by ctest).
# NBI_FUZZ_JOBS=N: targets run at once (default: the number of cores); NBI_BUILD_JOBS=N:
# parallel compile jobs (default: the number of cores).
# Ends with "fuzz: N passed, N failed" (targets).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(csv_import geojson_import osm_import schedule_request http_query duration)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
dir=build-fuzz
t0=$SECONDS

# The longest input each target gets, a few times its largest seed; a dictionary of the
# format's tokens where it has some.
declare -A max_len=([csv_import]=4096 [geojson_import]=8192 [osm_import]=8192
                    [schedule_request]=2048 [http_query]=4096 [duration]=64)
declare -A dict=([geojson_import]=json.dict [schedule_request]=json.dict [osm_import]=osm.dict
                 [http_query]=http.dict)

NBI_SKIP_BUILD=1 scripts/setup.sh
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $cxx ]]; then echo "fuzz: no clang++ (scripts/setup.sh installs clang-14)" >&2; exit 1; fi
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNBI_FUZZ=ON \
  -DNBI_BUILD_TESTS=OFF -DNBI_BUILD_BENCH=OFF >/dev/null
if ! cmake --build "$dir" -j"${NBI_BUILD_JOBS:-$(nproc)}" --target fuzz_targets; then
  echo "fuzz: the build failed"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
fi
t_build=$((SECONDS - t0))

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer ||
             echo /usr/lib/llvm-14/bin/llvm-symbolizer)
export ASAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# Runs one target; its output goes to $dir/logs/<name>.log.
run_target() {
  local name=$1 src=tests/fuzz
  local work=$dir/corpus/$name artifacts=$dir/artifacts/$name log=$dir/logs/$name.log
  mkdir -p "$work" "$artifacts" "$dir/logs" "$src/regressions/$name"
  local args=(-max_total_time="$seconds" -max_len="${max_len[$name]}" -timeout=10
              -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
  [[ -n ${dict[$name]:-} ]] && args+=(-dict="$src/${dict[$name]}")
  local rc=0
  "$dir/tests/fuzz/${name}_fuzz" "${args[@]}" "$work" "$src/corpus/$name" "$src/regressions/$name" \
    >"$log" 2>&1 || rc=$?
  echo "$rc" >"$dir/logs/$name.rc"
}

parallel=${NBI_FUZZ_JOBS:-$(nproc)}
for name in "${targets[@]}"; do
  [[ -n ${max_len[$name]:-} ]] || { echo "fuzz: unknown target '$name'" >&2; exit 2; }
done
rm -f "$dir"/logs/*.rc
for name in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  echo "fuzz: $name for ${seconds}s"
  run_target "$name" &
done
wait

passed=0 failed=0
for name in "${targets[@]}"; do
  log=$dir/logs/$name.log
  if [[ $(cat "$dir/logs/$name.rc" 2>/dev/null) == 0 ]]; then
    passed=$((passed + 1))
    runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+' || echo '?')
    echo "fuzz: $name ok: $runs inputs, coverage $cov, corpus $(find "$dir/corpus/$name" -type f | wc -l) files"
  else
    failed=$((failed + 1))
    echo "fuzz: $name FAILED:"
    grep -vE '^#[0-9]+' "$log" | tail -n 60
    echo "fuzz: $name: inputs saved: $(ls "$dir/artifacts/$name" 2>/dev/null | tr '\n' ' ')" \
      "(keep each in tests/fuzz/regressions/$name/ once fixed)"
  fi
done
echo "fuzz: build ${t_build}s, fuzzing $((SECONDS - t0 - t_build))s (${seconds}s per target, $parallel at once)"
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
