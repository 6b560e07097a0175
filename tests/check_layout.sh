#!/usr/bin/env bash
# The layering and size rules of the tree (docs/architecture.md, "Layers"), checked by grep so they
# stay true. Usage: tests/check_layout.sh [source dir]. Prints each violation; exits 1 if any.
#   1. http/ includes nothing from worker/.
#   2. libpq and sqlite3 are included only under src/store/postgres and src/store/sqlite
#      (src/ and app/; tests and benchmarks may open raw connections).
#   3. The library reads no environment: no getenv/setenv under src/.
#   4. No source file over 700 lines.
#   5. No function over 80 lines, except test tables (a first line marked
#      "// layout: test table").
#   6. Lower layers include no higher one: common < geo < poi < score < walk < tiles < store
#      < jobs < worker < http, with no exemption: a type two layers need moves down (the walk
#      network's rows into common/, the job and part rows into store/).
set -uo pipefail
cd "${1:-$(dirname "$0")/..}"
fail=0
violation() { echo "layout: $*"; fail=1; }

while IFS= read -r hit; do violation "http/ must not include worker/: $hit"; done \
  < <(grep -rn '#include "worker/' src/http)

while IFS= read -r hit; do violation "libpq/sqlite3 outside src/store/{postgres,sqlite}: $hit"; done \
  < <(grep -rnE '#include <(libpq-fe|sqlite3)\.h>' src app |
      grep -vE '^src/store/(postgres|sqlite)/')

while IFS= read -r hit; do violation "the library reads the environment: $hit"; done \
  < <(grep -rnE '\b(getenv|setenv|secure_getenv)\b' src)

# Layers, lowest first; a file may include only its own layer and the ones before it.
layers=(common geo poi score walk tiles store jobs worker http)
# A folder of src/ outside the list would escape the check (walk/ once did).
for dir in src/*/; do
  dir=${dir%/} dir=${dir#src/}
  [[ " ${layers[*]} " == *" $dir "* ]] || violation "src/$dir/ is in no layer of the list above"
done
for ((i = 0; i < ${#layers[@]}; ++i)); do
  lower=${layers[$i]}
  for ((k = i + 1; k < ${#layers[@]}; ++k)); do
    higher=${layers[$k]}
    while IFS= read -r hit; do
      violation "$lower/ includes the higher layer $higher/: $hit"
    done < <(grep -rn "#include \"$higher/" "src/$lower")
  done
done

files=$(git ls-files 'src/*.cc' 'src/*.h' 'app/*.cc' 'app/*.h' 'tests/*.cc' 'tests/*.h' \
  'bench/*.cc' 2>/dev/null || find src app tests bench -name '*.cc' -o -name '*.h')
for f in $files; do
  [[ -f $f ]] || continue
  n=$(wc -l <"$f")
  ((n > 700)) && violation "$f has $n lines (at most 700)"
done

# Functions: a line at column 0 that opens a body ("...) {", "...) const {", TEST(...) {")
# up to the next line that is exactly "}" at column 0.
awk '
  FNR == 1 { start = 0; pending = "" }
  /^[A-Za-z].*\)( const)?( override)?( noexcept)?( -> [^{]*)? \{$/ && !/^(namespace|class|struct|enum|if|for|while|switch)/ {
    start = FNR; head = $0; pending = ""; next
  }
  # A signature over several lines: its first line at column 0, the "{" on a later one.
  /^[A-Za-z][^;{]*\([^;{]*$/ && !/^(namespace|class|struct|enum|#)/ { pending = $0; next }
  pending != "" && /^ +[^;]*\)( const)?( override)?( noexcept)?( -> [^{]*)? \{$/ {
    start = FNR; head = pending; pending = ""; next
  }
  pending != "" && /;$/ { pending = "" }
  start && /^\}/ {
    len = FNR - start - 1
    if (len > 80 && head !~ /layout: test table/) {
      printf "layout: %s:%d: function of %d lines (at most 80): %s\n", FILENAME, start, len, substr(head, 1, 70)
      bad = 1
    }
    start = 0
  }
  END { exit bad }
' $files || fail=1

((fail)) && exit 1
echo "layout: ok ($(echo "$files" | wc -w) files)"
