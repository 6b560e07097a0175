#!/usr/bin/env bash
# The Debian package of the build: `cpack -G DEB` into a temporary directory, then its
# contents (the binary, both systemd units, /etc/default/nearbyindex with every setting of
# the binary's --help, the maintainer scripts), the binary in it stripped and running
# --version, its dependencies (from dpkg-shlibdeps), and `systemd-analyze verify` of the
# units where systemd is installed (skipped, saying so, where it is not).
#   tests/package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL $tool is missing (apt-get install dpkg-dev file; cpack comes with cmake)"; exit 1
  fi
done
if [[ ! -x $build/nearbyindex.stripped ]]; then
  echo "FAIL $build/nearbyindex.stripped is missing: build the nearbyindex target first"; exit 1
fi

if ! (cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1); then
  echo "FAIL cpack -G DEB:"; cat "$tmp/cpack.log"; exit 1
fi
deb=$(ls "$tmp"/out/nearbyindex_*.deb 2>/dev/null | head -n1)
check "cpack built one .deb ($(basename "${deb:-none}"))" test -s "${deb:-/nonexistent}"
[[ -n $deb ]] || { echo "$passed passed, $failed failed"; exit 1; }
dpkg-deb -c "$deb" >"$tmp/contents"
echo "--- contents"; awk '{print $1, $2, $6}' "$tmp/contents"
has() { grep -qE " \./$1\$" "$tmp/contents"; }
check "/usr/bin/nearbyindex" has usr/bin/nearbyindex
check "nearbyindex.service" has usr/lib/systemd/system/nearbyindex.service
check "nearbyindex-worker@.service" has 'usr/lib/systemd/system/nearbyindex-worker@\.service'
check "/etc/default/nearbyindex" has etc/default/nearbyindex
check "no debug file in the package" bash -c "! grep -q '\.debug' '$tmp/contents'"
check "/usr/bin/nearbyindex is executable by all" bash -c "grep -E ' \./usr/bin/nearbyindex$' '$tmp/contents' | grep -q '^-rwxr-xr-x'"

dpkg-deb -x "$deb" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/control"
bin=$tmp/root/usr/bin/nearbyindex
check "the binary is stripped (file says so)" bash -c "file -b '$bin' | grep -q ', stripped'"
check "the binary has no .debug_info section" bash -c "! objdump -h '$bin' | grep -q debug_info"
check "the binary names its debug file (.gnu_debuglink)" bash -c "objdump -h '$bin' | grep -q gnu_debuglink"
size=$(stat -c %s "$bin")
check "the binary is small ($((size / 1024 / 1024)) MB, under 30 MB)" test "$size" -lt $((30 * 1024 * 1024))
check "the packaged binary runs --version" bash -c "'$bin' --version | grep -q 'nearbyindex'"
check "its version is the package's" bash -c "'$bin' --version | grep -qF \"\$(dpkg-deb -f '$deb' Version)\""

depends=$(dpkg-deb -f "$deb" Depends)
echo "--- Depends: $depends"
for lib in libc6 libstdc++6 libpq5 libsqlite3-0 libpng16-16 adduser; do
  check "depends on $lib" bash -c "grep -qE '(^|, )${lib//+/\\+}( |,|\$)' <<<'$depends'"
done
for f in postinst prerm postrm conffiles; do check "control file $f" test -s "$tmp/control/$f"; done
check "conffiles names /etc/default/nearbyindex" grep -qx /etc/default/nearbyindex "$tmp/control/conffiles"
check "postinst creates the nearbyindex system user" grep -q 'adduser --system --group --home /var/lib/nearbyindex' "$tmp/control/postinst"
check "postinst creates /var/lib/nearbyindex for it" grep -q 'install -d -o nearbyindex -g nearbyindex' "$tmp/control/postinst"
for unit in nearbyindex.service nearbyindex-worker@.service; do
  u=$tmp/root/usr/lib/systemd/system/$unit
  check "$unit runs /usr/bin/nearbyindex as nearbyindex in /var/lib/nearbyindex" bash -c \
    "grep -qx 'User=nearbyindex' '$u' && grep -qx 'WorkingDirectory=/var/lib/nearbyindex' '$u' && grep -qx 'EnvironmentFile=-/etc/default/nearbyindex' '$u'"
done
check "nearbyindex.service runs serve" grep -qx 'ExecStart=/usr/bin/nearbyindex serve' "$tmp/root/usr/lib/systemd/system/nearbyindex.service"
check "nearbyindex-worker@.service runs worker" grep -qx 'ExecStart=/usr/bin/nearbyindex worker' "$tmp/root/usr/lib/systemd/system/nearbyindex-worker@.service"

