# b4.sh: B4 controller cost: ballastd's CPU and RSS at a 1 s tick with N VMs:
# real tiny guests (the stats and agent path), paused QEMUs, and fake QMP
# endpoints served by one bench-fake-qmp process (docs/benchmarks.md). Sourced.
# shellcheck shell=sh

# Enough slots for the largest fake fleet (max-vms defaults to 256).
B4_MAX_VMS=1100

b4_params() {
    if [ "$SMOKE" = 1 ]; then
        B4_WIN=2 B4_GUESTS=1 B4_PAUSED="2" B4_FAKE="50" B4_POLICIES=ballast
    else
        B4_WIN=${BENCH_B4_WINDOW:-30} B4_GUESTS=4 B4_PAUSED="50 100 200" B4_FAKE="250 500 1000"
        B4_POLICIES="ballast mom"
    fi
}

# One control-socket command; prints its "return".
ctl_cmd() {
    printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$2" \
        | socat -t 5 - "UNIX-CONNECT:$1" 2>/dev/null | qmp_reply | jq -c '.return'
}

# Waits (<= 120 s) until ballastd has logged a live QMP link ("NAME: active")
# to N distinct VMs (query-vms of 1,000 VMs is too long a reply to poll);
# prints the seconds it took.
b4_wait_vms() {
    t0=$(now_ms) i=0
    while [ $i -lt 600 ]; do
        n=$(sed -n 's/.*: \([^ ]*\): active (balloon.*/\1/p' "$1" | sort -u | wc -l)
        [ "$n" -ge "$2" ] && break
        sleep 0.2; i=$((i + 1))
    done
    [ "$n" -ge "$2" ] || say "B4: ballastd has a live link to $n of $2 VMs"
    awk -v ms=$(($(now_ms) - t0)) 'BEGIN {printf "%.1f\n", ms / 1000}'
}

# b4_cpu DPID SECONDS: ballastd's CPU, % of a core, over the next SECONDS.
b4_cpu() {
    c0=$(cpu_ticks "$1") t0=$(now_ms)
    sleep "$2"
    c1=$(cpu_ticks "$1") t1=$(now_ms)
    awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v ms="$((t1 - t0))" 'BEGIN {printf "%.3f", c / hz / (ms / 1000) * 100}'
}

# b4_measure ARM KIND N DPID DIR CONNECT_S: CPU % over B4_WIN s (the fleet's
# first squeeze: no boot grace), then over B4_WIN s more (the fleet held),
# RSS at the end.
b4_measure() {
    arm=$1 kind=$2 n=$3 dpid=$4
    sleep 3  # the first ticks after the VMs appear are not the steady state
    cpu=$(b4_cpu "$dpid" "$B4_WIN")
    held=$(b4_cpu "$dpid" "$B4_WIN")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$dpid/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$dpid/status")
    ticks=$(ctl_cmd "$5/control.sock" query-status | jq -r '.ticks // 0')
    arm_result B4 "$(jq -cn --arg arm "$arm" --arg kind "$kind" --argjson n "$n" --argjson cpu "$cpu" --argjson held "$held" \
        --argjson rss "$rss" --argjson hwm "$hwm" --argjson con "$6" --argjson win "$B4_WIN" --argjson ticks "${ticks:-0}" \
        '{arm: $arm, kind: $kind, vms: $n, cpu_pct: $cpu, cpu_held_pct: $held, rss_kib: $rss, hwm_kib: $hwm, connect_all_s: $con,
          window_s: $win, ticks: $ticks, cpu_pct_per_vm: (if $n > 0 then ($cpu / $n * 10000 | round / 10000) else null end),
          cpu_held_pct_per_vm: (if $n > 0 then ($held / $n * 10000 | round / 10000) else null end)}')"
    say "B4 $arm: $n VMs, ballastd ${cpu} % of a core (held: ${held} %), RSS $((rss / 1024)) MiB"
}

# No boot grace: the window then covers the fleet's first squeeze (every VM
# moves every tick), the costliest phase, not 30 s of a fleet held still.
b4_daemon() {
    d=$1 q=$2
    mkdir -m 0700 -p "$d" "$q"
    daemon_start "$d" "$q" "max-vms=$B4_MAX_VMS
$3
[defaults]
boot-grace=0"
}

