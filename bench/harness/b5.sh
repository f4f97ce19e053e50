# b5.sh: B5 fleet simulation: ballast-sim's fit (most guests with no OOM kill
# and < 1 % stall) on the published scenario, per arm, next to the published
# figures (docs/benchmarks.md, docs/simulator.md). Sourced.
# shellcheck shell=sh

# The published scenario, without and with mergeable guest memory (7 %).
B5_SCENARIOS=${BENCH_B5_SCENARIOS:-density density-ksm}
# The published figures for that scenario: without help, with KSM, with a
# page recycler plus a dedup engine.
B5_PUBLISHED='{"raw": 67, "ksm": 73, "recycler_plus_dedup": 516}'

# arm:balloon policy:KSM policy:free page reporting (0/1).
B5_ARMS_ALL="none:none:none:0 ksmtuned:none:ksmtuned:0 kata:none:kata:0 fpr:none:none:1 mom:mom:mom:0
proxmox:proxmox:none:0 ballast:ballast:ballast:0 ballast+fpr:ballast:ballast:1"

b5_arm() {
    IFS=: read -r name pol ksm fpr <<EOF
$1
EOF
    sname=$2
    scen="$W/b5-$sname-$name.json"
    jq --argjson fpr "$fpr" '.host.free_page_reporting = ($fpr == 1)' "$TOP/bench/scenarios/$sname.json" > "$scen"
    t0=$(now_ms)
    if [ "$SMOKE" = 1 ]; then
        out=$("$BUILD/bench/ballast-sim" -s -d 600 -p "$pol" -k "$ksm" "$scen" 2>"$W/b5-$name.err") \
            || { cat "$W/b5-$name.err" >&2; die "ballast-sim failed ($name)"; }
        res=$(echo "$out" | tail -n 1 | jq -c '{vms, oom_kills, stall_pct, ksm_cpu_s}')
    else
        out=$("$BUILD/bench/ballast-sim" --fit -p "$pol" -k "$ksm" "$scen" 2>"$W/b5-$name.err") \
            || { cat "$W/b5-$name.err" >&2; die "ballast-sim failed ($name)"; }
        res=$(echo "$out" | tail -n 1 | jq -c '{fit}')
    fi
    arm_result B5 "$(echo "$res" | jq -c --arg arm "$name" --arg pol "$pol" --arg ksm "$ksm" --argjson fpr "$fpr" --arg s "$sname" \
        --argjson ms $(($(now_ms) - t0)) \
        '{scenario: $s, arm: $arm, policy: $pol, ksm_policy: $ksm, free_page_reporting: ($fpr == 1), wall_ms: $ms} + .')"
    say "B5 $sname $name: $res"
}

b5_run() {
    l0=$(load1)
    for sc in $B5_SCENARIOS; do
        for a in $B5_ARMS_ALL; do arm_enabled "${a%%:*}" && b5_arm "$a" "$sc"; done
    done
    result_write B5 "$(jq -cn --arg s "$B5_SCENARIOS" --argjson pub "$B5_PUBLISHED" \
        '{scenarios: ($s | split(" ") | map("bench/scenarios/" + . + ".json")), published: $pub, criterion: "zero guest OOM kills and stall < 1 % of VM time (ballast-sim --fit)"}')" "$l0"
}

b5_table() {
    jq -r '
      def col(w): tostring | . + "                    " | .[0:w];
      "B5 fleet simulation (\(.params.scenarios | join(", ")); published: \(.params.published.raw) raw, \(.params.published.ksm) KSM, \(.params.published.recycler_plus_dedup) recycler + dedup)",
      (if .smoke then "scenario     arm          vms  oom  stall_%  ksm_cpu_s" else "scenario     arm          fit  vs_raw_published  vs_516" end),
      (.arms[] | (.scenario | col(12)) + " " + if .fit then "\(.arm | col(12)) \(.fit | col(4)) \(.fit / 67 * 100 | round / 100 | col(17)) \(.fit / 516 * 100 | round / 100)"
                 else "\(.arm | col(12)) \(.vms | col(4)) \(.oom_kills | col(4)) \(.stall_pct * 100 | round / 100 | col(8)) \(.ksm_cpu_s | floor)" end)
    ' "$1"
}

# The simulator answered for every arm.
b5_valid() { jq -e '.arms | length > 0 and all((.fit // .vms) > 0)' "$1" >/dev/null; }
