# b5.sh: B5 fleet simulation: ballast-sim's fit (most guests with no OOM kill,
# < 1 % stall and the host reserve kept) on the published scenario, per arm,
# with the stall, OOM kills and ksmd CPU at that count and what broke the next
# count, next to the published figures (docs/benchmarks.md,
# docs/simulator.md). Sourced.
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
        res=$(echo "$out" | tail -n 1 | jq -c '{vms, oom_kills, stall_pct, ksm_cpu_s, ksm_cpu_pct, min_host_free_bytes, reserve_bytes, reserve_breach_ms}')
    else
        out=$("$BUILD/bench/ballast-sim" --fit -p "$pol" -k "$ksm" "$scen" 2>"$W/b5-$name.err") \
            || { cat "$W/b5-$name.err" >&2; die "ballast-sim failed ($name)"; }
        res=$(echo "$out" | tail -n 1 | jq -c '{fit, oom_kills, stall_pct, ksm_cpu_s, ksm_cpu_pct, mean_host_used_bytes, min_host_free_bytes, reserve_bytes,
            fails_at: (.fails_at | if . then {count, oom_kills, stall_pct, reserve_breach_ms} else null end)}')
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
        '{scenarios: ($s | split(" ") | map("bench/scenarios/" + . + ".json")), published: $pub, criterion: "zero guest OOM kills, stall < 1 % of VM time and host free memory never below the host reserve (ballast-sim --fit)"}')" "$l0"
}

b5_table() {
    jq -r '
      def col(w): tostring | . + "                    " | .[0:w];
      def gib: if . == null then "-" else (. / 1073741824 * 10 | round / 10) end;
      def r2: if . == null then "-" else (. * 100 | round / 100) end;
      "B5 fleet simulation (\(.params.scenarios | join(", ")); published: \(.params.published.raw) raw, \(.params.published.ksm) KSM, \(.params.published.recycler_plus_dedup) recycler + dedup)",
      (if .smoke then "scenario     arm          vms  oom  stall_%  ksmd_%  free_min_GiB reserve_GiB"
       else "scenario     arm          fit  stall_%  oom  ksmd_%  free_min_GiB reserve_GiB vs_67  vs_516 next count fails by" end),
      (.arms[] | (.scenario | col(12)) + " " + if has("fit") then
          "\(.arm | col(12)) \(.fit | col(4)) \(.stall_pct | r2 | col(8)) \(.oom_kills // "-" | col(4)) \(.ksm_cpu_pct | r2 | col(7)) \(.min_host_free_bytes | gib | col(12)) \(.reserve_bytes | gib | col(11)) \(.fit / 67 * 100 | round / 100 | col(6)) \(.fit / 516 * 100 | round / 100 | col(6)) " +
          (.fails_at | if . == null then "-" else "\(.count): \(.oom_kills) OOM, stall \(.stall_pct | r2) %, \(.reserve_breach_ms / 1000) s below the reserve" end)
        else "\(.arm | col(12)) \(.vms | col(4)) \(.oom_kills | col(4)) \(.stall_pct | r2 | col(8)) \(.ksm_cpu_pct | r2 | col(7)) \(.min_host_free_bytes | gib | col(12)) \(.reserve_bytes | gib)" end)
    ' "$1"
}

# The simulator answered for every arm (a fit of 0 is an answer).
b5_valid() { jq -e '.arms | length > 0 and all(if has("fit") then (.fit | type) == "number" else .vms > 0 end)' "$1" >/dev/null; }
