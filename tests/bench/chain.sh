#!/usr/bin/env bash
# chain.sh -- replication benchmarks on localhost chains; prints a Markdown
# section for RESULTS.md (run.sh calls it; it also runs alone).
#
#   tests/bench/chain.sh            # about 4 minutes on 2 cores, plus the build
#   tests/bench/chain.sh --full     # catch-up of 1,000,000 events (about 8 minutes more)
#
# (a) a 3-node full-mesh chain under open-loop earns at 1,000 and 10,000 ops/s
#     offered, spread over the three nodes: achieved throughput, client latency,
#     replication lag from each node's `repl.lag` log lines, CPU, disk writes;
# (c) in the same chain under 1,000 ops/s: kill -9 one node, keep the load on the
#     other two for 10 s, stop it, restart the node, and poll every node's status
#     every 100 ms until all hold the same events and every peer row shows converged;
# (b) a 2-node chain: enroll customers at A, stop B (SIGTERM), write earns at A,
#     start B, poll until B holds as many events as A: catch-up events/s, against
#     raw durable LMDB commits of 1,000 puts (a catch-up reply's size);
# (d) peak RSS (VmHWM) of every loyald and its store size (data.mdb) per million events.
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_NO_BUILD=1 (use the binaries as they are),
# LY_BENCH_CHAIN_SECONDS per load level (default 30), LY_BENCH_CHAIN_CUSTOMERS
# (default 10000), LY_BENCH_CATCHUP_EVENTS (default 200000; --full 1000000),
# LY_BENCH_CATCHUP_CUSTOMERS (default 100000), LY_BENCH_CHAIN_OUT (default
# stdout), LY_BENCH_KEEP=1 (keep the temporary directory with the logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
CHAIN_SECONDS=${LY_BENCH_CHAIN_SECONDS:-30}
CHAIN_CUSTOMERS=${LY_BENCH_CHAIN_CUSTOMERS:-10000}
CATCHUP_CUSTOMERS=${LY_BENCH_CATCHUP_CUSTOMERS:-100000}
CATCHUP_DEFAULT=200000
MODE=standard
if [[ ${1:-} == --full ]]; then
    CATCHUP_DEFAULT=1000000
    MODE=full
    shift
