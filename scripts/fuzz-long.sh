#!/bin/sh
# fuzz-long.sh [MINUTES [TARGET...]]: runs every libFuzzer target of the fuzz
# suite (or only the named ones, e.g. fuzz-config) for MINUTES each (default
# 10), one after the other, from its seeds and corpus.
# Prints each target's "Done N runs in S second(s)" and a table; a crashing
# (or leaking, hanging, out-of-memory) input is copied to
# tests/fuzz/corpus/<target>/ and the script exits non-zero.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
minutes=${1:-10}
case "$minutes" in
    ''|*[!0-9]*|0) echo "usage: $0 [MINUTES [TARGET...]]  (MINUTES a whole number > 0, default 10)" >&2
                  exit 2 ;;
esac
[ $# -gt 0 ] && shift
only=" $* "
seconds=$((minutes * 60))

if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz --werror -Dfuzz=true -Dintegration=true \
        -Db_sanitize=address,undefined -Db_lundef=false
fi
meson compile -C build-fuzz

# The targets and their arguments exactly as the fuzz suite runs them (seed
# and corpus directories, -max_len...), with the time limit replaced. One
# line per target: executable, then its arguments, tab-separated.
targets=$(meson introspect build-fuzz --tests | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if not any(s.split(":")[-1] == "fuzz" for s in t["suite"]):
        continue
    args = [a for a in t["cmd"][1:] if not a.startswith("-max_total_time=")]
    print("\t".join(t["cmd"][:1] + ["-max_total_time=" + sys.argv[1]] + args))
' "$seconds")
if [ -z "$targets" ]; then
    echo "fuzz-long: no fuzz targets in build-fuzz (clang with -Dfuzz=true?)" >&2
    exit 1
fi

logdir="$top/build-fuzz/fuzz-long"
rm -rf "$logdir"
mkdir -p "$logdir"
table="$logdir/table"
: >"$table"
tab=$(printf '\t')
echo "$targets" | while IFS="$tab" read -r exe args; do
    name=$(basename "$exe")
    if [ "$only" != "  " ] && [ "${only#* "$name" }" = "$only" ]; then
        continue
    fi
    artifacts="$logdir/$name.artifacts"
    mkdir -p "$artifacts"
    echo "== $name: $minutes min"
    # Split at tabs only, without globbing: paths may hold spaces.
    set -f
    old_ifs=$IFS
    IFS=$tab
    # shellcheck disable=SC2086
    set -- $args
    IFS=$old_ifs
    set +f
    rc=0
    "$exe" "$@" -artifact_prefix="$artifacts/" >"$logdir/$name.log" 2>&1 || rc=$?
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$logdir/$name.log" | tail -n1 || true)
    found=$(find "$artifacts" -type f | sort)
    if [ -n "$found" ] || [ "$rc" -ne 0 ]; then
        result=FAILED
        mkdir -p "$top/tests/fuzz/corpus/$name"
        for f in $found; do
            cp "$f" "$top/tests/fuzz/corpus/$name/"
            echo "  input: tests/fuzz/corpus/$name/$(basename "$f")"
        done
        # The sanitizer's or libFuzzer's report, with its stack.
        sed -n '/^==[0-9]*==\|^=* *ERROR\|^SUMMARY\|invariant\|^ *#[0-9]/p' "$logdir/$name.log" | head -n 60
        echo "  exit $rc; full log: $logdir/$name.log"
    else
        result=ok
    fi
    echo "  ${done_line:-no final summary (crashed)}"
    runs=$(echo "$done_line" | awk '{print $2}')
    secs=$(echo "$done_line" | awk '{print $5}')
    printf '%-22s %12s %8s  %s\n' "$name" "${runs:--}" "${secs:--}" "$result" >>"$table"
done

echo
printf '%-22s %12s %8s  %s\n' target runs seconds result
cat "$table"
if grep -q ' FAILED$' "$table"; then
    echo "fuzz-long: failures; inputs are in tests/fuzz/corpus/" >&2
    exit 1
fi
