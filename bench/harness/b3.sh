# b3.sh: B3 KSM: identical guests started one after another; how fast and at
# what ksmd CPU each arm merges them (docs/benchmarks.md). Sourced.
# shellcheck shell=sh

# Kata's KSM throttler presets: AnonPages divisor and sleep (ms).
KATA_AGGRESSIVE="10 1"
KATA_STANDARD="100 10"
KATA_SLOW="500 100"
# ksmtuned's own rule: KSM runs only while "free" (MemFree+Buffers+Cached)
# is under 20 % of MemTotal. The filler leaves it at this share.
KSMTUNED_FREE_PCT=15
# Every B3 guest's kernel command line carries this word. ksmtuned counts only
# processes matching `^qemu-system.*-enable-kvm`; the guests run under TCG
# (KVM does not boot here), so the word is what makes ksmtuned count them.
B3_KSMTUNED_MATCH=ballast.bench=tcg-not-enable-kvm

b3_params() {
    if [ "$SMOKE" = 1 ]; then
        B3_K=2 B3_MEM=256 B3_SAME=32M B3_GAP=2 B3_DUR=10 B3_TAIL=4
        B3_ARMS="advisor ksmtuned ballast"
    else
        B3_K=4 B3_MEM=512 B3_SAME=128M B3_GAP=20 B3_DUR=150 B3_TAIL=20
        B3_ARMS="defaults advisor kata-aggressive kata-standard kata-slow ksmtuned ballast"
    fi
}

# Debian's ksmtuned script, fetched with apt-get download and unpacked (never
# installed: an installed service would run for every other user of the host).
b3_ksmtuned() {
    c=${BALLAST_VM_CACHE:-/var/cache/ballast}/ksmtuned
    if [ ! -x "$c/usr/sbin/ksmtuned" ]; then
        mkdir -p "$c/dl"
        (cd "$c/dl" && apt-get download -q -o APT::Sandbox::User=root ksmtuned >/dev/null 2>&1) || return 1
        dpkg-deb -x "$c"/dl/ksmtuned_*.deb "$c" || return 1
    fi
    echo "$c/usr/sbin/ksmtuned"
}

# ksmtuned's "free" in KiB (its free_memory function).
ksmtuned_free_kib() { awk '/^(MemFree|Buffers|Cached):/ {f += $2} END {print f}' /proc/meminfo; }

# Fills the host with untouched-after-write anonymous memory (ballast-load on
# the host, first in line for the OOM killer) until ksmtuned's free is
# KSMTUNED_FREE_PCT % of MemTotal.
b3_fill_host() {
    total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    fill_kib=$(($(ksmtuned_free_kib) - total * KSMTUNED_FREE_PCT / 100))
    [ "$fill_kib" -gt 0 ] || return 0
    "$BUILD/guest-agent/ballast-load" "hold:$((fill_kib / 1024))M:1" > "$1/filler.log" 2>&1 &
    fpid=$!
    track_other "$fpid"
    echo 1000 > "/proc/$fpid/oom_score_adj"
    i=0
    until grep -q touch-stop "$1/filler.log" 2>/dev/null || [ $i -gt 600 ]; do sleep 0.5; i=$((i + 1)); done
    say "B3 ksmtuned: host filled with $((fill_kib / 1024)) MiB; ksmtuned free now $(($(ksmtuned_free_kib) / 1024)) MiB"
    echo "$fpid"
}

kata_set() {
    anon=$(awk '/^AnonPages:/ {print int($2 / 4)}' /proc/meminfo)
    n=$((anon / $1))
    [ $n -ge 1 ] || n=1
    ksm_write pages_to_scan $n
    ksm_write sleep_millisecs "$2"
}

# Sets the arm's KSM regime; prints the PIDs it started (ksmtuned, filler, daemon).
b3_arm_setup() {
    arm=$1 d=$2 q=$3
    case "$arm" in
        defaults) ksm_write run 1 ;;
        advisor) ksm_write advisor_mode scan-time; ksm_write run 1 ;;
        kata-*)
            case "$arm" in
                kata-aggressive) set -- $KATA_AGGRESSIVE ;;
                kata-standard) set -- $KATA_STANDARD ;;
                *) set -- $KATA_SLOW ;;
            esac
            kata_set "$1" "$2"; ksm_write run 1 ;;
        ksmtuned)
            [ "$SMOKE" = 1 ] || b3_fill_host "$d" >/dev/null
            PIDFILE=$d/ksmtuned.pid LOGFILE=$d/ksmtuned.log DEBUG=1 bash "$B3_KSMTUNED" >/dev/null 2>&1
            track_other "$(cat "$d/ksmtuned.pid")" ;;
        ballast) daemon_start "$d" "$q" "" >/dev/null ;;
    esac
}

