#!/bin/sh
# The test command: installs what is missing, builds, prepares the tiny test
# guest, runs unit + integration tests (gcc build) and the unit suite under
# ASan+UBSan plus short fuzz runs (clang build), then the extra checks: a build
# without libvirt, the meson install layout, the Debian packages.
# Ends with "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
if ! "$top/scripts/build.sh"; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ -x "$top/tests/vm/build-image.sh" ]; then
    if ! "$top/tests/vm/build-image.sh" "$top/build"; then
        echo "guest image build failed"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

passed=0; failed=0; skipped=0
# meson prints a summary block per run; sum its counters.
run_suite() {
    log=$(mktemp)
    meson test "$@" --print-errorlogs 2>&1 | tee "$log"
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -n1)
    fail=$(awk '/^Fail:|^Timeout:|^Unexpected Pass:/ {s += $NF} END {print s+0}' "$log")
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -n1)
    if [ -z "$ok" ]; then
        # No summary means meson itself failed (e.g. no such suite): count it.
        if grep -q "No tests defined\|No suitable tests" "$log"; then :; else fail=$((fail + 1)); fi
        ok=0
    fi
    passed=$((passed + ok)); failed=$((failed + fail)); skipped=$((skipped + ${skip:-0}))
    rm -f "$log"
}
run_suite -C build --num-processes 2
if [ -f build-fuzz/build.ninja ]; then
    run_suite -C build-fuzz --suite unit --num-processes 2
    run_suite -C build-fuzz --suite fuzz --num-processes 2
    # The daemon and its clients against real QEMU, libvirtd and ksmd under
    # ASan+UBSan. The guests run the gcc build's static agent and workloads
    # (a sanitized agent cannot be linked statically into a guest), so the
    # agent's own suites stay with the gcc build.
    ln -sfn "$top/build/vm" build-fuzz/vm
    run_suite -C build-fuzz --num-processes 1 qmp-qemu controller-control controller-ballastd \
        controller-lifecycle libvirt
fi
# Extra checks, each one pass or fail: a script that exits 0 or not.
run_check() {
    name=$1; shift
    log="${TMPDIR:-/tmp}/ballast-$name.log"
    "$@" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "$name: ok"
        passed=$((passed + 1))
    elif [ $rc -eq 77 ]; then
        # 77: the check cannot run on this machine (it says why).
        tail -n 1 "$log"
        skipped=$((skipped + 1))
    else
        cat "$log"
        echo "$name: FAILED"
        failed=$((failed + 1))
    fi
}
# The libvirt backend must compile out cleanly (-Dlibvirt=disabled).
run_check check-no-libvirt "$top/scripts/check-no-libvirt.sh"
# meson install puts exactly the listed files where a distribution wants them.
run_check check-install "$top/scripts/check-install.sh"
# The Debian packages build, pass lintian, install, verify and purge cleanly.
run_check check-deb "$top/scripts/check-deb.sh"
# Every benchmark of scripts/bench.sh, seconds long with tiny guests, so they
# cannot rot (the full runs are separate: docs/benchmarks.md). About 2 min on
# an idle machine; the bound turns a hang into a failure with its log.
run_check bench-smoke timeout --kill-after=30 900 "$top/scripts/bench.sh" --smoke all
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
