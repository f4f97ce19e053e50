# b1.sh: B1 density: the same guests with known working sets under each arm;
# mean and peak of the QEMUs' summed PSS against an oracle (docs/benchmarks.md). Sourced.
# shellcheck shell=sh

b1_params() {
    if [ "$SMOKE" = 1 ]; then
        B1_MEM=256 B1_DUR=5 B1_DISK=0
        B1_GUESTS="steady=steady:32M idle=idle"
        B1_WS="steady=32 idle=0"
        B1_ARMS="none ballast"
    else
        B1_MEM=1024 B1_DUR=${BENCH_B1_DURATION:-180} B1_DISK=450
        B1_GUESTS="bursty=bursty:600M:50M:60:15 cache=cache:400M steady=steady:300M idle=idle"
        # Mean true working set (MiB): bursty 50 + 550 x 15/60; the cache
        # guest's read-once cache is not a working set; steady 300.
        B1_WS="bursty=187.5 cache=0 steady=300 idle=0"
        # ballast-bursty-fixed: ballast, but the bursty guest is never
        # ballooned: what its bursts cost with nothing taken from it (the
        # other guests' balloons and ballastd share the host's two cores).
        B1_ARMS="none fpr mom proxmox ballast ballast-bursty-fixed"
    fi
}

b1_conf() {
    case "$1" in
        ballast) printf '[host]\nmode=density\n' ;;
        ballast-bursty-fixed) printf '[host]\nmode=density\n[vm bursty]\nmode=fixed\ntarget=%sM\n' "$B1_MEM" ;;
        mom|proxmox) echo "policy=$1" ;;
    esac
}

b1_sample() {
    sum=0 line=
    for n in $B1_NAMES; do
        p=$(cat "$B1_Q/$n.pid" 2>/dev/null || echo 0)
        k=$(pss_kib "$p")
        sum=$((sum + ${k:-0}))
        line="$line ${k:-0}"
    done
    echo "$sum$line"
}

b1_arm() {
    arm=$1
    d="$W/b1-$arm" q="$W/b1-$arm/qmp"
    mkdir -m 0700 "$d" "$q"
    ksm_reset
    VM_BALLOON=$VM_BALLOON_DEFAULT
    [ "$arm" = none ] && VM_BALLOON=free-page-reporting=off,deflate-on-oom=off
    conf=$(b1_conf "$arm")
    [ -n "$conf" ] && daemon_start "$d" "$q" "$conf" >/dev/null
    pids=
    for g in $B1_GUESTS; do
        n=${g%%=*} wl=${g#*=}
        disk=
        case "$wl" in cache:*) disk=$B1_DISK ;; esac
        ( vm_start "$q" "$n" "$B1_MEM" "$wl" $disk >/dev/null ) &
        pids="$pids $!"
    done
    for p in $pids; do wait "$p" || die "B1 $arm: a guest did not boot"; done
    B1_Q=$q
    sampler_start "$d/samples" b1_sample >/dev/null
    sleep "$B1_DUR"
    stop_others
    ooms=0
    for n in $B1_NAMES; do ooms=$((ooms + $(guest_oom_kills "$q/$n.log"))); done
    steady_ms=$(sed -n 's/.*mode=steady event=pass .*pass_ms=\([0-9]*\).*/\1/p' "$q/steady.log" 2>/dev/null \
        | awk '{s += $1; n++} END {if (n) printf "%.1f", s / n; else print "null"}')
    # The bursty guest's allocation time per burst (first pass over the new
    # 550 MiB): what density may cost it.
    bursts=$(sed -n 's/.*mode=bursty event=burst-alloc .*alloc_ms=\([0-9]*\).*/\1/p' "$q/bursty.log" 2>/dev/null || true)
    burst_ms=$(echo "$bursts" | awk 'NF {s += $1; n++} END {if (n) printf "%.1f", s / n; else print "null"}')
    burst_each=$(echo "$bursts" | jq -Rsc 'split("\n") | map(select(. != "") | tonumber)')
    stop_qemus
    ksm_reset
    awk -v names="$B1_NAMES" '
        BEGIN { k = split(names, nm, " ") }
        { n++; s += $2; if ($2 > peak) peak = $2; for (i = 1; i <= k; i++) g[i] += $(i + 2) }
        END {
            printf "{\"mean_pss_mib\": %.1f, \"peak_pss_mib\": %.1f, \"samples\": %d, \"per_guest_mib\": {", s / n / 1024, peak / 1024, n
            for (i = 1; i <= k; i++) printf "%s\"%s\": %.1f", (i > 1 ? ", " : ""), nm[i], g[i] / n / 1024
            printf "}}\n"
        }' "$d/samples" > "$d/summary.json"
    arm_result B1 "$(jq -c --arg arm "$arm" --argjson ooms "$ooms" --argjson steady "$steady_ms" \
        --argjson burst "$burst_ms" --argjson burst_each "$burst_each" \
        '. + {arm: $arm, oom_kills: $ooms, steady_pass_ms: $steady, burst_alloc_ms: $burst, burst_alloc_ms_each: $burst_each}' "$d/summary.json")"
    say "B1 $arm: mean $(jq .mean_pss_mib "$d/summary.json") MiB, peak $(jq .peak_pss_mib "$d/summary.json") MiB, $ooms OOM kills"
}