# The maintainer scripts for real: the package installed with dpkg -i, its service user
# creating its database, and purged, in a throwaway copy of this system: an overlay of / on a
# tmpfs, in a mount namespace of its own, so nothing reaches the machine. That needs root and
# a kernel that lets root mount there; elsewhere it is skipped, saying so.
installed() {  # installed DEB OUT: runs in the private mount namespace
  local d r=$2/mnt/root
  d=$2/mnt
  mkdir -p "$d" && mount -t tmpfs tmpfs "$d" && mkdir "$d/up" "$d/work" "$r" || return 1
  mount -t overlay overlay -o "lowerdir=/,upperdir=$d/up,workdir=$d/work" "$r" || return 1
  mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" || return 1
  cp "$1" "$r/nearbyindex.deb"
  run() { chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
  run getent passwd nearbyindex >"$2/passwd-before" || true
  run dpkg -i /nearbyindex.deb >"$2/dpkg-i.log" 2>&1 && echo ok >"$2/dpkg-i" || true
  run getent passwd nearbyindex >"$2/passwd" || true
  run stat -c '%U:%G %a' /var/lib/nearbyindex >"$2/state" 2>&1 || true
  # The service's user and directory, as the unit runs it: its default database is created.
  local ids
  ids=$(awk -F: '{print $3 ":" $4}' "$2/passwd")
  if [[ -n $ids ]]; then
    run chroot --userspec="$ids" / sh -c 'cd /var/lib/nearbyindex && nearbyindex migrate' \
      >"$2/migrate.log" 2>&1 || true
    run stat -c '%U:%G' /var/lib/nearbyindex/nearbyindex.db >"$2/db" 2>&1 || true
  fi
  run dpkg --purge nearbyindex >"$2/purge.log" 2>&1 && echo ok >"$2/purge" || true
  run getent passwd nearbyindex >"$2/passwd-after" || true
  for f in /var/lib/nearbyindex /usr/bin/nearbyindex; do [[ -e $r$f ]] && echo "$f" >>"$2/left"; done
  return 0
}
if [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null &&
    unshare -m --propagation private true 2>/dev/null; then
  mkdir "$tmp/install"
  export -f installed
  if unshare -m --propagation private bash -c 'installed "$1" "$2"' _ "$deb" "$tmp/install" 2>"$tmp/install/err"; then
    i=$tmp/install
    check "(throwaway root) no nearbyindex user before the package" test ! -s "$i/passwd-before"
    check "(throwaway root) dpkg -i installs the package" test -s "$i/dpkg-i"
    check "(throwaway root) postinst made the system user nearbyindex: $(cat "$i/passwd")" \
      grep -qE '^nearbyindex:x:[0-9]+:[0-9]+:[^:]*:/var/lib/nearbyindex:/usr/sbin/nologin$' "$i/passwd"
    check "(throwaway root) /var/lib/nearbyindex is nearbyindex's, mode 750 ($(cat "$i/state"))" \
      grep -qx 'nearbyindex:nearbyindex 750' "$i/state"
    check "(throwaway root) the user creates its database there ($(cat "$i/db" 2>/dev/null))" \
      grep -qx 'nearbyindex:nearbyindex' "$i/db"
    check "(throwaway root) dpkg --purge removes it" test -s "$i/purge"
    check "(throwaway root) purge removes the user" test ! -s "$i/passwd-after"
    check "(throwaway root) purge removes the state and the binary$(sed 's/^/ (left: /;s/$/)/' "$i/left" 2>/dev/null)" \
      test ! -s "$i/left"
    if ((failed)); then
      for f in dpkg-i.log migrate.log purge.log; do echo "--- $f"; cat "$i/$f" 2>/dev/null || true; done
    fi
  else
    echo "skip the throwaway-root install: the overlay could not be mounted ($(head -n1 "$tmp/install/err"))"
  fi
else
  echo "skip the throwaway-root install: it needs root and a private mount namespace (unshare -m)"
fi

# Every environment variable the binary's --help names is in /etc/default/nearbyindex, commented.
vars=$("$bin" --help-all | grep -oE 'Env:[A-Z_]+' | cut -d: -f2 | sort -u)
missing=""
for v in $vars; do grep -qE "^#$v=" "$tmp/root/etc/default/nearbyindex" || missing+=" $v"; done
check "every variable of --help ($(wc -w <<<"$vars")) is in /etc/default/nearbyindex, commented${missing:+ (missing:$missing)}" test -z "$missing"
check "/etc/default/nearbyindex sets nothing (every line a comment)" bash -c "! grep -vE '^(#|$)' '$tmp/root/etc/default/nearbyindex'"

if command -v systemd-analyze >/dev/null; then
  # The units as installed: /usr/bin/nearbyindex is found through a root of the package.
  mkdir -p "$tmp/units"
  cp "$tmp"/root/usr/lib/systemd/system/* "$tmp/units/"
  sed -i "s|/usr/bin/nearbyindex|$bin|" "$tmp/units/"*
  cp "$tmp/units/nearbyindex-worker@.service" "$tmp/units/nearbyindex-worker@1.service"
  for unit in nearbyindex.service nearbyindex-worker@1.service; do
    out=$(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "./$unit" 2>&1) || true
    [[ -n $out ]] && echo "--- systemd-analyze verify $unit:" && echo "$out"
    # Complaints about the machine (no running systemd, no user database) are not the unit's.
    bad=$(grep -vE 'Failed to (connect|open|determine|set up)|System has not been booted|unprivileged|/etc/systemd|\bdbus\b|bus' <<<"$out" | grep -E "$unit|\.service" || true)
    check "systemd-analyze verify $unit${bad:+: $bad}" test -z "$bad"
  done
else
  echo "skip systemd-analyze verify: systemd is not installed here"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
