#!/bin/sh
# bench.sh: runs ballast's benchmarks (docs/benchmarks.md) with real QEMU guests
# and their baselines in the same run; writes bench/results/NAME-DATE.json and
# prints a table with ratios. Usage:
#   scripts/bench.sh [--smoke] [--keep] [B1|B2|B3|B4|B5|all]...
# --smoke: seconds-long runs with tiny sizes (the test command runs it so the
# benchmarks cannot rot); its results go to $TMPDIR/ballast-bench-smoke.
# --keep: keep the work dir (guest consoles, daemon logs, samples).
# Environment: BENCH_ARMS (comma-separated arms to run, default all of the
# benchmark's), BENCH_RESULTS (result dir), BENCH_ACCEL (tcg|kvm, default tcg).
# Needs root (KSM knobs, QEMU); exits 77 when it cannot run here.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD:-$TOP/build}
IMAGE=${BALLAST_VM_IMAGE:-$BUILD/vm}
RESULTS=${BENCH_RESULTS:-$TOP/bench/results}
SMOKE=0
SUFFIX=
HARNESS=$TOP/bench/harness
# shellcheck source=../bench/harness/lib.sh
. "$HARNESS/lib.sh"

which=
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1; SUFFIX=-smoke; RESULTS=${BENCH_RESULTS:-${TMPDIR:-/tmp}/ballast-bench-smoke} ;;
        --keep) BENCH_KEEP=1 ;;
        B1|B2|B3|B4|B5) which="$which $1" ;;
        all) which="B1 B2 B3 B4 B5" ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
done
[ -n "$which" ] || which="B1 B2 B3 B4 B5"

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: skipped: needs root (KSM knobs, guests' QEMU)"; exit 77
fi
for tool in jq socat qemu-system-x86_64; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: skipped: $tool not installed"; exit 77; }
done
[ -x "$BUILD/controller/ballastd" ] || die "$BUILD/controller/ballastd missing: run scripts/build.sh"
[ -f "$IMAGE/vmlinuz" ] || die "no guest image in $IMAGE: run tests/vm/build-image.sh $BUILD"

W=$(mktemp -d "${TMPDIR:-/tmp}/ballast-bench.XXXXXX")
chmod 0700 "$W"
trap 'bench_cleanup' EXIT
trap 'exit 130' INT TERM
ksm_save

# arm_enabled ARM: BENCH_ARMS (if set) lists it.
arm_enabled() {
    [ -z "${BENCH_ARMS:-}" ] && return 0
    case ",$BENCH_ARMS," in *",$1,"*) return 0 ;; esac
    return 1
}

files=
invalid=
for b in $which; do
    lower=$(echo "$b" | tr 'B' 'b')
    # shellcheck source=/dev/null
    . "$HARNESS/$lower.sh"
    say "$b: start (load $(load1))"
    # Run in this shell (not in $(...)): a signal's trap then runs at once.
    "${lower}_run" > "$W/result-path"
    out=$(cat "$W/result-path")
    files="$files $out"
    "${lower}_table" "$out"
    "${lower}_valid" "$out" || { say "$b: result incomplete (see $out)"; invalid="$invalid $b"; }
done
say "results:$files"
[ -z "$invalid" ] || die "incomplete results:$invalid"