b1_run() {
    b1_params
    B1_NAMES=$(for g in $B1_GUESTS; do printf '%s ' "${g%%=*}"; done)
    l0=$(load1)
    for arm in $B1_ARMS; do arm_enabled "$arm" && b1_arm "$arm"; done
    ws=$(echo "$B1_WS" | tr ' ' '\n' | jq -Rsc 'split("\n") | map(select(. != "") | split("=") | {(.[0]): (.[1] | tonumber)}) | add')
    result_write B1 "$(jq -cn --argjson mem "$B1_MEM" --argjson dur "$B1_DUR" --arg guests "$B1_GUESTS" --argjson ws "$ws" \
        '{guest_mib: $mem, duration_s: $dur, guests: $guests, working_set_mib: $ws,
          oracle: "sum of working sets + guests x the idle guest mean PSS in the fpr arm"}')" "$l0"
}

# Mean Σ PSS per arm, the oracle, and the share of the excess over it removed.
b1_table() {
    jq -r '
      def col(w): tostring | . + "                    " | .[0:w];
      (.arms | map({(.arm): .}) | add) as $a
      | (.params.working_set_mib | length) as $k
      | (if $a.fpr then ($a.fpr.per_guest_mib.idle * $k + (.params.working_set_mib | add)) else null end) as $oracle
      | "B1 density (\(.params.guests); \(.params.duration_s) s)",
        "oracle: \(if $oracle then ($oracle * 10 | round / 10 | tostring) + " MiB" else "- (needs the fpr arm)" end)",
        "arm                  mean_MiB  peak_MiB  removed  oom  steady_pass_ms  burst_ms  burst/fpr",
        (.arms[] | "\(.arm | col(20)) \(.mean_pss_mib | col(9)) \(.peak_pss_mib | col(9)) \(if $oracle and $a.none and ($a.none.mean_pss_mib - $oracle) != 0 then (($a.none.mean_pss_mib - .mean_pss_mib) / ($a.none.mean_pss_mib - $oracle) * 100 | round | tostring) + " %" else "-" end | col(8)) \(.oom_kills | col(4)) \(.steady_pass_ms | col(15)) \(.burst_alloc_ms // "-" | col(9)) \(if (.burst_alloc_ms // 0) > 0 and ($a.fpr.burst_alloc_ms // 0) > 0 then (.burst_alloc_ms / $a.fpr.burst_alloc_ms * 100 | round / 100 | tostring) else "-" end)")
    ' "$1"
}

# Every arm sampled the QEMUs' PSS.
b1_valid() { jq -e '.arms | length > 0 and all(.mean_pss_mib > 0)' "$1" >/dev/null; }
