# lib.sh: what every benchmark of scripts/bench.sh shares: a work dir, guests
# and ballastd started and killed by PID, KSM knobs saved and restored,
# per-second samplers and the JSON result of each arm. Sourced, not run.
# shellcheck shell=sh

MiB=1048576
KSM=/sys/kernel/mm/ksm
# Kernel defaults of the KSM knobs an arm starts from (mm/ksm.c).
KSM_DEFAULT_PAGES=100
KSM_DEFAULT_SLEEP_MS=20

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }

# ---- cleanup: everything started here is recorded and undone by PID ----
# $W/pids.qemu, $W/pids.other: "PID START" per line, START the process's start
# time (field 22 of /proc/PID/stat): PIDs wrap at pid_max during a long run,
# and a recycled PID must never be signalled or waited for.
# proc_stat PID: /proc/PID/stat after the command name (state first, start 20th).
proc_stat() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null; }
proc_start() { proc_stat "$1" | awk '{print $20}'; }

# pid_ours PID: it runs with the start time it was tracked with (an untracked
# PID is never ours). A zombie is
# not ours any more: kill -0 still succeeds on it, and the QEMUs here
# (-daemonize) are reaped by PID 1, which may do so late or never.
pid_ours() {
    set -- "$1" "$(cat "$W"/pids.* 2>/dev/null | awk -v p="$1" '$1 == p {s = $2} END {print s}')" \
        "$(proc_stat "$1")"
    case "$3" in ''|Z*|X*) return 1 ;; esac
    [ -n "$2" ] && [ "$(echo "$3" | awk '{print $20}')" = "$2" ]
}

# tracked_pids KIND: the PIDs of $W/pids.KIND.
tracked_pids() { [ -f "$W/pids.$1" ] && awk '{print $1}' "$W/pids.$1"; }

bench_cleanup() {
    [ -n "${W:-}" ] || return 0
    for p in $(tracked_pids other); do signal_ours TERM "$p"; done
    for p in $(tracked_pids qemu); do signal_ours KILL "$p"; done
    ksm_restore
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work dir kept: $W"; else rm -rf "$W"; fi
}

track() { echo "$2 $(proc_start "$2")" >> "$W/pids.$1"; }
track_qemu() { track qemu "$1"; }
track_other() { track other "$1"; }

# signal_ours SIG PID: signals PID if it is still ours.
signal_ours() {
    if pid_ours "$2"; then kill -"$1" "$2" 2>/dev/null || true; fi
}

# wait_gone PID SECS: waits until PID is no longer ours; 1 if it still is.
wait_gone() {
    i=0
    while pid_ours "$1"; do
        [ $i -lt $(($2 * 10)) ] || return 1
        sleep 0.1; i=$((i + 1))
    done
}

# Stops one recorded PID: SIGTERM, SIGKILL after 5 s.
kill_pid() {
    signal_ours TERM "$1"
    wait_gone "$1" 5 || signal_ours KILL "$1"
}

# Stops every other process recorded (daemons, samplers, load) and forgets them.
stop_others() {
    for p in $(tracked_pids other); do kill_pid "$p"; done
    : > "$W/pids.other"
}

# QEMUs by SIGKILL at once (their guests are throw-away); waits for each.
stop_qemus() {
    [ -f "$W/pids.qemu" ] || return 0
    for p in $(tracked_pids qemu); do signal_ours KILL "$p"; done
    for p in $(tracked_pids qemu); do wait_gone "$p" 30 || say "QEMU $p still runs 30 s after SIGKILL"; done
    : > "$W/pids.qemu"
}