b4_guests() {
    arm_enabled guests-ballast || arm_enabled guests-mom || return 0
    d="$W/b4-guests" q="$W/b4-guests/qmp"
    mkdir -m 0700 "$d" "$q"
    names=$(seq -f 'g%g' 1 "$B4_GUESTS" | tr '\n' ' ')
    # shellcheck disable=SC2086
    vm_start_many "$q" 1024 idle $names
    for pol in $B4_POLICIES; do
        arm_enabled "guests-$pol" || continue
        dpid=$(daemon_start "$d" "$q" "$([ $pol = mom ] && echo policy=mom)
[defaults]
boot-grace=0")
        con=$(b4_wait_vms "$d/ballastd.log" "$B4_GUESTS")
        b4_measure "guests-$pol" guests "$B4_GUESTS" "$dpid" "$d" "$con"
        kill_pid "$dpid"
        rm -f "$d/control.sock"
    done
    stop_qemus
}

# Paused QEMUs (no guest runs: the QMP path only), added in steps to one daemon.
b4_paused() {
    d="$W/b4-paused" q="$W/b4-paused/qmp"
    dpid=$(b4_daemon "$d" "$q" "")
    b4_measure paused-0 paused 0 "$dpid" "$d" 0
    have=0
    for n in $B4_PAUSED; do
        while [ $have -lt "$n" ]; do
            qemu-system-x86_64 -S -m 64 -display none -nodefaults -device virtio-balloon-pci \
                -qmp "unix:$q/p$have.qmp,server=on,wait=off" -pidfile "$d/p$have.pid" -daemonize \
                >/dev/null 2>&1 || die "paused QEMU $have did not start"
            track_qemu "$(cat "$d/p$have.pid")"
            have=$((have + 1))
        done
        con=$(b4_wait_vms "$d/ballastd.log" "$n")
        b4_measure "paused-$n" paused "$n" "$dpid" "$d" "$con"
    done
    kill_pid "$dpid"
    stop_qemus
}

b4_fake() {
    for n in $B4_FAKE; do
        arm_enabled "fake-$n" || continue
        d="$W/b4-fake-$n" q="$W/b4-fake-$n/qmp"
        dpid=$(b4_daemon "$d" "$q" "")
        "$BUILD/bench/bench-fake-qmp" "$q" "$n" 1024 > "$d/fake.log" 2>&1 &
        fpid=$!
        track_other "$fpid"
        con=$(b4_wait_vms "$d/ballastd.log" "$n")
        b4_measure "fake-$n" fake "$n" "$dpid" "$d" "$con"
        kill_pid "$dpid"
        kill_pid "$fpid"
    done
}

b4_run() {
    b4_params
    l0=$(load1)
    b4_guests
    arm_enabled paused && b4_paused
    b4_fake
    result_write B4 "$(jq -cn --argjson win "$B4_WIN" --argjson g "$B4_GUESTS" --arg p "$B4_PAUSED" --arg f "$B4_FAKE" \
        '{window_s: $win, tick_ms: 1000, real_guests: $g, paused: $p, fake: $f}')" "$l0"
}

# CPU and RSS per arm; per kind (paused, fake): the least-squares line of CPU %
# over N, its value at 1,000 and 10,000 VMs, and how the per-VM cost grows
# from the smallest N to the largest (1.0 = linear).
b4_table() {
    jq -r '
      def col(w): tostring | . + "                    " | .[0:w];
      def r(k): . * k | round / k;
      def fit($y): length as $k | (map(.vms) | add / $k) as $mx | (map(.[$y] // 0) | add / $k) as $my
        | (map((.vms - $mx) * ((.[$y] // 0) - $my)) | add) as $sxy | (map((.vms - $mx) * (.vms - $mx)) | add) as $sxx
        | (if $sxx > 0 then $sxy / $sxx else 0 end) as $b
        | {y: $y, a: ($my - $b * $mx), b: $b,
           grow: (((.[-1][$y] // 0) / .[-1].vms) / (((.[0][$y] // 0) / .[0].vms) + 1e-9))};
      "B4 controller cost (1 s tick, \(.params.window_s) s windows)",
      "arm            VMs   cpu_%    cpu_%/VM  held_%   held_%/VM  RSS_MiB  connect_all_s",
      (.arms[] | "\(.arm | col(14)) \(.vms | col(5)) \(.cpu_pct | col(8)) \(.cpu_pct_per_vm // "-" | col(9)) \(.cpu_held_pct // "-" | col(8)) \(.cpu_held_pct_per_vm // "-" | col(10)) \(.rss_kib / 1024 | r(10) | col(8)) \(.connect_all_s)"),
      "(cpu_%: the first window, the fleet squeezed with no boot grace; held_%: the window after it)",
      (.arms | map(select(.vms > 0 and .kind != "guests")) | group_by(.kind)[] | select(length > 1)
        | (.[0].kind) as $kind | sort_by(.vms) | (fit("cpu_pct"), fit("cpu_held_pct"))
        | "\($kind) \(.y): % = \(.a | r(1000)) + \(.b | r(10000)) x VMs (at 1,000: \(.a + .b * 1000 | r(100)) %, at 10,000: \(.a + .b * 10000 | r(10)) %); per-VM cost x\(.grow | r(100)) from the smallest to the largest N")
    ' "$1"
}

# ballastd listed every VM of each arm and its RSS was read.
b4_valid() { jq -e '.arms | length > 0 and all(.rss_kib > 0)' "$1" >/dev/null; }
