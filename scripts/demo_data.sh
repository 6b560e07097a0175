#!/usr/bin/env bash
# Prints the path of the demo extract, fetching it when needed: the real Liechtenstein
# extract shipped in Debian's osm2pgsql source package (test data, ODbL, © OpenStreetMap
# contributors). Uses a private deb-src list; /etc/apt is left alone. Exits 1 when it can't.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_compute.sh
want=data/$DEMO_EXTRACT
if [[ -s $want ]]; then echo "$want"; exit 0; fi
mkdir -p data
# A checkout next to the shared workplace data needs no download.
if [[ -s ../shared/data/osm/$DEMO_EXTRACT ]]; then
  cp "../shared/data/osm/$DEMO_EXTRACT" "$want"; echo "$want"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/dl"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "deb-src http://deb.debian.org/debian $codename main" >"$tmp/sources.list"
opts=(-q -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp")
echo "demo data: fetching osm2pgsql's source package for its Liechtenstein extract" >&2
apt-get "${opts[@]}" update >&2
(cd "$tmp/dl" && apt-get "${opts[@]}" source --download-only osm2pgsql >&2)
tarball=$(ls "$tmp"/dl/osm2pgsql_*.orig.tar.* | head -n1)
tar -xf "$tarball" -C "$tmp" --wildcards "*/tests/data/$DEMO_EXTRACT"
mv "$tmp"/osm2pgsql-*/tests/data/"$DEMO_EXTRACT" "$want"
echo "$want"