# ---- KSM knobs: saved once, restored at exit (trap) ----
ksm_save() {
    mkdir -p "$W/ksm-saved"
    for f in "$KSM"/*; do
        # Root may open anything: the mode's owner-write bit tells the knobs.
        [ -f "$f" ] && [ $(($(stat -c %a "$f") / 100 & 2)) -ne 0 ] || continue
        cat "$f" > "$W/ksm-saved/$(basename "$f")" 2>/dev/null || true
    done
}

ksm_write() {
    [ -w "$KSM/$1" ] || return 0
    echo "$2" > "$KSM/$1" 2>/dev/null || say "cannot write $2 to $KSM/$1"
}

# Rates first, `run` last; advisor_mode reads as "[none] scan-time".
ksm_restore() {
    [ -d "${W:-}/ksm-saved" ] || return 0
    for f in "$W"/ksm-saved/*; do
        n=$(basename "$f")
        case "$n" in run|advisor_mode) continue ;; esac
        v=$(cat "$f")
        [ "$(cat "$KSM/$n" 2>/dev/null)" = "$v" ] || ksm_write "$n" "$v"
    done
    if [ -f "$W/ksm-saved/advisor_mode" ]; then
        ksm_write advisor_mode "$(sed 's/.*\[\(.*\)\].*/\1/' "$W/ksm-saved/advisor_mode")"
        # The advisor rewrites pages_to_scan while it runs: restore it again.
        ksm_write pages_to_scan "$(cat "$W/ksm-saved/pages_to_scan")"
    fi
    [ -f "$W/ksm-saved/run" ] && ksm_write run "$(cat "$W/ksm-saved/run")"
}

# Every arm starts from the kernel's defaults with ksmd stopped.
ksm_reset() {
    ksm_write run 0
    ksm_write advisor_mode none
    ksm_write pages_to_scan $KSM_DEFAULT_PAGES
    ksm_write sleep_millisecs $KSM_DEFAULT_SLEEP_MS
}

# ksmd drops an exited process's merged pages only when its scan reaches it:
# after guests are gone, let it run two full scans (<= 20 s), so the next arm
# does not start with their stale count (pages_sharing holding still for a
# moment would prove no scan went by). With no process left to scan,
# full_scans stands still, but then pages_sharing is 0.
ksm_flush() {
    ksm_write advisor_mode none
    ksm_write pages_to_scan 1000
    ksm_write sleep_millisecs 10
    ksm_write run 1
    scans=$(($(cat "$KSM/full_scans") + 2)) i=0
    until [ "$(cat "$KSM/full_scans")" -ge $scans ] || [ "$(cat "$KSM/pages_sharing")" = 0 ]; do
        if [ $i -ge 40 ]; then
            say "KSM: two full scans took over 20 s; pages_sharing $(cat "$KSM/pages_sharing")"
            break
        fi
        sleep 0.5
        i=$((i + 1))
    done
    ksm_reset
}

ksm_has_advisor() { [ -w "$KSM/advisor_mode" ]; }

ksmd_pid() { pgrep -x ksmd | head -n 1; }

# utime+stime of a PID in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# ---- guests (tests/vm/ballast-vm) ----
# The balloon device's options (tests/vm/ballast-vm's default unless an arm sets it).
VM_BALLOON_DEFAULT=free-page-reporting=on,deflate-on-oom=on
VM_BALLOON=$VM_BALLOON_DEFAULT

# vm_start DIR NAME MEM_MIB WORKLOAD [DISK_MIB]: boots, records and prints the PID.
vm_start() {
    pid=$(BALLAST_VM_IMAGE="$IMAGE" BALLAST_VM_ACCEL="${BENCH_ACCEL:-tcg}" BALLAST_VM_BALLOON="$VM_BALLOON" \
              "$TOP/tests/vm/ballast-vm" start "$2" "$1" "$3" "$4" ${5:+"$5"} 2>>"$W/vm.log") \
        || { tail -n 5 "$W/vm.log" >&2; die "guest $2 did not boot"; }
    track_qemu "$pid"
    echo "$pid"
}

# vm_start_many DIR MEM WORKLOAD NAME...: boots guests in parallel; PIDs in DIR/NAME.pid.
vm_start_many() {
    d=$1 mem=$2 wl=$3; shift 3
    jobs_pids=
    for n in "$@"; do
        ( vm_start "$d" "$n" "$mem" "$wl" > "$d/$n.started" ) &
        jobs_pids="$jobs_pids $!"
    done
    rc=0
    for j in $jobs_pids; do wait "$j" || rc=1; done
    [ $rc -eq 0 ] || die "a guest did not boot"
}

# The reply to one command after the greeting and qmp_capabilities' reply:
# the first later line that is not an event (a BALLOON_CHANGE can come
# first while a daemon moves the balloon).
qmp_reply() { awk 'NR >= 3 && !/^\{"timestamp"/ && !/"event":/ && !done { print; done = 1 }'; }

