#!/usr/bin/env bash
# scale.sh -- the scaling series: chains of 1, 3 and 5 loyald on localhost
# holding 10 thousand, 1 million (and, with --full, 10 million) customers; how
# bulk-load rate, throughput, latency, convergence, memory and store size grow.
# Writes tests/bench/SCALING.md.
#
#   tests/bench/scale.sh --quick   # 10,000 customers x 1, 3, 5 nodes (about 1 minute)
#   tests/bench/scale.sh           # 10,000 and 1,000,000 customers x 1, 3, 5 nodes (about 15 minutes)
#   tests/bench/scale.sh --full    # and 10,000,000 customers x 1, 3, 5 (hours; not yet run)
#
# Budget: the default must finish within 20 minutes on 2 cores. On the shared
# 2-core test machine (niced, other jobs running) it took about 15 minutes, all
# six rows included; a 1,000,000-customer row takes 3.5 to 6 minutes, most of
# it the bulk load of 2,000,000 events, which every node applies. On a slower
# machine, LY_SCALE_SERIES="10000:1 10000:3 10000:5 1000000:1 1000000:3" drops
# the slowest row (1,000,000 on 5 nodes).
#
# For each (customers, nodes): a fresh full-mesh chain on free loopback ports
# (ids 1..N, log_level info); enroll the customers once with `loyalbench
# --enroll --ops 0` spread over all nodes (each customer is an enroll and a
# seed earn of 100 points: two events), timed until every node holds them all
# (chainwait); then `loyalbench` closed loop, 64 clients spread over the nodes,
# skewed (80% of operations on 20% of customers), default mix, for
# LY_SCALE_SECONDS; then the time until the chain converged again; then per
# node VmRSS / RssAnon / RssFile / VmHWM, data.mdb and wal on disk and events
# held; then SIGTERM to every node and its data directory is removed. A row
# that would need more disk than is free (about 800 bytes per event and node:
# some 16 GB per node at 10,000,000 customers) is reported as not run.
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_NO_BUILD=1 (use the binaries as they are),
# LY_SCALE_SECONDS per load run (default 10), LY_SCALE_CLIENTS (default 64),
# LY_SCALE_ENROLL_CLIENTS (default 64), LY_SCALE_SERIES (the runs, overriding
# the mode: "CUSTOMERS:NODES ...", e.g. "1000000:5"), LY_SCALE_OUT (default
# tests/bench/SCALING.md), LY_SCALE_KEEP=1 (keep the temporary directory with
# the configs and logs; data directories are removed after each run anyway).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
LOAD_SECONDS=${LY_SCALE_SECONDS:-10}
LOAD_CLIENTS=${LY_SCALE_CLIENTS:-64}
ENROLL_CLIENTS=${LY_SCALE_ENROLL_CLIENTS:-64}
OUT=${LY_SCALE_OUT:-$ROOT/tests/bench/SCALING.md}
PREFIX=sc
POLL_MS=100
BYTES_PER_EVENT=800  # disk reserve per event and node (measured: 600-750 at 1,000,000 customers)
ENROLL_CONVERGE_S=7200
LOAD_CONVERGE_S=600

MODE=default
case "${1:-}" in
"") ;;
--quick) MODE=quick ;;
--full) MODE=full ;;
-h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: tests/bench/scale.sh [--quick | --full]" >&2
    exit 2
    ;;
