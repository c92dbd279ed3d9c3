#!/usr/bin/env bash
# run.sh -- build a release tree, measure the raw ceilings (durable LMDB commits,
# ZeroMQ round trips), one loyald under loyalbench, then chains of loyalds
# (chain.sh: replication lag, catch-up, restart, memory), and write RESULTS.md.
#
#   tests/bench/run.sh            # about 7 minutes on 2 cores, plus the build
#   tests/bench/run.sh --full     # the catch-up writes 1,000,000 events (about 8 more)
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_SECONDS per loyalbench run (default 10),
# LY_BENCH_CUSTOMERS (default 10000), LY_BENCH_CLIENTS (default "1 8 64"),
# LY_BENCH_OUT (default tests/bench/RESULTS.md), LY_BENCH_CHAIN=0 to leave the
# chain section out; chain.sh reads its own LY_BENCH_CHAIN_* and
# LY_BENCH_CATCHUP_* variables (see there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
SECONDS_PER_RUN=${LY_BENCH_SECONDS:-10}
CUSTOMERS=${LY_BENCH_CUSTOMERS:-10000}
CLIENTS=${LY_BENCH_CLIENTS:-"1 8 64"}
OUT=${LY_BENCH_OUT:-$ROOT/tests/bench/RESULTS.md}
CHAIN=${LY_BENCH_CHAIN:-1}
LMDB_SECONDS=5
ZMQ_SECONDS=3
CHAIN_ARGS=()
case "${1:-}" in
"") ;;
--full) CHAIN_ARGS=(--full) ;;
*)
    echo "usage: tests/bench/run.sh [--full]" >&2
    exit 2
    ;;
esac
START_S=$SECONDS

log() { printf 'run.sh: %s\n' "$*" >&2; }

