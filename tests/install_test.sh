#!/usr/bin/env bash
# `cmake --install` of the build into a temporary prefix (a stripped binary and its debug
# info in a separate file), then the installed binary started
# from another directory (no web/ anywhere near it, no --web-dir): every page, Leaflet and the
# OpenAPI document are answered from the binary, byte for byte what the source tree holds.
#   tests/install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
tmp=$(mktemp -d)
server=""
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
nbi=$tmp/prefix/bin/nearbyindex
check "the binary is installed" test -x "$nbi"
# Stripped, its debug info in a separate file that its .gnu_debuglink names.
debug=$tmp/prefix/lib/debug$tmp/prefix/bin/nearbyindex.debug
check "the installed binary is stripped" bash -c "file -b '$nbi' | grep -q ', stripped' && ! objdump -h '$nbi' | grep -q debug_info"
check "its debug info is installed beside it (lib/debug/PREFIX/bin/nearbyindex.debug)" bash -c "objdump -h '$debug' | grep -q debug_info"
check "the binary's debuglink names nearbyindex.debug" bash -c "objcopy --dump-section .gnu_debuglink=$tmp/link '$nbi' && grep -q nearbyindex.debug $tmp/link"
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
unset NBI_WEB_DIR
export DATABASE_URL="sqlite:$tmp/install.db"
# Port 0: the server picks a free port and names it in its banner.
PORT=0 "$nbi" serve --no-worker >"$tmp/serve.log" 2>&1 &
server=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -nE 's|^Listening on: http://127.0.0.1:([0-9]+)$|\1|p' "$tmp/serve.log")
  [[ -n $port ]] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
if [[ -z $port ]] || ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "FAIL the installed binary did not start serving within 30 s; its log:"
  cat "$tmp/serve.log"
  echo "1 passed, 1 failed"
  exit 1
fi
base="http://127.0.0.1:$port"
same() {  # same PATH FILE: the answer is the file's bytes, with status 200
  curl -fsS "$base$1" -o "$tmp/got" && cmp -s "$tmp/got" "$2"
}
type_of() { curl -fsS -o /dev/null -w '%{content_type}' "$base$1"; }
check "/ is web/public/index.html" same / "$src/web/public/index.html"
check "/jobs is web/public/jobs.html" same /jobs "$src/web/public/jobs.html"
for f in "$src"/web/public/*; do
  check "/static/$(basename "$f") is its file" same "/static/$(basename "$f")" "$f"
done
check "/api/openapi.json is web/openapi.json" same /api/openapi.json "$src/web/openapi.json"
check "/api/openapi.json is JSON" test "$(type_of /api/openapi.json)" = application/json
check "/vendor/leaflet/leaflet.js is Leaflet" bash -c "curl -fsS '$base/vendor/leaflet/leaflet.js' | head -c 400 | grep -q Leaflet"
check "/vendor/leaflet/leaflet.css is CSS" test "$(type_of /vendor/leaflet/leaflet.css)" = "text/css; charset=utf-8"
check "/vendor/leaflet/images/layers.png is a PNG" bash -c "curl -fsS '$base/vendor/leaflet/images/layers.png' | head -c 4 | grep -q PNG"
check "an unknown page is 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/static/nope.js")" = 404
check "the banner says the pages are embedded" grep -q '^Web pages: embedded' "$tmp/serve.log"
check "nothing was written beside the binary's working directory" test -z "$(ls -A "$tmp/elsewhere")"
check "--version works from the installed binary" bash -c "'$nbi' --version | grep -q 'schema'"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
