#!/usr/bin/env bash
# Installs the Debian packages the build and tests need (only those missing), then builds.
#   scripts/setup.sh            install + build into ./build
#   NBI_BUILD_DIR=dir           build elsewhere
#   NBI_SKIP_BUILD=1            install only
#   NBI_TARGETS='a b'           build only these targets
#   NBI_BUILD_JOBS=N            parallel compile jobs (default: the number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  libpq-dev libsqlite3-dev libboost-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev
  libfmt-dev libpng-dev
  libcli11-dev libosmium2-dev libprotozero-dev zlib1g-dev libbz2-dev libexpat1-dev
  libgtest-dev libgmock-dev postgresql xz-utils ca-certificates curl chromium
  clang-14 libclang-rt-14-dev llvm-14
  libjs-leaflet python3-jsonschema dpkg-dev file faketime locales
)
# libjs-leaflet: the Leaflet the build embeds into the binary (web/node_modules is the fallback);
# python3-jsonschema: tests/openapi_check.py validates real API answers against web/openapi.json;
# dpkg-dev (dpkg-shlibdeps: the package's dependencies) and file: `cpack -G DEB` and
# tests/package_test.sh; faketime: the clock-skew tests (recovery_test, ClockSkewTest); locales:
# a German locale, so a test can run PostgreSQL with messages that are not in English.
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
fi

if ! grep -qi '^de_DE\.utf-\?8$' <<<"$(locale -a 2>/dev/null)"; then
  echo "setup: making the de_DE.UTF-8 locale (database_truth_test: a server not speaking English)"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO localedef -i de_DE -f UTF-8 de_DE.UTF-8 || echo "setup: localedef failed; that test will skip"
fi

# Front-end packages from the lock file (the browser-test driver, and Leaflet for builds without
# libjs-leaflet).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
if [[ ! -f web/node_modules/.package-lock.json || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ -z "${NBI_SKIP_BUILD:-}" ]]; then
  dir=${NBI_BUILD_DIR:-build}
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  # NBI_TARGETS: build only these (the demo needs just the binary); default everything.
  targets=()
  for t in ${NBI_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$dir" -j"${NBI_BUILD_JOBS:-$(nproc)}" "${targets[@]}"
fi