# One QMP command on a guest's observer monitor (NAME.mon); prints the reply.
qmp_cmd() {
    printf '{"execute":"qmp_capabilities"}\n%s\n' "$2" \
        | socat -t 2 - "UNIX-CONNECT:$1" 2>/dev/null | qmp_reply
}

balloon_set_mib() { qmp_cmd "$1" "{\"execute\":\"balloon\",\"arguments\":{\"value\":$(($2 * MiB))}}" >/dev/null; }
# Empty when there is no reply with the figure (jq's error would end a set -e run).
balloon_actual_mib() {
    qmp_cmd "$1" '{"execute":"query-balloon"}' | jq -r '.return.actual // empty | . / 1048576 | floor' 2>/dev/null || true
}

# Waits until the balloon's actual is within 8 MiB of MIB (at most SECS).
balloon_wait_mib() {
    i=0
    while [ $i -lt $(($3 * 5)) ]; do
        a=$(balloon_actual_mib "$1")
        [ -n "$a" ] && [ "$a" -le $(($2 + 8)) ] && [ "$a" -ge $(($2 - 8)) ] && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}

guest_oom_kills() { grep -c "Killed process\|Out of memory" "$1" 2>/dev/null || true; }

pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# ---- ballastd with a generated config ----
# daemon_start DIR QMPDIR EXTRA_CONF: starts ballastd, prints its PID. EXTRA_CONF
# continues the [daemon] section (more keys, then other sections). No HTTP
# server: another ballastd on the host may hold the default port.
daemon_start() {
    cat > "$1/ballast.conf" <<EOF
[daemon]
control-socket=$1/control.sock
qmp-dir=$2
http-listen=off
$3
EOF
    "$BUILD/controller/ballastd" --config "$1/ballast.conf" >"$1/ballastd.log" 2>&1 &
    dpid=$!
    track_other "$dpid"
    i=0
    while [ ! -S "$1/control.sock" ]; do
        kill -0 "$dpid" 2>/dev/null || { cat "$1/ballastd.log" >&2; die "ballastd exited"; }
        [ $i -lt 100 ] || die "ballastd did not open its control socket"
        sleep 0.1; i=$((i + 1))
    done
    echo "$dpid"
}

# ---- samplers ----
# sampler_start FILE CMD...: runs "CMD" once a second, appending
# "t_ms output" lines; prints the sampler's PID.
sampler_start() {
    f=$1; shift
    (
        t0=$(now_ms)
        while :; do
            echo "$(($(now_ms) - t0)) $("$@")" >> "$f"
            sleep 1
        done
    ) >/dev/null 2>&1 &
    track_other $!
    echo $!
}

# ---- results: one JSON object per arm in $W/NAME.arms (JSON lines) ----
arm_result() { echo "$2" >> "$W/$1.arms"; }

# Machine and load facts for the result header.
machine_json() {
    jq -n --arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
        --arg kernel "$(uname -r)" --argjson cores "$(nproc)" \
        --argjson mem_mib "$(awk '/MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)" \
        --arg accel "${BENCH_ACCEL:-tcg}" --arg commit "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        '{cpu: $cpu, cores: $cores, mem_mib: $mem_mib, kernel: $kernel, accel: $accel, commit: $commit}'
}

load1() { awk '{print $1}' /proc/loadavg; }

# result_write NAME PARAMS_JSON LOAD_START: bench/results/NAME-DATE.json.
result_write() {
    name=$1 params=$2 l0=$3
    mkdir -p "$RESULTS"
    touch "$W/$name.arms"
    out="$RESULTS/$name-$(date -u +%Y%m%dT%H%M%SZ)$SUFFIX.json"
    jq -s --arg name "$name" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        --argjson machine "$(machine_json)" --argjson params "$params" \
        --arg load_start "$l0" --arg load_end "$(load1)" --argjson smoke "$SMOKE" \
        '{benchmark: $name, date: $date, smoke: ($smoke == 1), machine: $machine,
          load_avg_1m: {start: ($load_start | tonumber), end: ($load_end | tonumber)},
          params: $params, arms: .}' "$W/$name.arms" > "$out"
    say "wrote $out"
    echo "$out"
}