# One sample: pages_sharing, ksmd ticks, full_scans, pages_to_scan (the last
# two show what an arm's ksmd did, e.g. how the advisor set its rate).
b3_sample() {
    echo "$(cat "$KSM/pages_sharing") $(cpu_ticks "$B3_KSMD") $(cat "$KSM/full_scans") $(cat "$KSM/pages_to_scan")"
    case "$B3_ARM" in
        kata-aggressive) kata_set $KATA_AGGRESSIVE ;;
        kata-standard) kata_set $KATA_STANDARD ;;
        kata-slow) kata_set $KATA_SLOW ;;
    esac
}

b3_arm() {
    arm=$1
    d="$W/b3-$arm" q="$W/b3-$arm/qmp"
    mkdir -m 0700 "$d" "$q"
    stop_qemus
    ksm_flush
    if [ "$arm" = advisor ] && ! ksm_has_advisor; then
        say "B3 advisor: skipped: this kernel has no KSM advisor (advisor_mode needs Linux >= 6.8)"
        arm_result B3 "$(jq -cn '{arm: "advisor", skipped: "no KSM advisor in this kernel"}')"
        return 0
    fi
    if [ "$arm" = ksmtuned ] && ! B3_KSMTUNED=$(b3_ksmtuned); then
        say "B3 ksmtuned: skipped: apt-get download ksmtuned failed"
        arm_result B3 "$(jq -cn '{arm: "ksmtuned", skipped: "Debian package ksmtuned not downloadable"}')"
        return 0
    fi
    B3_ARM=$arm
    B3_KSMD=$(ksmd_pid)
    b3_arm_setup "$arm" "$d" "$q"
    sampler_start "$d/samples" b3_sample >/dev/null
    spid=$(tail -n 1 "$W/pids.other" | cut -d" " -f1)
    t0=$(now_ms)
    starts=
    k=0
    while [ $k -lt "$B3_K" ]; do
        due=$((t0 + k * B3_GAP * 1000))
        while [ "$(now_ms)" -lt $due ]; do sleep 0.1; done
        starts="$starts $(($(now_ms) - t0))"
        ( BALLAST_VM_APPEND=$B3_KSMTUNED_MATCH vm_start "$q" "g$k" "$B3_MEM" "hold:$B3_SAME:5" >/dev/null ) &
        k=$((k + 1))
    done
    wait_until=$((t0 + B3_DUR * 1000))
    while [ "$(now_ms)" -lt $wait_until ]; do sleep 0.5; done
    kill "$spid" 2>/dev/null || true
    ooms=0
    for k in $(seq 0 $((B3_K - 1))); do ooms=$((ooms + $(guest_oom_kills "$q/g$k.log"))); done
    stop_others
    stop_qemus
    ksm_flush
    b3_summary "$arm" "$d/samples" "$starts" "$ooms"
}

