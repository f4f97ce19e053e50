# b2.sh: B2 spike: a guest held low by its balloon allocates a block at once;
# how long the allocation takes with each arm (docs/benchmarks.md). Sourced.
# shellcheck shell=sh

# B2_HOLD: where the harness holds the guest without a daemon; the daemon arms
# get it as their `min` (their own floor is lower only for ballast's 256M).
b2_params() {
    if [ "$SMOKE" = 1 ]; then
        B2_MEM=256 B2_HOLD=96 B2_SPIKE=96M B2_AT=8 B2_TRIALS=1 B2_ARMS="ballast"
    else
        # The spike at 60 s of uptime: ballast's boot grace (30 s) and its
        # squeeze to the hold are over by then, as the harness's own hold is.
        B2_MEM=1024 B2_HOLD=200 B2_SPIKE=300M B2_AT=60 B2_TRIALS=${BENCH_TRIALS:-3}
        B2_ARMS="raw oracle doo doo-fpr ballast mom proxmox"
        # Only when named: it measured as fast as `raw` (docs/benchmarks.md).
        case ",${BENCH_ARMS:-}," in *,raw-deflated,*) B2_ARMS="$B2_ARMS raw-deflated" ;; esac
    fi
}

# The daemon's config of each arm ("" = no daemon).
b2_conf() {
    floor="[defaults]
min=${B2_HOLD}M"
    case "$1" in
        ballast) printf '[host]\nmode=density\n%s\n' "$floor" ;;
        mom|proxmox) printf 'policy=%s\n%s\n' "$1" "$floor" ;;
        *) ;;
    esac
}

# Polls the console for a ballast-load event; prints the line (empty on timeout).
b2_wait_event() {
    i=0
    while [ $i -lt $(($3 * 5)) ]; do
        line=$(grep -m1 "event=$2" "$1" 2>/dev/null || true)
        [ -n "$line" ] && { echo "$line"; return 0; }
        sleep 0.2; i=$((i + 1))
    done
}

# The oracle: gives the guest the spike's size the moment its console says
# the spike started (polled every 20 ms), as no controller can know either.
# Not all of its memory: the guest's vCPU does the deflate's work, and
# deflating 824 MiB made the spike slower than ballast's 410 (1.7-2.0 s).
b2_oracle() {
    i=0
    while [ $i -lt $(((B2_AT + 60) * 50)) ]; do
        grep -q "event=spike-start" "$1" 2>/dev/null \
            && { balloon_set_mib "$2" $((B2_HOLD + ${B2_SPIKE%M})); return 0; }
        sleep 0.02; i=$((i + 1))
    done
}