fi
if (($#)); then
    echo "usage: tests/bench/chain.sh [--full]" >&2
    exit 2
fi
CATCHUP_EVENTS=${LY_BENCH_CATCHUP_EVENTS:-$CATCHUP_DEFAULT}
OUT=${LY_BENCH_CHAIN_OUT:-/dev/stdout}
RATES=(1000 10000)
LOW_CLIENTS=48   # 1,000 ops/s: a send every 48 ms per client
HIGH_CLIENTS=192 # 10,000 ops/s: enough in flight for ~20 ms service times
RESTART_RATE=1000
RESTART_BEFORE_S=5 # load before the kill
RESTART_DOWN_S=10  # load while the node is down
CATCHUP_CLIENTS=64
LMDB_SECONDS=5
POLL_MS=100

BENCH_NAME=chain.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

if [[ ${LY_BENCH_NO_BUILD:-0} != 1 ]]; then
    build_targets loyald loyalctl loyalbench lmdb_baseline chainwait
fi
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench
LMDB=$BUILD/tests/bench/lmdb_baseline
CHAINWAIT=$BUILD/tests/bench/chainwait

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-chain-XXXXXX")
NODE_DIR=$WORK # the nodes' configs, logs and data (lib.sh's chain helpers)
BG_PID=

cleanup() {
    if [[ -n $BG_PID ]]; then
        stop_pid "$BG_PID" TERM
    fi
    stop_nodes 10
    remove_work "$WORK" "${LY_BENCH_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# json_array JSON KEY: the numbers of the array "KEY":[...], space-separated.
json_array() {
    sed -n "s/.*\"$2\":\[\([-0-9.,]*\)\].*/\1/p" <<<"$1" | tr ',' ' '
}

ms_since() { echo $(($(now_ms) - $1)); }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
ms_to_s() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1000 }'; }

stop_node() {
    if [[ $2 == KILL ]]; then
        # Quietly: bash reports a job killed by a signal on its stderr.
        stop_pid "${PID[$1]}" "$2" 2>/dev/null
    else
        stop_pid "${PID[$1]}" "$2"
    fi
    PID[$1]=
}

# Polls nodes $@ until they have converged (at most 120 s); prints chainwait's JSON.
converge() {
    local j name
    if ! j=$("$CHAINWAIT" --nodes "$(endpoints "$@")" --interval "$POLL_MS" --timeout 120 --json); then
        log "nodes $* did not converge within 120 s: $j"
        for name in "$@"; do
            tail -n 20 "$WORK/$name.log" >&2
        done
        exit 1
    fi
    echo "$j"
}

# The events count node $1 reports.
events_of() {
    json_get "$("$LOYALCTL" --node "${CLIENT_EP[$1]}" --timeout 5 --json status)" events
}

# Waits until every node of $@ has logged a repl.lag line stamped after
# $T_AFTER (ISO, taken at $T_AFTER_MS), or 11 s have passed (a node reports
# every 10 s if it applied anything since its last line): then the lag
# histogram of what came before is flushed.
T_AFTER=
T_AFTER_MS=0
mark() {
    T_AFTER=$(now_iso)
    T_AFTER_MS=$(now_ms)
}
wait_lag_flush() {
    local name missing
    while (($(ms_since "$T_AFTER_MS") < 11000)); do
        missing=0
        for name in "$@"; do
            awk -v t="$T_AFTER" '$1 > t && / repl\.lag / { f = 1 } END { exit !f }' \
                "$WORK/$name.log" || missing=1
        done
        ((missing)) || return 0
        sleep 0.2
    done
}

# lag_summary LOG FROM: over the repl.lag lines stamped after FROM (ISO), up to
# and including the first one after $T_AFTER: "lines events p50 p99 max", p50
# the events-weighted mean of the lines' p50, p99 and max the largest of theirs.
lag_summary() {
    awk -v from="$2" -v end="$T_AFTER" '
        $1 > from && / repl\.lag / {
            for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            n++; ev += v["events"]; w += v["events"] * v["p50_ms"]
            if (v["p99_ms"] > p99) p99 = v["p99_ms"]
            if (v["max_ms"] > mx) mx = v["max_ms"]
            if ($1 > end) exit
        }
        END { printf "%d %d %.0f %d %d\n", n, ev, (ev > 0 ? w / ev : 0), p99, mx }' "$1"
}

# CPU ticks (user + system) of process $1.
cpu_ticks() { awk '{ printf "%.0f\n", $14 + $15 }' "/proc/$1/stat"; }
# What else keeps the machine busy (lib.sh's background_sample), with none of
# this benchmark's load running (its idle nodes may show), labelled $1.
BACKGROUND=()
background() {
    BACKGROUND+=("$1: $(background_sample)")
}

# VmHWM and current RssAnon/RssFile of process $1, in MiB: "hwm anon file".
mem_of() {
    awk '/^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
         END { printf "%.0f %.0f %.0f\n", h / 1024, a / 1024, f / 1024 }' "/proc/$1/status"
}

# Memory and store rows for node $1 (a Markdown table row); $2 a note.
MEM_ROWS=()
mem_row() {
    local name=$1 note=$2 events size du_k hwm anon file
    events=$(events_of "$name")
    size=$(stat -c %s "$WORK/$name/data.mdb")
    du_k=$(du -k "$WORK/$name/data.mdb" | cut -f1)
    read -r hwm anon file < <(mem_of "${PID[$name]}")
    MEM_ROWS+=("| $name | $note | $(fmt_num "$events") | $hwm | $anon | $file |\
 $(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1048576 }') |\
 $(awk -v s="$size" -v e="$events" 'BEGIN { printf "%.0f", (e > 0 ? s / e * 1e6 / 1048576 : 0) }') |\
 $(awk -v s="$du_k" -v e="$events" 'BEGIN { printf "%.0f", (e > 0 ? s * 1024 / e : 0) }') |")
}

# ============ (a) 3-node chain under open-loop load ============
NODES3=(n1 n2 n3)
make_chain "${NODES3[@]}"
log "starting a 3-node chain (${NODES3[*]})"
for name in "${NODES3[@]}"; do
    start_node "$name"
done
for name in "${NODES3[@]}"; do
    wait_node "$name" || exit 1
done
background "before (a)"
EPS3=$(endpoints "${NODES3[@]}")
converge "${NODES3[@]}" >/dev/null
log "enrolling $CHAIN_CUSTOMERS customers, spread over the three nodes"
"$BENCH" --nodes "$EPS3" --customers "$CHAIN_CUSTOMERS" --enroll --ops 0 --prefix chain
converge "${NODES3[@]}" >/dev/null
mark
wait_lag_flush "${NODES3[@]}"

LOAD_ROWS=()
LAG_ROWS=()
declare -A ACHIEVED=()
for rate in "${RATES[@]}"; do
    clients=$LOW_CLIENTS
    ((rate > 1000)) && clients=$HIGH_CLIENTS
    declare -A C0=()
    for name in "${NODES3[@]}"; do
        C0[$name]=$(cpu_ticks "${PID[$name]}")
    done
    read -r mb0 mw0 mt0 < <(machine_ticks)
    from=$(now_iso)
    log "offering $rate earns/s for $CHAIN_SECONDS s from $clients clients over the 3 nodes"
    j=$("$BENCH" --nodes "$EPS3" --clients "$clients" --rate "$rate" --duration "$CHAIN_SECONDS" \
        --customers "$CHAIN_CUSTOMERS" --prefix chain --mix earn=100,redeem=0,customer=0 --json)
    mark
    read -r mb1 mw1 mt1 < <(machine_ticks)
    declare -A C1=()
    for name in "${NODES3[@]}"; do
        C1[$name]=$(cpu_ticks "${PID[$name]}")
    done
    wall_ticks=$((mt1 - mt0))
    wall_ticks=$((wall_ticks / $(nproc)))
    conv=$(converge "${NODES3[@]}")
    conv_ms=$(json_get "$conv" ms_converged)
    wait_lag_flush "${NODES3[@]}"
    ops=$(json_get "$j" ops_per_s)
    ACHIEVED[$rate]=$ops
    errs=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$j" | tr -d '"')
    cpu_cells=
    for name in "${NODES3[@]}"; do
        c=$((C1[$name] - C0[$name]))
        cpu_cells+="$(awk -v c="$c" -v t="$wall_ticks" 'BEGIN { printf "%.0f", 100 * c / t }')%"
        [[ $name != "${NODES3[-1]}" ]] && cpu_cells+=", "
    done
    machine=$(busy_text "$((mb1 - mb0))" "$((mw1 - mw0))" "$((mt1 - mt0))")
    LOAD_ROWS+=("| $(fmt_num "$rate") | $clients | $(fmt_num "$ops") | $(ratio "$ops" "$rate") |\
 $(json_get "$j" svc_p50_us) | $(json_get "$j" svc_p99_us) | $(json_get "$j" p50_us) |\
 $(json_get "$j" p99_us) | $(fmt_num "$(json_get "$j" late)") | ${errs:-none} | $cpu_cells | $machine | $conv_ms |")
    worst=
    worst_p99=-1
    per_node=
    for name in "${NODES3[@]}"; do
        read -r lines events p50 p99 mx < <(lag_summary "$WORK/$name.log" "$from")
        per_node+="$name: $p50 / $p99 / $mx ($lines lines, $(fmt_num "$events") events); "
        if ((p99 > worst_p99)); then
            worst_p99=$p99
            worst="$name $p50 $p99 $mx"
        fi
    done
    read -r wname wp50 wp99 wmax <<<"$worst"
    svc50=$(json_get "$j" svc_p50_us)
    LAG_ROWS+=("| $(fmt_num "$rate") | $wname | $wp50 | $wp99 | $wmax |\
 $(awk -v l="$wp50" -v s="$svc50" 'BEGIN { printf "%.1f", (s > 0 ? l * 1000 / s : 0) }') | ${per_node%; } |")
done

# ============ (c) converging after a kill -9 and restart ============
VICTIM=n3
SURVIVORS=(n1 n2)
log "restart: $RESTART_RATE earns/s at ${SURVIVORS[*]}; kill -9 $VICTIM after $RESTART_BEFORE_S s"
"$BENCH" --nodes "$(endpoints "${SURVIVORS[@]}")" --clients "$LOW_CLIENTS" --rate "$RESTART_RATE" \
    --duration $((RESTART_BEFORE_S + RESTART_DOWN_S)) --customers "$CHAIN_CUSTOMERS" --prefix chain \
    --mix earn=100,redeem=0,customer=0 --json >"$WORK/restart-load.json" &
BG_PID=$!
sleep "$RESTART_BEFORE_S"
victim_events=$(events_of "$VICTIM")
read -r hwm_victim _ _ < <(mem_of "${PID[$VICTIM]}")
stop_node "$VICTIM" KILL
killed_ms=$(now_ms)
wait "$BG_PID"
BG_PID=
RESTART_LOAD=$(cat "$WORK/restart-load.json")
down_ms=$(ms_since "$killed_ms")
restart_ms=$(now_ms)
start_node "$VICTIM"
RC=$("$CHAINWAIT" --nodes "$EPS3" --interval "$POLL_MS" --timeout 120 --since-ms "$restart_ms" \
    --json) || log "the chain did not converge within 120 s of the restart: $RC"
read -r -a rc_events <<<"$(json_array "$RC" events)"
read -r -a rc_first <<<"$(json_array "$RC" events_first)"
RESTART_MISSED=$((rc_events[0] - rc_first[2]))

for name in "${NODES3[@]}"; do
    note="after (a) and (c)"
    [[ $name == "$VICTIM" ]] && note="since its restart (before the kill: VmHWM $hwm_victim MiB)"
    mem_row "$name" "$note"
done
RESTART_LOG=$(grep -h -E 'peer\.(welcomed|rehello|session)|server\.batch_replay|store\.grew' \
    "$WORK/$VICTIM.log" "$WORK/n1.log" "$WORK/n2.log" |
    awk -v t="$(date -u -d "@$((restart_ms / 1000))" +%Y-%m-%dT%H:%M:%S)" '$1 >= t' | sort)
for name in "${NODES3[@]}"; do
    stop_node "$name" TERM
done

# ============ (b) catch-up after a stop ============
background "before (b)"
NODES2=(a b)
make_chain "${NODES2[@]}"
log "starting a 2-node chain (${NODES2[*]})"
for name in "${NODES2[@]}"; do
    start_node "$name"
done
for name in "${NODES2[@]}"; do
    wait_node "$name" || exit 1
done
EPS_A=${CLIENT_EP[a]}
log "enrolling $CATCHUP_CUSTOMERS customers at a"
t0=$(now_ms)
"$BENCH" --node "$EPS_A" --customers "$CATCHUP_CUSTOMERS" --enroll --ops 0 --prefix cu
ENROLL2_MS=$(ms_since "$t0")
converge "${NODES2[@]}" >/dev/null
before=$(events_of a)
log "stopping b (SIGTERM); writing $CATCHUP_EVENTS earns at a from $CATCHUP_CLIENTS clients"
stop_node b TERM
WJ=$("$BENCH" --node "$EPS_A" --clients "$CATCHUP_CLIENTS" --ops "$CATCHUP_EVENTS" \
    --customers "$CATCHUP_CUSTOMERS" --prefix cu --mix earn=100,redeem=0,customer=0 --json)
after=$(events_of a)
MISSING=$((after - before))

log "lmdb_baseline: $CATCHUP_CUSTOMERS keys, batch 1000 ($LMDB_SECONDS s)"
LJ=$("$LMDB" --dir "$WORK/lmdb-1000" --keys "$CATCHUP_CUSTOMERS" --batch 1000 \
    --seconds "$LMDB_SECONDS" --json)
rm -rf "$WORK/lmdb-1000"

log "starting b: it lacks $MISSING events"
start2_ms=$(now_ms)
start_node b
CJ=$("$CHAINWAIT" --nodes "$(endpoints "${NODES2[@]}")" --interval "$POLL_MS" --timeout 1200 \
    --since-ms "$start2_ms" --progress --json 2>"$WORK/catchup-progress.txt") ||
    log "b did not converge within 1200 s: $CJ"
# About ten samples of b's count over time: "ms: events".
CATCHUP_CURVE=$(awk '{ sub(/:$/, "", $3); t[NR] = $2; e[NR] = $5 + 0 }
    END { step = NR > 10 ? int(NR / 10) : 1
          for (i = 1; i <= NR; i += step) printf "%s%s ms: %d", (i > 1 ? ", " : ""), t[i], e[i]
          if ((NR - 1) % step) printf ", %s ms: %d", t[NR], e[NR] }' "$WORK/catchup-progress.txt")
CATCHUP_MS=$(json_get "$CJ" ms_equal)
CATCHUP_FIRST_MS=$(json_get "$CJ" ms_first_change)
CATCHUP_RATE=$(awk -v n="$MISSING" -v ms="$CATCHUP_MS" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }')
# From the first poll that saw b's count move to the last: without b's
# start-up and hellos.
read -r -a cj_final <<<"$(json_array "$CJ" events)"
read -r -a cj_change <<<"$(json_array "$CJ" events_at_change)"
CATCHUP_STEADY=$(awk -v n="$((cj_final[1] - cj_change[1]))" -v a="$CATCHUP_FIRST_MS" \
    -v b="$CATCHUP_MS" 'BEGIN { printf "%.0f", (b > a && a >= 0 ? n * 1000 / (b - a) : 0) }')
LMDB_PUTS=$(json_get "$LJ" puts_per_s)
for name in "${NODES2[@]}"; do
    mem_row "$name" "after (b)"
done
CATCHUP_LOG=$(grep -h -E 'peer\.(welcomed|rehello)|server\.batch_replay|store\.grew|repl\.lag' \
    "$WORK/b.log" | awk -v t="$(date -u -d "@$((start2_ms / 1000))" +%Y-%m-%dT%H:%M:%S)" '$1 >= t')
for name in "${NODES2[@]}"; do
    stop_node "$name" TERM
done

# ============ the report ============
single_ops=$(json_get "$WJ" ops_per_s)
{
    echo "## Chain (replication), localhost"
    echo
    echo "Written by \`tests/bench/chain.sh\` ($MODE mode) on $(date -u '+%Y-%m-%d %H:%M UTC')." \
        "Every node runs on this machine, sharing its $(nproc) CPUs and one disk;" \
        "all nodes \`log_level = info\`, default \`batch_max\` and map size."
    echo
    echo "Other load on the machine, sampled for 2 s with nothing of this benchmark running:"
    printf -- '- %s\n' "${BACKGROUND[@]}"
    echo
    echo "### (a) 3-node full-mesh chain, open-loop earns"
    echo
    echo "$(fmt_num "$CHAIN_CUSTOMERS") customers enrolled first (spread over the nodes); then earns only," \
        "offered at a fixed rate for $CHAIN_SECONDS s per row by \`loyalbench --rate\`, the" \
        "clients spread round-robin over the three nodes. Service latency runs from a" \
        "request's send to its reply; scheduled latency from the time the schedule meant" \
        "to send it (it includes waiting for the client's previous request; when the" \
        "offered rate is not reached it grows with the run's length). CPU is per node," \
        "in % of one core over the run; machine: all CPUs, everything running on it" \
        "(see \"other load\" below). Converged: ms after the load ended" \
        "until all three held the same events with every peer row converged (heartbeats" \
        "come once a second)."
    echo
    echo "| offered ops/s | clients | achieved ops/s | achieved / offered | service p50 µs | service p99 µs | scheduled p50 µs | scheduled p99 µs | sent > 1 ms late | errors | loyald CPU (n1, n2, n3) | machine | converged ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${LOAD_ROWS[@]}"
    echo
    low=${ACHIEVED[${RATES[0]}]}
    high=${ACHIEVED[${RATES[1]}]}
    if awk -v a="$high" -v r="${RATES[1]}" 'BEGIN { exit !(a < 0.95 * r) }'; then
        echo "**${RATES[1]} ops/s is not reachable on this machine:** the chain accepted" \
            "$(fmt_num "$high") ops/s ($(ratio "$high" "${RATES[1]}") of the offer)" \
            "with $HIGH_CLIENTS clients."
    else
        echo "${RATES[1]} ops/s offered was held: $(fmt_num "$high") ops/s."
    fi
    echo "Baseline from this run: one node (of a 2-node chain with its peer stopped) took" \
        "$(fmt_num "$single_ops") earns/s from $CATCHUP_CLIENTS closed-loop clients in (b);" \
        "the chain's $(fmt_num "$high") ops/s is $(ratio "$high" "$single_ops") of that, and" \
        "$(fmt_num "$low") at ${RATES[0]} offered is $(ratio "$low" "$single_ops")."
    echo
    echo "Replication lag, from the nodes' \`repl.lag\` lines (wall time at the local commit" \
        "minus the event's HLC at its origin, for events applied from peers; one line per" \
        "node every 10 s): the lines stamped during the run and the one that flushed its" \
        "tail. p50 is the events-weighted mean of the lines' p50, p99 and max the largest" \
        "of the lines' (an upper bound of the run's p99). The worst node is the one with" \
        "the largest p99. Lag / service: the worst node's lag p50 over the clients'" \
        "service p50 at the same load."
    echo
    echo "| offered ops/s | worst node | lag p50 ms | lag p99 ms | lag max ms | lag p50 / service p50 | per node: p50 / p99 / max ms |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${LAG_ROWS[@]}"
    echo
    echo "### (b) catch-up after a stop, 2-node chain"
    echo
    echo "$(fmt_num "$CATCHUP_CUSTOMERS") customers enrolled at a ($(ms_to_s "$ENROLL2_MS") s," \
        "replicated to b); b stopped with SIGTERM; $(fmt_num "$CATCHUP_EVENTS") earns written" \
        "at a by $CATCHUP_CLIENTS closed-loop clients ($(fmt_num "$single_ops") ops/s," \
        "p50 $(json_get "$WJ" p50_us) µs, p99 $(json_get "$WJ" p99_us) µs); b started;" \
        "time from b's start until its status shows a's events count (polled every" \
        "$POLL_MS ms). A catch-up reply carries at most 1,000 events and is committed as" \
        "one transaction; the baseline is \`lmdb_baseline --keys $CATCHUP_CUSTOMERS --batch" \
        "1000\`: durable commits of 1,000 random 100-byte puts, in the same run."
    if [[ $MODE == standard ]]; then
        echo "Standard mode: $(fmt_num "$CATCHUP_EVENTS") events (\`--full\` or" \
            "LY_BENCH_CATCHUP_EVENTS=1000000 measures 1,000,000)."
    fi
    echo
    echo "| events b lacked | b answers after ms | count first moved after ms | same events count after ms | converged after ms | catch-up events/s (from start) | catch-up events/s (from first move) | raw LMDB puts/s (batch 1000) | catch-up / LMDB |"
    echo "|---|---|---|---|---|---|---|---|---|"
    echo "| $(fmt_num "$MISSING") | $(json_get "$CJ" ms_answer) | $CATCHUP_FIRST_MS | $CATCHUP_MS | $(json_get "$CJ" ms_converged) |" \
        "$(fmt_num "$CATCHUP_RATE") | $(fmt_num "$CATCHUP_STEADY") |" \
        "$(fmt_num "$LMDB_PUTS") ($(fmt_num "$(json_get "$LJ" commits_per_s)") commits/s) |" \
        "$(ratio "$CATCHUP_RATE" "$LMDB_PUTS") (from first move: $(ratio "$CATCHUP_STEADY" "$LMDB_PUTS")) |"
    echo
    echo "b's events count while it caught up (ms since its start): $CATCHUP_CURVE."
    echo
    echo "b's log from its start:"
    echo
    echo '```'
    echo "$CATCHUP_LOG"
    echo '```'
    echo
    echo "### (c) converging after kill -9 and restart"
    echo
    echo "3-node chain, $(fmt_num "$RESTART_RATE") earns/s offered at n1 and n2" \
        "($(json_get "$RESTART_LOAD" ops_per_s) ops/s achieved," \
        "service p99 $(json_get "$RESTART_LOAD" svc_p99_us) µs); after $RESTART_BEFORE_S s" \
        "\`kill -9\` $VICTIM (it held $(fmt_num "$victim_events") events); the load went on for" \
        "$(ms_to_s "$down_ms") s and stopped; then $VICTIM was restarted and every node's" \
        "status polled every $POLL_MS ms. The load stops before the restart so that" \
        "\"same events count\" is a fixed target."
    echo
    echo "| events $VICTIM lacked at restart | answers after ms | same events count after ms | all peer rows converged after ms | catch-up events/s (to same count) | converged / heartbeat period (1 s) |"
    echo "|---|---|---|---|---|---|"
    echo "| $(fmt_num "$RESTART_MISSED") | $(json_get "$RC" ms_answer) | $(json_get "$RC" ms_equal) |" \
        "$(json_get "$RC" ms_converged) |" \
        "$(awk -v n="$RESTART_MISSED" -v ms="$(json_get "$RC" ms_equal)" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }') |" \
        "$(awk -v ms="$(json_get "$RC" ms_converged)" 'BEGIN { printf "%.1f", ms / 1000 }') |"
    echo
    echo "Replication log lines after the restart (all three nodes):"
    echo
    echo '```'
    echo "$RESTART_LOG"
    echo '```'
    echo
    echo "### (d) memory and store size"
    echo
    echo "VmHWM is the peak resident set; it counts the LMDB map's pages the process" \
        "touched (RssFile, shared with the page cache) as well as its heap (RssAnon)," \
        "both shown as they were when measured. Store: data.mdb's size (its high-water" \
        "mark: LMDB reuses freed pages but does not shrink the file)."
    echo
    echo "| node | when | events | VmHWM MiB | RssAnon MiB | RssFile MiB | data.mdb MiB | data.mdb MiB per million events | allocated bytes per event |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${MEM_ROWS[@]}"
} >"$OUT"
log "done"