# Sharing (pages_sharing above its value at the arm's start, in MiB), t90 after
# the last start, ksmd CPU over the run and over its last B3_TAIL seconds.
b3_summary() {
    starts_json=$(echo "$3" | jq -Rc 'split(" ") | map(select(. != "") | tonumber / 1000)')
    # The sharing curve (s, MiB above the start), for the common yardstick.
    series=$(awk 'NR == 1 {b = $2} {printf "[%.1f,%.1f]\n", $1 / 1000, ($2 - b) * 4096 / 1048576}' "$2" | jq -sc .)
    awk -v tck="$CLK_TCK" -v tail="$B3_TAIL" -v last="$(echo "$3" | awk '{print $NF}')" '
        NF >= 5 { n++; t[n] = $1; s[n] = $2; c[n] = $3; fs[n] = $4; if ($5 > pts) pts = $5 }
        END {
            base = s[1]; fin = 0; m = 0
            for (i = n; i > 0 && m < 5; i--) { fin += s[i] - base; m++ }
            fin = m ? fin / m : 0
            t90 = -1
            for (i = 1; i <= n; i++)
                if (t[i] >= last && s[i] - base >= 0.9 * fin && fin > 0) { t90 = (t[i] - last) / 1000; break }
            cpu = (c[n] - c[1]) / tck
            j = n; while (j > 1 && t[n] - t[j] < tail * 1000) j--
            tail_pct = t[n] > t[j] ? (c[n] - c[j]) / tck / ((t[n] - t[j]) / 1000) * 100 : 0
            saved = fin * 4096 / 1048576
            printf "%.1f %.1f %.2f %.2f %d %d\n", saved, t90, cpu, tail_pct, fs[n] - fs[1], pts
        }' "$2" | {
        read -r saved t90 cpu tail_pct scans pts
        arm_result B3 "$(jq -cn --arg arm "$1" --argjson saved "$saved" --argjson t90 "$t90" \
            --argjson cpu "$cpu" --argjson tail "$tail_pct" --argjson starts "$starts_json" --argjson ooms "$4" \
            --argjson series "$series" --argjson scans "$scans" --argjson pts "$pts" \
            '{arm: $arm, saved_mib: $saved, t90_s: (if $t90 < 0 then null else $t90 end), ksmd_cpu_s: $cpu,
              mib_per_cpu_s: (if $cpu > 0 then ($saved / $cpu * 10 | round / 10) else null end),
              ksmd_tail_cpu_pct: $tail, starts_s: $starts, oom_kills: $ooms, full_scans: $scans,
              max_pages_to_scan: $pts, sharing_mib: $series}')"
        say "B3 $1: saved $saved MiB, t90 $t90 s, ksmd $cpu CPU-s, last ${B3_TAIL}s at $tail_pct %, $scans full scans, pages_to_scan up to $pts"
    }
}

b3_run() {
    b3_params
    l0=$(load1)
    for arm in $B3_ARMS; do arm_enabled "$arm" && b3_arm "$arm"; done
    result_write B3 "$(jq -cn --argjson k "$B3_K" --argjson mem "$B3_MEM" --arg same "$B3_SAME" \
        --argjson gap "$B3_GAP" --argjson dur "$B3_DUR" --argjson tail "$B3_TAIL" \
        --arg fill "$([ "$SMOKE" = 1 ] && echo no || echo "ksmtuned free at $KSMTUNED_FREE_PCT % of MemTotal")" \
        '{guests: $k, guest_mib: $mem, identical_per_guest: $same, start_gap_s: $gap, duration_s: $dur,
          tail_s: $tail, ksmtuned_host_fill: $fill}')" "$l0"
}

# t90 and MiB per ksmd CPU-second per arm, with ratios to the advisor's.
b3_table() {
    jq -r '
      (.arms | map(select(.arm == "advisor" and (.skipped | not))) | .[0]) as $adv
      | (.arms | map(.saved_mib // 0) | max) as $best
      | def r(a; b): if a and b and b != 0 then (a / b * 100 | round / 100 | tostring) else "-" end;
        def tbest: .starts_s[-1] as $l | [(.sharing_mib // [])[] | select(.[0] >= $l and .[1] >= 0.9 * $best)]
          | if length > 0 then (.[0][0] - $l | . * 10 | round / 10) else "never" end;
        def col(w): tostring | . + "                    " | .[0:w];
        "B3 KSM (\(.params.guests) x \(.params.guest_mib) MiB, \(.params.identical_per_guest) identical each, \(.params.start_gap_s) s apart, \(.params.duration_s) s)",
        "t90: to 90 % of the arm'"'"'s own final sharing; t90best: to 90 % of the best arm'"'"'s (\($best) MiB)",
        "arm              saved_MiB t90_s  t90best t90/adv  ksmd_cpu_s MiB/cpu_s  eff/adv  tail_cpu%",
        (.arms[] | if .skipped then "\(.arm | col(16)) skipped: \(.skipped)" else
          "\(.arm | col(16)) \(.saved_mib | col(9)) \(.t90_s // "-" | col(6)) \(tbest | col(7)) \(r(.t90_s; $adv.t90_s) | col(8)) \(.ksmd_cpu_s | col(10)) \(.mib_per_cpu_s // "-" | col(10)) \(r(.mib_per_cpu_s; $adv.mib_per_cpu_s) | col(8)) \(.ksmd_tail_cpu_pct)" end)
    ' "$1"
}

# Every arm ran (or says why not) and ksmd's CPU was read.
b3_valid() { jq -e '.arms | length > 0 and all(.skipped or (.ksmd_cpu_s != null and .saved_mib != null))' "$1" >/dev/null; }