# ---- build (incremental: only what changed) ----
log "building ($BUILD_TYPE) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" \
    --target loyald loyalctl loyalbench lmdb_baseline zmq_rtt chainwait >/dev/null
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench
LMDB=$BUILD/tests/bench/lmdb_baseline
ZRTT=$BUILD/tests/bench/zmq_rtt

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-bench-XXXXXX")
NODE_PID=
cleanup() {
    if [[ -n $NODE_PID ]] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill -TERM "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Below the kernel's ephemeral range, so that no outgoing connection holds it.
PORT_HI=$(awk '{ print ($1 > 20000 ? $1 : 32768) }' /proc/sys/net/ipv4/ip_local_port_range)
PORT_LO=$((PORT_HI > 20000 ? PORT_HI - 12000 : 20000))
# A port nothing listens on (connect refused), from a shuffled range.
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((PORT_LO + RANDOM % (PORT_HI - PORT_LO)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

# json_get JSON KEY: the number after "KEY": in a one-line JSON document.
json_get() {
    sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" <<<"$1"
}

# What else keeps the machine busy: busy % of all CPUs over 2 s before we start,
# and the processes that used more than 5% of a CPU then (top's second frame).
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%.0f %.0f %.0f\n", t - $5 - $6, $6, t }' /proc/stat
}
read -r b0 i0 t0 < <(cpu_ticks)
BUSIEST=
if command -v top >/dev/null 2>&1; then
    BUSIEST=$(top -b -n 2 -d 2 -w 200 | awk '/^ *PID/ { f++; next }
        f == 2 && NF >= 12 && $9 + 0 > 5 && n < 5 { printf "%s%s %s%%", sep, $12, $9; sep = ", "; n++ }')
else
    sleep 2
fi
read -r b1 i1 t1 < <(cpu_ticks)
BACKGROUND=$(awk -v b="$((b1 - b0))" -v w="$((i1 - i0))" -v t="$((t1 - t0))" \
    'BEGIN { printf "%.0f%% busy, %.0f%% iowait", 100 * b / t, 100 * w / t }')
BACKGROUND+=${BUSIEST:+; busiest: $BUSIEST (% of one CPU)}

# ---- raw ceilings ----
declare -A LMDB_PUTS LMDB_COMMITS
for b in 1 8 64; do
    log "lmdb_baseline batch $b ($LMDB_SECONDS s)"
    j=$("$LMDB" --dir "$WORK/lmdb-$b" --keys "$CUSTOMERS" --batch "$b" --seconds "$LMDB_SECONDS" --json)
    LMDB_PUTS[$b]=$(json_get "$j" puts_per_s)
    LMDB_COMMITS[$b]=$(json_get "$j" commits_per_s)
    rm -rf "$WORK/lmdb-$b"
done
log "zmq_rtt ($ZMQ_SECONDS s)"
ZJ=$("$ZRTT" --seconds "$ZMQ_SECONDS" --json)

# ---- one loyald ----
PORT=$(free_port)
PEER_PORT=$(free_port)
EP=tcp://127.0.0.1:$PORT
cat >"$WORK/node.ini" <<EOF
[node]
id = 1
name = bench
data_dir = $WORK/data
listen = $EP
peer_listen = tcp://127.0.0.1:$PEER_PORT
log_level = warn
EOF
log "starting loyald on $EP"
"$LOYALD" --config "$WORK/node.ini" 2>"$WORK/loyald.log" >/dev/null &
NODE_PID=$!
ready=0
for _ in $(seq 1 50); do
    if "$LOYALCTL" --node "$EP" --timeout 0.5 status >/dev/null 2>&1; then
        ready=1
        break
    fi
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.2
done
if [[ $ready != 1 ]]; then
    log "loyald did not start; its log:"
    tail -n 30 "$WORK/loyald.log" >&2
    exit 1
fi

log "enrolling $CUSTOMERS customers"
t0=$(date +%s.%N)
"$BENCH" --node "$EP" --customers "$CUSTOMERS" --enroll --ops 0
t1=$(date +%s.%N)
ENROLL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

ROWS=()
for c in $CLIENTS; do
    for dist in uniform skewed; do
        flag=()
        [[ $dist == skewed ]] && flag=(--skew)
        log "loyalbench $c clients, $dist, $SECONDS_PER_RUN s"
        j=$("$BENCH" --node "$EP" --clients "$c" --duration "$SECONDS_PER_RUN" \
            --customers "$CUSTOMERS" "${flag[@]}" --json)
        ops=$(json_get "$j" ops_per_s)
        p50=$(json_get "$j" p50_us)
        p99=$(json_get "$j" p99_us)
        errs=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$j" | tr -d '"')
        b=1
        ((c >= 8)) && b=8
        ((c >= 64)) && b=64
        ratio=$(awk -v a="$ops" -v b="${LMDB_PUTS[$b]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        ROWS+=("| $c | $dist | $(printf '%.0f' "$ops") | $p50 | $p99 | ${errs:-none} | $(printf '%.0f' "${LMDB_PUTS[$b]}") (batch $b) | $ratio |")
    done
done

STATUS=$("$LOYALCTL" --node "$EP" status 2>&1 || true)
kill -TERM "$NODE_PID"
wait "$NODE_PID" || log "loyald exited with status $?"
NODE_PID=

# ---- chains ----
if [[ $CHAIN == 1 ]]; then
    log "chain benchmarks (chain.sh ${CHAIN_ARGS[*]})"
    LY_BENCH_BUILD=$BUILD LY_BENCH_NO_BUILD=1 LY_BENCH_CHAIN_OUT="$WORK/chain.md" \
        "$ROOT/tests/bench/chain.sh" ${CHAIN_ARGS[@]+"${CHAIN_ARGS[@]}"}
fi

# ---- the report ----
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
DISK=$(df -hT "$WORK" | awk 'NR == 2 { print $1 " (" $2 ", " $3 " total, " $5 " free)" }')
DEV=$(df --output=source "$WORK" | awk 'NR == 2 { sub("^/dev/", ""); print }')
ROTA=$(cat "/sys/block/${DEV%%[0-9]*}/queue/rotational" 2>/dev/null || echo "?")
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
VIRT=$(systemd-detect-virt 2>/dev/null || echo unknown)
{
    echo "# Loyal benchmark results"
    echo
    echo "Written by \`tests/bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "- machine: $(nproc) CPUs, ${CPU:-unknown CPU}, $MEM RAM; virtualisation: $VIRT"
    echo "- kernel: $(uname -srm)"
    echo "- disk (temp dir): $DISK; rotational flag (as the virtual disk reports it): $ROTA"
    echo "- other load when the run began: load average $LOADAVG; $BACKGROUND over 2 s" \
        "(the machine is shared: figures move with what else runs)"
    echo "- build: $BUILD_TYPE ($BUILD)"
    echo "- whole run: $(((SECONDS - START_S) / 60)) min $(((SECONDS - START_S) % 60)) s"
    echo "- workload: $CUSTOMERS customers (enrolled in $ENROLL_S s, each seeded with 100 points);" \
        "mix earn=90 redeem=5 customer=5; closed loop, $SECONDS_PER_RUN s per row;" \
        "skewed = 80% of operations on 20% of customers"
    echo
    echo "## Raw ceilings"
    echo
    echo "| measurement | commits/s | puts/s |"
    echo "|---|---|---|"
    for b in 1 8 64; do
        printf '| LMDB durable commit, %d random 100-byte puts each, %d keys | %.0f | %.0f |\n' \
            "$b" "$CUSTOMERS" "${LMDB_COMMITS[$b]}" "${LMDB_PUTS[$b]}"
    done
    printf '\nZeroMQ DEALER/ROUTER loopback, 100-byte echo, one in flight: %.0f round trips/s, p50 %s us, p99 %s us.\n' \
        "$(json_get "$ZJ" rt_per_s)" "$(json_get "$ZJ" p50_us)" "$(json_get "$ZJ" p99_us)"
    echo
    echo "## loyald under loyalbench"
    echo
    echo "Ratio: loyald operations/s over raw LMDB puts/s at the batch size matching the"
    echo "number of clients (a group commit gathers about one request per waiting client)."
    echo "Errors are per code over the whole run (insufficient_points: a redemption of 1"
    echo "point from a customer whose balance is spent)."
    echo
    echo "| clients | distribution | ops/s | p50 µs | p99 µs | errors | raw LMDB puts/s | loyald / LMDB |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Node status after the runs:"
    echo
    echo '```'
    echo "$STATUS"
    echo '```'
    if [[ $CHAIN == 1 ]]; then
        echo
        cat "$WORK/chain.md"
    fi
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