field() { echo "$1" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"; }

b2_trial() {
    arm=$1 t=$2
    d="$W/b2-$arm-$t" q="$W/b2-$arm-$t/qmp"
    mkdir -m 0700 "$d" "$q"
    ksm_reset
    conf=$(b2_conf "$arm")
    dpid=
    # ballastd's tick is 1 s; the balloon peers decide every 10 s (their published intervals).
    [ -n "$conf" ] && dpid=$(daemon_start "$d" "$q" "$conf")
    # deflate-on-oom alone has no free page reporting; every other arm has both.
    VM_BALLOON=$VM_BALLOON_DEFAULT
    [ "$arm" = doo ] && VM_BALLOON=deflate-on-oom=on
    vm_start "$q" g "$B2_MEM" "spike:$B2_SPIKE:$B2_AT" >/dev/null
    held=0
    # Without a daemon the harness holds the guest down itself; a daemon arm
    # settles the guest where its own policy puts it (pushing it from outside
    # would show the policy a pressure stall that did not come from the guest).
    if [ "$arm" = doo ] || [ "$arm" = doo-fpr ] || [ "$arm" = oracle ]; then
        balloon_set_mib "$q/g.mon" "$B2_HOLD"
        balloon_wait_mib "$q/g.mon" "$B2_HOLD" 20 && held=1
    fi
    # Memory a balloon gave back before the spike, nobody in the way: is it
    # slower to touch than memory never ballooned (QEMU discards each 4 KiB
    # balloon page, so the host backs it again in 4 KiB pages, not huge ones)?
    if [ "$arm" = raw-deflated ]; then
        balloon_set_mib "$q/g.mon" "$B2_HOLD"
        if balloon_wait_mib "$q/g.mon" "$B2_HOLD" 20; then
            balloon_set_mib "$q/g.mon" "$B2_MEM"
            balloon_wait_mib "$q/g.mon" "$B2_MEM" 20 && held=1
        fi
    fi
    if [ "$arm" = oracle ]; then
        b2_oracle "$q/g.log" "$q/g.mon" &
        track_other $!
    fi
    # The balloon's size last seen before the spike began.
    at_start= start= i=0
    while [ -z "$start" ] && [ $i -lt $(((B2_AT + 60) * 2)) ]; do
        a=$(balloon_actual_mib "$q/g.mon")
        start=$(grep -m1 "event=spike-start" "$q/g.log" 2>/dev/null || true)
        [ -n "$start" ] || at_start=$a
        [ -n "$start" ] || sleep 0.5
        i=$((i + 1))
    done
    done_line=$(b2_wait_event "$q/g.log" spike-done 120)
    at_end=$(balloon_actual_mib "$q/g.mon")
    spike_ms=$(field "$done_line" spike_ms)
    ooms=$(guest_oom_kills "$q/g.log")
    # What the daemon decided around the spike, for a kept work dir.
    if [ -n "$dpid" ] && [ "${BENCH_KEEP:-0}" = 1 ]; then
        printf '{"execute":"qmp_capabilities"}\n{"execute":"query-decisions","arguments":{"limit":100}}\n' \
            | socat -t 5 - "UNIX-CONNECT:$d/control.sock" 2>/dev/null | qmp_reply >"$d/decisions.json" || true
    fi
    [ -n "$dpid" ] && kill_pid "$dpid"
    stop_qemus
    [ -n "$start" ] || say "B2 $arm: the spike never started"
    arm_result B2 "$(jq -cn --arg arm "$arm" --argjson trial "$t" --arg ms "${spike_ms:-}" \
        --argjson ooms "${ooms:-0}" --arg a0 "${at_start:-}" --arg a1 "${at_end:-}" --argjson held $held \
        '{arm: $arm, trial: $trial, spike_ms: (if $ms == "" then null else ($ms | tonumber) end),
          oom_kills: $ooms, held_before: ($held == 1),
          actual_at_spike_mib: (if $a0 == "" then null else ($a0 | tonumber) end),
          actual_after_mib: (if $a1 == "" then null else ($a1 | tonumber) end)}')"
    say "B2 $arm trial $t: spike ${spike_ms:-?} ms, balloon ${at_start:-?} -> ${at_end:-?} MiB, $ooms OOM kills"
}

b2_run() {
    b2_params
    l0=$(load1)
    t=1
    # Trial-major order: every arm sees the same stretch of machine load.
    while [ $t -le "$B2_TRIALS" ]; do
        for arm in $B2_ARMS; do arm_enabled "$arm" && b2_trial "$arm" $t; done
        t=$((t + 1))
    done
    result_write B2 "$(jq -cn --argjson mem "$B2_MEM" --argjson hold "$B2_HOLD" --arg spike "$B2_SPIKE" \
        --argjson at "$B2_AT" --argjson trials "$B2_TRIALS" \
        '{guest_mib: $mem, hold_mib: $hold, spike: $spike, spike_at_s: $at, trials: $trials}')" "$l0"
}

# Median spike time per arm and its ratio to deflate-on-oom alone.
b2_table() {
    jq -r '
      def median: sort | length as $n
        | if $n == 0 then null elif $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
      (.arms | group_by(.arm) | map({arm: .[0].arm, ms: (map(.spike_ms | select(. != null)) | median),
                                     held: (map(.actual_at_spike_mib | select(. != null)) | median),
                                     ooms: (map(.oom_kills) | add), n: length})) as $a
      | def ms_of($name): $a | map(select(.arm == $name)) | .[0].ms;
        def ratio($base): if $base and .ms then (.ms / $base * 100 | round / 100 | tostring) else "-" end;
        def col($w): tostring | . + "              " | .[0:$w];
        ms_of("doo") as $doo | ms_of("oracle") as $lim
      | "B2 spike (\(.params.spike) into a \(.params.guest_mib) MiB guest held at \(.params.hold_mib) MiB; median of \(.params.trials))",
        "arm           held_MiB  spike_ms  vs_doo  vs_limit  oom_kills",
        ($a[] | "\(.arm | col(13)) \(.held // "-" | col(9)) \(.ms // "-" | col(9)) \(ratio($doo) | col(7)) \(ratio($lim) | col(9)) \(.ooms)")
    ' "$1"
}

# Every trial saw its spike finish.
b2_valid() { jq -e '.arms | length > 0 and all(.spike_ms != null)' "$1" >/dev/null; }