esac
if (($# > 1)); then
    echo "usage: tests/bench/scale.sh [--quick | --full]" >&2
    exit 2
fi
case $MODE in
quick) SERIES="10000:1 10000:3 10000:5" ;;
default) SERIES="10000:1 10000:3 10000:5 1000000:1 1000000:3 1000000:5" ;;
full) SERIES="10000:1 10000:3 10000:5 1000000:1 1000000:3 1000000:5 10000000:1 10000000:3 10000000:5" ;;
esac
SERIES=${LY_SCALE_SERIES:-$SERIES}
for run in $SERIES; do
    if ! [[ $run =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || ((${run#*:} > 16)); then
        echo "scale.sh: bad run '$run' in LY_SCALE_SERIES (CUSTOMERS:NODES, at most 16 nodes)" >&2
        exit 2
    fi
done
START_S=$SECONDS

BENCH_NAME=scale.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

if [[ ${LY_BENCH_NO_BUILD:-0} != 1 ]]; then
    build_targets loyald loyalctl loyalbench chainwait
fi
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench
CHAINWAIT=$BUILD/tests/bench/chainwait
for bin in "$LOYALD" "$LOYALCTL" "$BENCH" "$CHAINWAIT"; do
    if [[ ! -x $bin ]]; then
        log "missing $bin (build it, or unset LY_BENCH_NO_BUILD)"
        exit 1
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-scale-XXXXXX")
PROGRESS_PID=
CHILD_PID=

stop_progress() {
    if [[ -n $PROGRESS_PID ]]; then
        kill "$PROGRESS_PID" 2>/dev/null || true
        wait "$PROGRESS_PID" 2>/dev/null || true
        PROGRESS_PID=
    fi
}

# Stops the chain's nodes; SIGKILL after 30 s (a node with a large store
# checkpoints before it exits).
stop_chain() { stop_nodes 30; }

cleanup() {
    if [[ -n $CHILD_PID ]]; then
        kill "$CHILD_PID" 2>/dev/null || true
        wait "$CHILD_PID" 2>/dev/null || true
    fi
    stop_progress
    stop_chain
    remove_work "$WORK" "${LY_SCALE_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# calc EXPR [FORMAT]: awk arithmetic, printed with FORMAT (default %.1f).
calc() { LC_ALL=C awk "BEGIN { printf \"${2:-%.1f}\", $1 }"; }
# short N: 10000 -> 10k, 1000000 -> 1M.
short() {
    if (($1 >= 1000000 && $1 % 1000000 == 0)); then
        echo "$(($1 / 1000000))M"
    elif (($1 >= 1000 && $1 % 1000 == 0)); then
        echo "$(($1 / 1000))k"
    else
        echo "$1"
    fi
}

# run_child CMD...: runs CMD in the background and waits for it, so that a
# signal to this script is handled at once (cleanup stops CMD); CMD's status.
run_child() {
    local rc=0
    "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=
    return "$rc"
}

# converge TIMEOUT_S NODES...: polls until the nodes have converged; prints
# chainwait's JSON; 1 (after showing the logs' tails) if not within TIMEOUT_S.
converge() {
    local timeout=$1 name
    shift
    if ! run_child "$CHAINWAIT" --nodes "$(endpoints "$@")" --interval "$POLL_MS" \
        --timeout "$timeout" --json >"$NODE_DIR/chainwait.json"; then
        log "nodes $* did not converge within $timeout s: $(cat "$NODE_DIR/chainwait.json")"
        for name in "$@"; do
            tail -n 10 "$NODE_DIR/$name.log" >&2
        done
        return 1
    fi
    cat "$NODE_DIR/chainwait.json"
}

# status_of NODE: its `loyalctl --json status` (empty if it does not answer).
status_of() {
    "$LOYALCTL" --node "${CLIENT_EP[$1]}" --timeout 10 --json status 2>/dev/null || true
}

# progress TOTAL NODE: every 15 s (every 60 s above 2,000,000 customers), how
# many customers NODE holds (its own enrolls and those replicated to it), on
# stderr. Runs in the background.
progress() {
    local total=$1 node=$2 t0 n el every=15
    ((total > 2000000)) && every=60
    t0=$(now_ms)
    while sleep "$every"; do
        n=$(json_get "$(status_of "$node")" customers)
        el=$(($(now_ms) - t0))
        log "  enrolling: $node holds $(fmt_num "${n:-0}") of $(fmt_num "$total") customers" \
            "after $((el / 1000)) s ($(calc "${n:-0} * 1000 / $el" %.0f)/s)"
    done
}

# VmRSS, RssAnon, RssFile, VmHWM of process $1 in KiB: "rss anon file hwm".
mem_of() {
    awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^VmHWM:/ { h = $2 }
         END { printf "%d %d %d %d\n", r, a, f, h }' "/proc/$1/status"
}
# Allocated bytes (du) and apparent size of file $1: "alloc size" (0 0 if missing).
disk_of() {
    if [[ -e $1 ]]; then
        echo "$(($(du -k "$1" | cut -f1) * 1024)) $(stat -c %s "$1")"
    else
        echo "0 0"
    fi
}

mib() { calc "$1 / 1048576" "${2:-%.0f}"; }

# ckpt_summary LOG FROM TO: the slow checkpoints (the node logs those of 100 ms
# or more at info) stamped from FROM to TO (ISO): "count total_ms max_ms".
ckpt_summary() {
    awk -v from="$2" -v to="$3" '$1 >= from && $1 <= to && / store\.checkpoint / {
            for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { v = substr($i, 4) + 0; n++; t += v; if (v > m) m = v } }
        END { printf "%d %d %d\n", n, t, m }' "$1"
}

# Results, by "CUSTOMERS:NODES".
declare -A R_ENROLL_CLIENT_MS=() R_ENROLL_MS=() R_ENROLL_EVENTS=() R_OPS=() R_P50=() R_P99=() \
    R_ERRS=() R_CONV_MS=() R_RSS=() R_ANON=() R_STORE=() R_EVENTS=() R_BPE=() \
    R_DBPE=() R_RUN_S=() R_FAIL=() R_BG=() R_CKPT=() R_MACHINE=()
NODE_ROWS=()

# run_one CUSTOMERS NODES: one row of the series. 1 (with R_FAIL set) on failure.
run_one() {
    local customers=$1 n=$2 key="$1:$2" names=() name i eps t0 j conv st events
    local rss anon file hwm data_a data_s wal_a wal_s store max_rss=0 max_anon=0 max_store=0
    local max_data=0 min_events='' max_events=0 from to b0 w0 t0m b1 w1 t1m
    local ck_n ck_t ck_m max_ck_t=-1 need avail
    for ((i = 1; i <= n; i++)); do
        names+=("n$i")
    done
    NODE_DIR=$WORK/c$customers-n$n
    mkdir -p "$NODE_DIR"
    # Two events per customer plus the load's, on every node.
    need=$((customers * 2 * BYTES_PER_EVENT * n + n * 64 * 1048576))
    avail=$(($(df -Pk "$WORK" | awk 'NR == 2 { print $4 }') * 1024))
    if ((avail < need)); then
        R_FAIL[$key]="not run: it needs about $(mib "$need") MiB of disk, $(mib "$avail") MiB free"
        return 1
    fi
    PID=()
    R_BG[$key]=$(background_sample)
    make_chain "${names[@]}" || {
        R_FAIL[$key]="no free ports for the chain"
        return 1
    }
    eps=$(endpoints "${names[@]}")
    log "[$(short "$customers") x $n] starting ${names[*]}"
    for name in "${names[@]}"; do
        start_node "$name"
    done
    for name in "${names[@]}"; do
        wait_node "$name" || {
            R_FAIL[$key]="$name did not start"
            return 1
        }
    done
    converge 60 "${names[@]}" >/dev/null || {
        R_FAIL[$key]="the new chain did not connect within 60 s"
        return 1
    }

    log "[$(short "$customers") x $n] enrolling $(fmt_num "$customers") customers over $n node(s)," \
        "$ENROLL_CLIENTS clients"
    progress "$customers" "${names[0]}" &
    PROGRESS_PID=$!
    t0=$(now_ms)
    if ! run_child "$BENCH" --nodes "$eps" --clients "$ENROLL_CLIENTS" --customers "$customers" \
        --enroll --ops 0 --prefix "$PREFIX" --timeout 60000; then
        stop_progress
        R_FAIL[$key]="the enroll failed (loyalbench exit status not 0)"
        return 1
    fi
    R_ENROLL_CLIENT_MS[$key]=$(($(now_ms) - t0))
    if ! converge "$ENROLL_CONVERGE_S" "${names[@]}" >/dev/null; then
        stop_progress
        R_FAIL[$key]="no convergence within $ENROLL_CONVERGE_S s of the enroll"
        return 1
    fi
    R_ENROLL_MS[$key]=$(($(now_ms) - t0))
    stop_progress
    R_ENROLL_EVENTS[$key]=$(json_get "$(status_of "${names[0]}")" events)
    log "[$(short "$customers") x $n] enrolled in $(calc "${R_ENROLL_MS[$key]} / 1000") s" \
        "(clients done after $(calc "${R_ENROLL_CLIENT_MS[$key]} / 1000") s);" \
        "$(fmt_num "${R_ENROLL_EVENTS[$key]}") events"

    log "[$(short "$customers") x $n] loyalbench: $LOAD_CLIENTS clients, skewed, $LOAD_SECONDS s"
    from=$(now_iso)
    read -r b0 w0 t0m < <(machine_ticks)
    if ! j=$("$BENCH" --nodes "$eps" --clients "$LOAD_CLIENTS" --duration "$LOAD_SECONDS" \
        --customers "$customers" --prefix "$PREFIX" --skew --json); then
        R_FAIL[$key]="loyalbench: no operation succeeded: $j"
        return 1
    fi
    read -r b1 w1 t1m < <(machine_ticks)
    to=$(now_iso)
    R_MACHINE[$key]=$(busy_text "$((b1 - b0))" "$((w1 - w0))" "$((t1m - t0m))" '%.0f / %.0f')
    R_OPS[$key]=$(json_get "$j" ops_per_s)
    R_P50[$key]=$(json_get "$j" p50_us)
    R_P99[$key]=$(json_get "$j" p99_us)
    R_ERRS[$key]=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$j" | tr -d '"')
    if ! conv=$(converge "$LOAD_CONVERGE_S" "${names[@]}"); then
        R_FAIL[$key]="no convergence within $LOAD_CONVERGE_S s of the load"
        return 1
    fi
    R_CONV_MS[$key]=$(json_get "$conv" ms_converged)

    for name in "${names[@]}"; do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            R_FAIL[$key]="$name exited before it was measured (see its log)"
            return 1
        fi
    done
    for name in "${names[@]}"; do
        st=$(status_of "$name")
        events=$(json_get "$st" events)
        read -r rss anon file hwm < <(mem_of "${PID[$name]}")
        read -r data_a data_s < <(disk_of "$NODE_DIR/$name/data.mdb")
        read -r wal_a wal_s < <(disk_of "$NODE_DIR/$name/wal")
        store=$((data_a + wal_a))
        read -r ck_n ck_t ck_m < <(ckpt_summary "$NODE_DIR/$name.log" "$from" "$to")
        if ((ck_t > max_ck_t)); then
            max_ck_t=$ck_t
            R_CKPT[$key]="$ck_n, $(calc "$ck_t / 1000")"
        fi
        NODE_ROWS+=("| $(fmt_num "$customers") | $n | $name | $(fmt_num "$events") |\
 $(calc "$rss / 1024" %.0f) | $(calc "$anon / 1024" %.0f) | $(calc "$file / 1024" %.0f) |\
 $(calc "$hwm / 1024" %.0f) | $(mib "$data_a") ($(mib "$data_s")) | $(mib "$wal_a") ($(mib "$wal_s")) |\
 $(mib "$store") | $(calc "$store / $events * 1e6 / 1048576" %.0f) | $(calc "$data_a / $events * 1e6 / 1048576" %.0f) |\
 $ck_n | $(calc "$ck_t / 1000") | $ck_m |")
        ((rss > max_rss)) && max_rss=$rss
        ((anon > max_anon)) && max_anon=$anon
        ((store > max_store)) && max_store=$store
        ((data_a > max_data)) && max_data=$data_a
        ((events > max_events)) && max_events=$events
        if [[ -z $min_events ]] || ((events < min_events)); then
            min_events=$events
        fi
    done
    R_RSS[$key]=$max_rss
    R_ANON[$key]=$max_anon
    R_STORE[$key]=$max_store
    R_EVENTS[$key]=$(fmt_num "$max_events")
    if ((min_events != max_events)); then
        R_EVENTS[$key]="$(fmt_num "$min_events")..$(fmt_num "$max_events")"
    fi
    R_BPE[$key]=$(calc "$max_store / $max_events" %.0f)
    R_DBPE[$key]=$(calc "$max_data / $max_events" %.0f)

    log "[$(short "$customers") x $n] $(fmt_num "${R_OPS[$key]}") ops/s, p50 $(calc "${R_P50[$key]} / 1000")" \
        "ms, p99 $(calc "${R_P99[$key]} / 1000") ms; converged after $(calc "${R_CONV_MS[$key]} / 1000") s;" \
        "RSS max $(calc "$max_rss / 1024" %.0f) MiB (anon $(calc "$max_anon / 1024" %.0f));" \
        "store max $(mib "$max_store") MiB"
    stop_chain
    rm -rf "${names[@]/#/$NODE_DIR/}"
    return 0
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $SERIES; do
    run_t0=$SECONDS
    if ! run_one "${run%:*}" "${run#*:}"; then
        [[ ${R_FAIL[$run]} == "not run"* ]] || R_FAIL[$run]="failed: ${R_FAIL[$run]}"
        log "[$run] ${R_FAIL[$run]}"
        stop_progress
        stop_chain
        rm -rf "$NODE_DIR"/n*/
    fi
    R_RUN_S[$run]=$((SECONDS - run_t0))
done
TOTAL_S=$((SECONDS - START_S))

# ---- sentences: how each figure grows ----
# nodes_word N: "1 node", "3 nodes".
nodes_word() { if (($1 == 1)); then echo "1 node"; else echo "$1 nodes"; fi; }
# has KEY: the run KEY ("CUSTOMERS:NODES") has results.
has() { [[ -n ${R_OPS[$1]:-} && -n ${R_RSS[$1]:-} && -z ${R_FAIL[$1]:-} ]]; }
# The customer counts and node counts with results; the smallest and largest customer count.
DONE=$(for k in "${!R_OPS[@]}"; do if has "$k"; then echo "$k"; fi; done)
CUSTS=$(for k in $DONE; do echo "${k%:*}"; done | sort -n | uniq)
NODESET=$(for k in $DONE; do echo "${k#*:}"; done | sort -n | uniq)
C_LO=$(head -n 1 <<<"$CUSTS")
C_HI=$(tail -n 1 <<<"$CUSTS")
SENTENCES=()
if [[ -n $C_LO ]]; then
    # With the node count: throughput, latency, bulk load, at each customer count.
    s="**With the number of nodes** (the same 64 clients spread over them, every node applying every event):"
    for c in $CUSTS; do
        part=
        for nn in $NODESET; do
            has "$c:$nn" || continue
            part+="${part:+, }$(nodes_word "$nn") $(fmt_num "${R_OPS[$c:$nn]}") ops/s (p99 $(calc "${R_P99[$c:$nn]} / 1000" %.0f) ms,"
            part+=" bulk load $(fmt_num "$(calc "${R_ENROLL_EVENTS[$c:$nn]} * 1000 / ${R_ENROLL_MS[$c:$nn]}" %.0f)") events/s)"
        done
        [[ -n $part ]] && s+=" at $(short "$c") customers: $part;"
    done
    SENTENCES+=("${s%;}.")
    if [[ $C_LO != "$C_HI" ]]; then
        s="**With the number of customers** (same node count, $(fmt_num "$C_LO") → $(fmt_num "$C_HI")):"
        for nn in $NODESET; do
            if ! has "$C_LO:$nn" || ! has "$C_HI:$nn"; then
                continue
            fi
            a=$C_LO:$nn
            b=$C_HI:$nn
            s+=" $(nodes_word "$nn"): ops/s ×$(calc "${R_OPS[$b]} / ${R_OPS[$a]}" %.2f),"
            s+=" p50 ×$(calc "${R_P50[$b]} / ${R_P50[$a]}" %.2f), p99 ×$(calc "${R_P99[$b]} / ${R_P99[$a]}" %.2f),"
            s+=" RssAnon $(calc "${R_ANON[$a]} / 1024" %.0f) → $(calc "${R_ANON[$b]} / 1024" %.0f) MiB,"
            s+=" VmRSS $(calc "${R_RSS[$a]} / 1024" %.0f) → $(calc "${R_RSS[$b]} / 1024" %.0f) MiB,"
            s+=" store $(mib "${R_STORE[$a]}") → $(mib "${R_STORE[$b]}") MiB"
            s+=" (data.mdb ${R_DBPE[$a]} → ${R_DBPE[$b]} bytes per event);"
        done
        SENTENCES+=("${s%;}.")
    fi
    s="**Convergence** after the load (until every node held the same events and every peer row showed converged; heartbeats come once a second):"
    for c in $CUSTS; do
        part=
        for nn in $NODESET; do
            if ((nn == 1)) || ! has "$c:$nn"; then
                continue
            fi
            part+="${part:+, }$nn nodes $(calc "${R_CONV_MS[$c:$nn]} / 1000" %.1f) s"
        done
        [[ -n $part ]] && s+=" $(short "$c") customers: $part;"
    done
    [[ $s == *";" ]] && SENTENCES+=("${s%;}.")
fi

# conv_cell KEY: the convergence seconds of run KEY; – for one node.
conv_cell() {
    if [[ ${1#*:} == 1 ]]; then
        echo "–"
    else
        calc "${R_CONV_MS[$1]} / 1000"
    fi
}

# ---- the report ----
case $MODE in
quick) MODE_TEXT="\`--quick\`: 10,000 customers only" ;;
default) MODE_TEXT="default: 10,000 and 1,000,000 customers on 1, 3 and 5 nodes (\`--full\` adds 10,000,000)" ;;
full) MODE_TEXT="\`--full\`: 10,000, 1,000,000 and 10,000,000 customers on 1, 3 and 5 nodes" ;;
esac
[[ -n ${LY_SCALE_SERIES:-} ]] && MODE_TEXT="LY_SCALE_SERIES=\"$SERIES\""
{
    echo "# Loyal scaling series"
    echo
    echo "Written by \`tests/bench/scale.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); runs: $MODE_TEXT."
    echo
    machine_lines "$WORK"
    echo "- other load when the run began: load average $LOADAVG (the machine is shared:" \
        "figures move with what else runs; each row's 2-s sample is listed below the tables)"
    echo "- niceness of the benchmark and its nodes: $(nice)"
    echo "- build: $BUILD_TYPE ($BUILD)"
    echo "- whole run: $((TOTAL_S / 60)) min $((TOTAL_S % 60)) s"
    echo "- every node on this machine, sharing its $(nproc) CPUs and one disk; full mesh;" \
        "\`log_level = info\`, default \`batch_max\`, map size and checkpoint policy"
    echo
    echo "Each row is a fresh chain. **Enroll**: \`loyalbench --enroll --ops 0\`, $ENROLL_CLIENTS" \
        "clients spread round-robin over the nodes; each customer is two events (enroll and a" \
        "seed earn of 100 points), so the bulk load writes 2 × customers events; the time runs" \
        "from the start until every node holds all of them (chainwait), and the rates are" \
        "customers and events per second of that. **Load**: \`loyalbench\` closed loop," \
        "$LOAD_CLIENTS clients spread over the nodes, skewed (80% of operations on 20% of" \
        "customers), mix earn=90 redeem=5 customer=5, $LOAD_SECONDS s; p50/p99 per operation." \
        "**Converged**: from the load's end until every node held the same events and every" \
        "peer row showed converged (– for one node: nothing to wait for). **Memory**, measured after that, the largest over the nodes:" \
        "VmRSS is the whole resident set, and includes the LMDB map's file-backed pages the node" \
        "has touched (RssFile, page cache shared with the kernel, dropped under memory pressure);" \
        "RssAnon is the node's own heap and stacks. **Store**: data.mdb + wal allocated on disk" \
        "(du), the largest over the nodes; the wal is preallocated (16 MiB), so at small" \
        "sizes it dominates. **Bytes per event**: that store over the events the node holds, and" \
        "in brackets data.mdb alone. **Machine busy / iowait**: all CPUs, everything running on" \
        "the machine, over the load's $LOAD_SECONDS s. **Slow checkpoints**: the node's" \
        "\`store.checkpoint\` log lines during the load (it logs those that took 100 ms or" \
        "more; a checkpoint writes the store's dirty pages and holds the node's loop meanwhile)," \
        "count and their total seconds, for the node with the largest total."
    echo
    echo "| customers | nodes | enroll s (clients done) | customers/s | events/s | ops/s | p50 ms | p99 ms | errors | machine busy / iowait % in load | slow checkpoints in load: n, s | converged s | RSS MiB VmRSS / RssAnon | store MiB per node | events per node | bytes per event (data.mdb only) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for run in $SERIES; do
        c=${run%:*}
        nn=${run#*:}
        if [[ -n ${R_FAIL[$run]:-} ]]; then
            echo "| $(fmt_num "$c") | $nn | ${R_FAIL[$run]} |||||||||||||"
            continue
        fi
        has "$run" || continue
        echo "| $(fmt_num "$c") | $nn | $(calc "${R_ENROLL_MS[$run]} / 1000") ($(calc "${R_ENROLL_CLIENT_MS[$run]} / 1000")) |" \
            "$(fmt_num "$(calc "$c * 1000 / ${R_ENROLL_MS[$run]}" %.0f)") |" \
            "$(fmt_num "$(calc "${R_ENROLL_EVENTS[$run]} * 1000 / ${R_ENROLL_MS[$run]}" %.0f)") |" \
            "$(fmt_num "${R_OPS[$run]}") | $(calc "${R_P50[$run]} / 1000") | $(calc "${R_P99[$run]} / 1000") |" \
            "${R_ERRS[$run]:-none} | ${R_MACHINE[$run]} | ${R_CKPT[$run]} | $(conv_cell "$run") |" \
            "$(calc "${R_RSS[$run]} / 1024" %.0f) / $(calc "${R_ANON[$run]} / 1024" %.0f) |" \
            "$(mib "${R_STORE[$run]}") | ${R_EVENTS[$run]} | ${R_BPE[$run]} (${R_DBPE[$run]}) |"
    done
    echo
    printf '%s\n\n' "${SENTENCES[@]}"
    echo "## Per node"
    echo
    echo "Measured after the load and convergence. VmHWM: the peak resident set since the" \
        "node started (the bulk load included). data.mdb and wal: allocated on disk (du), in" \
        "brackets their apparent size. Slow checkpoints: during the load, those of 100 ms or more."
    echo
    echo "| customers | nodes | node | events | VmRSS MiB | RssAnon MiB | RssFile MiB | VmHWM MiB | data.mdb MiB | wal MiB | store MiB | store MiB per million events | data.mdb MiB per million events | slow checkpoints in load | their s | slowest ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${NODE_ROWS[@]}"
    echo
    echo "## Time per row and other load"
    echo
    for run in $SERIES; do
        echo "- $(fmt_num "${run%:*}") customers × $(nodes_word "${run#*:}"): ${R_RUN_S[$run]:-?} s in all;" \
            "before it: ${R_BG[$run]:-not sampled}"
    done
} >"$OUT"
cat "$OUT"
log "wrote $OUT in $((TOTAL_S / 60)) min $((TOTAL_S % 60)) s"
