#!/usr/bin/env bash
# run.sh -- build a release tree, measure the raw ceilings, one loyald under
# loyalbench beside them, then the peer a chain would otherwise pick: a Redis
# primary with one replica, AOF fsynced on every write (redis.sh; Debian's
# redis-server, installed if missing), under redisbench with the same clients,
# customers and duration, beside loyald as ratios, with its replica lag; then
# chains of loyalds (chain.sh: replication lag, catch-up, restart, memory), the
# loyalty program (program.sh: earns under five campaigns against none, a
# program change across a 5-node chain against an earn's replication), and
# write RESULTS.md.
#
# The raw ceilings, each measured alone on this machine and set beside every
# loyald row as a ratio:
#   LMDB       durable LMDB commits of 1, 8 or 64 random puts (lmdb_baseline):
#              what committing each batch into the B-tree would cost;
#   log        synced appends of 1, 8 or 64 150-byte events to a preallocated
#              file (lmdb_baseline --log): how loyald commits a batch now;
#   transport  ZeroMQ round trips of as many DEALER clients as the row has,
#              against one echoing ROUTER (zmq_rtt --clients N).
# A row of C clients is compared with batch 1, 8 or 64 (the largest not above
# C: a group commit gathers about one request per waiting client) and with C
# ZeroMQ clients. A last loyalbench row pipelines: 64 clients with
# LY_BENCH_WINDOW (default 16) requests in flight each, skewed, against the
# same ceilings with as many messages in flight (zmq_rtt --window) and the
# log at batch 512 (the node's batch_max).
#
#   tests/bench/run.sh            # about 13 minutes on 2 cores, plus the build
#   tests/bench/run.sh --full     # the catch-up writes 1,000,000 events (about 8 more)
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_SECONDS per loyalbench run (default 10),
# LY_BENCH_CUSTOMERS (default 10000), LY_BENCH_CLIENTS (default "1 8 64"),
# LY_BENCH_OUT (default tests/bench/RESULTS.md), LY_BENCH_CHAIN=0 to leave the
# chain section out, LY_BENCH_REDIS=0 to leave Redis out, LY_BENCH_PROGRAM=0 to
# leave the program section out; chain.sh reads its own LY_BENCH_CHAIN_* and
# LY_BENCH_CATCHUP_* variables (see there), program.sh its LY_BENCH_PROGRAM_*
# (it gets LY_BENCH_SECONDS and LY_BENCH_CUSTOMERS from here), redis.sh
# LY_REDIS_NO_INSTALL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
SECONDS_PER_RUN=${LY_BENCH_SECONDS:-10}
CUSTOMERS=${LY_BENCH_CUSTOMERS:-10000}
CLIENTS=${LY_BENCH_CLIENTS:-"1 8 64"}
WINDOW=${LY_BENCH_WINDOW:-16}
PIPE_CLIENTS=64
OUT=${LY_BENCH_OUT:-$ROOT/tests/bench/RESULTS.md}
CHAIN=${LY_BENCH_CHAIN:-1}
REDIS=${LY_BENCH_REDIS:-1}
PROGRAM=${LY_BENCH_PROGRAM:-1}
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

BENCH_NAME=run.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

# ---- build (incremental: only what changed) ----
build_targets loyald loyalctl loyalbench lmdb_baseline zmq_rtt chainwait redisbench lagprobe
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench
LMDB=$BUILD/tests/bench/lmdb_baseline
ZRTT=$BUILD/tests/bench/zmq_rtt
RBENCH=$BUILD/tests/bench/redisbench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-bench-XXXXXX")
NODE_PID=
REDIS_UP=0
cleanup() {
    if [[ -n $NODE_PID ]]; then
        stop_pid "$NODE_PID" TERM
    fi
    if [[ $REDIS_UP == 1 ]]; then
        "$ROOT/tests/bench/redis.sh" stop "$WORK/redis" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# What else keeps the machine busy: busy % of all CPUs over 2 s before we start,
# and the processes that used more than 5% of a CPU then.
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
BACKGROUND=$(background_sample)

# ratio A B: A / B with two decimals ("-" if B is 0 or empty).
ratio() {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}
# whole N: N rounded to a whole number (0 if empty).
whole() { printf '%.0f' "${1:-0}"; }

# ---- raw ceilings ----
declare -A LMDB_PUTS LMDB_COMMITS LOG_RECORDS LOG_EVENTS LOG_BYTES LOG_P50 LOG_P99
for b in 1 8 64 512; do
    log "lmdb_baseline batch $b ($LMDB_SECONDS s)"
    j=$("$LMDB" --dir "$WORK/lmdb-$b" --keys "$CUSTOMERS" --batch "$b" --seconds "$LMDB_SECONDS" --json)
    LMDB_PUTS[$b]=$(json_get "$j" puts_per_s)
    LMDB_COMMITS[$b]=$(json_get "$j" commits_per_s)
    rm -rf "$WORK/lmdb-$b"
    log "lmdb_baseline --log batch $b ($LMDB_SECONDS s)"
    j=$("$LMDB" --log --dir "$WORK/log-$b" --batch "$b" --seconds "$LMDB_SECONDS" --json)
    LOG_RECORDS[$b]=$(json_get "$j" records_per_s)
    LOG_EVENTS[$b]=$(json_get "$j" events_per_s)
    LOG_BYTES[$b]=$(json_get "$j" record_bytes)
    LOG_P50[$b]=$(json_get "$j" p50_us)
    LOG_P99[$b]=$(json_get "$j" p99_us)
    rm -rf "$WORK/log-$b"
done
declare -A ZMQ_RT ZMQ_P50 ZMQ_P99
for c in $CLIENTS; do
    log "zmq_rtt $c clients ($ZMQ_SECONDS s)"
    j=$("$ZRTT" --clients "$c" --seconds "$ZMQ_SECONDS" --json)
    ZMQ_RT[$c]=$(json_get "$j" rt_per_s)
    ZMQ_P50[$c]=$(json_get "$j" p50_us)
    ZMQ_P99[$c]=$(json_get "$j" p99_us)
done
log "zmq_rtt $PIPE_CLIENTS clients x $WINDOW in flight ($ZMQ_SECONDS s)"
j=$("$ZRTT" --clients "$PIPE_CLIENTS" --window "$WINDOW" --seconds "$ZMQ_SECONDS" --json)
ZMQP_RT=$(json_get "$j" rt_per_s)
ZMQP_P50=$(json_get "$j" p50_us)
ZMQP_P99=$(json_get "$j" p99_us)

# ---- one loyald ----
claim_port PORT
claim_port PEER_PORT
EP=tcp://127.0.0.1:$PORT
node_config 1 bench "$WORK/data" "$EP" "tcp://127.0.0.1:$PEER_PORT" warn >"$WORK/node.ini"
log "starting loyald on $EP"
"$LOYALD" --config "$WORK/node.ini" 2>"$WORK/loyald.log" >/dev/null &
NODE_PID=$!
wait_loyald "$EP" "$NODE_PID" "$WORK/loyald.log" loyald || exit 1

log "enrolling $CUSTOMERS customers"
t0=$(date +%s.%N)
"$BENCH" --node "$EP" --customers "$CUSTOMERS" --enroll --ops 0
t1=$(date +%s.%N)
ENROLL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

ROWS=()
declare -A LY_OPS LY_P50 LY_P99 # by "clients distribution", for the Redis ratios
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
        LY_OPS["$c $dist"]=$ops
        LY_P50["$c $dist"]=$p50
        LY_P99["$c $dist"]=$p99
        b=1
        ((c >= 8)) && b=8
        ((c >= 64)) && b=64
        row="| $c | $dist | $(whole "$ops") | $p50 | $p99 | ${errs:-none}"
        row+=" | $(whole "${LMDB_PUTS[$b]}") (batch $b) | $(ratio "$ops" "${LMDB_PUTS[$b]}")"
        row+=" | $(whole "${LOG_EVENTS[$b]}") (batch $b) | $(ratio "$ops" "${LOG_EVENTS[$b]}")"
        row+=" | $(whole "${ZMQ_RT[$c]}") | $(ratio "$ops" "${ZMQ_RT[$c]}") |"
        ROWS+=("$row")
    done
done

log "loyalbench $PIPE_CLIENTS clients x $WINDOW in flight, skewed, $SECONDS_PER_RUN s"
j=$("$BENCH" --node "$EP" --clients "$PIPE_CLIENTS" --window "$WINDOW" \
    --duration "$SECONDS_PER_RUN" --customers "$CUSTOMERS" --skew --json)
ops=$(json_get "$j" ops_per_s)
errs=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$j" | tr -d '"')
row="| $PIPE_CLIENTS × $WINDOW in flight | skewed | $(whole "$ops") | $(json_get "$j" p50_us)"
row+=" | $(json_get "$j" p99_us) | ${errs:-none}"
row+=" | $(whole "${LMDB_PUTS[512]}") (batch 512) | $(ratio "$ops" "${LMDB_PUTS[512]}")"
row+=" | $(whole "${LOG_EVENTS[512]}") (batch 512) | $(ratio "$ops" "${LOG_EVENTS[512]}")"
row+=" | $(whole "$ZMQP_RT") ($WINDOW in flight) | $(ratio "$ops" "$ZMQP_RT") |"
ROWS+=("$row")

STATUS=$("$LOYALCTL" --node "$EP" status 2>&1 || true)
kill -TERM "$NODE_PID"
wait "$NODE_PID" || log "loyald exited with status $?"
NODE_PID=

# ---- Redis: primary + replica, AOF fsynced on every write ----
REDIS_ROWS=()
REDIS_NOTE=
REDIS_VERSION=
declare -A REDIS_OPS REDIS_LAG50 REDIS_LAG99
if [[ $REDIS == 1 ]]; then
    log "starting a Redis primary and replica (redis.sh)"
    if REDIS_PORTS=$("$ROOT/tests/bench/redis.sh" start "$WORK/redis"); then
        REDIS_UP=1
        read -r R_PRIMARY R_REPLICA <<<"$REDIS_PORTS"
        REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
        for c in $CLIENTS; do
            for dist in uniform skewed; do
                flag=()
                [[ $dist == skewed ]] && flag=(--skew)
                log "redisbench $c clients, $dist, $SECONDS_PER_RUN s"
                j=$("$RBENCH" --primary "127.0.0.1:$R_PRIMARY" --replica "127.0.0.1:$R_REPLICA" \
                    --clients "$c" --duration "$SECONDS_PER_RUN" --customers "$CUSTOMERS" \
                    "${flag[@]}" --json) || log "redisbench $c clients, $dist: no operation succeeded"
                k="$c $dist"
                ops=$(json_get "$j" ops_per_s)
                p50=$(json_get "$j" p50_us)
                p99=$(json_get "$j" p99_us)
                l50=$(json_get "$j" lag_p50_ms)
                l99=$(json_get "$j" lag_p99_ms)
                lmax="$(json_get "$j" lag_max_ms) ($(json_get "$j" lag_samples) probes"
                t=$(json_get "$j" lag_timeouts)
                [[ ${t:-0} == 0 ]] || lmax+=", $t timed out"
                REDIS_OPS[$k]=$ops
                REDIS_LAG50[$k]=$l50
                REDIS_LAG99[$k]=$l99
                REDIS_ROWS+=("| $c | $dist | $(printf '%.0f' "${ops:-0}") | $p50 | $p99 | $l50 | $l99 | $lmax) | $(json_get "$j" errors) | $(printf '%.0f' "${LY_OPS[$k]:-0}") | $(ratio "${LY_OPS[$k]:-}" "$ops") | $(ratio "${LY_P50[$k]:-}" "$p50") | $(ratio "${LY_P99[$k]:-}" "$p99") |")
            done
        done
        "$ROOT/tests/bench/redis.sh" stop "$WORK/redis"
        REDIS_UP=0
    else
        rc=$?
        REDIS_NOTE="Redis was not measured: \`tests/bench/redis.sh start\` failed (exit $rc; exit 2: redis-server is missing and could not be installed here; see the run's stderr)."
        log "$REDIS_NOTE"
    fi
fi

# ---- chains ----
if [[ $CHAIN == 1 ]]; then
    log "chain benchmarks (chain.sh ${CHAIN_ARGS[*]})"
    LY_BENCH_BUILD=$BUILD LY_BENCH_NO_BUILD=1 LY_BENCH_CHAIN_OUT="$WORK/chain.md" \
        "$ROOT/tests/bench/chain.sh" ${CHAIN_ARGS[@]+"${CHAIN_ARGS[@]}"}
fi

# ---- the loyalty program ----
if [[ $PROGRAM == 1 ]]; then
    log "program benchmarks (program.sh)"
    LY_BENCH_BUILD=$BUILD LY_BENCH_BUILD_TYPE=$BUILD_TYPE LY_BENCH_NO_BUILD=1 \
        LY_BENCH_SECONDS=$SECONDS_PER_RUN LY_BENCH_CUSTOMERS=$CUSTOMERS \
        LY_BENCH_PROGRAM_OUT="$WORK/program.md" "$ROOT/tests/bench/program.sh"
fi

# redis_lag_beside_chain CHAIN_MD: after chain.sh's replication lag table, the
# Redis replica lag of the uniform row nearest in ops/s to each offered rate,
# as ratios; nothing if Redis was not measured or that table is not found.
redis_lag_beside_chain() {
    ((${#REDIS_ROWS[@]})) || return 0
    local rows=() rate p50 p99 c best bestd d k
    # The rows of the table whose header starts "| offered ops/s | worst node | lag p50 ms | lag p99 ms".
    mapfile -t rows < <(awk -F'|' '
        /^\| offered ops\/s \| worst node \| lag p50 ms \| lag p99 ms/ { t = 1; next }
        t && /^\|---/ { next }
        t && /^\|/ { r = $2; gsub(/[ ,]/, "", r); p = $4; q = $5; gsub(/ /, "", p); gsub(/ /, "", q); print r, p, q; next }
        t { exit }' "$1")
    ((${#rows[@]})) || return 0
    echo
    echo "Beside Redis (the section above): for each offered rate, the uniform Redis row" \
        "nearest in ops/s. Not the same measure: ours runs from an event's stamp (its HLC)" \
        "at its origin to its commit at the peer, in a 3-node mesh under an open loop; Redis's from the primary's reply to a replica read that shows the write," \
        "under a closed loop, one replica."
    echo
    echo "| offered ops/s | our lag p50 / p99 ms | nearest Redis row | Redis lag p50 / p99 ms | ours / Redis p50 | ours / Redis p99 |"
    echo "|---|---|---|---|---|---|"
    for row in "${rows[@]}"; do
        read -r rate p50 p99 <<<"$row"
        best=
        bestd=
        for c in $CLIENTS; do
            k="$c uniform"
            [[ -n ${REDIS_OPS[$k]:-} ]] || continue
            d=$(awk -v a="${REDIS_OPS[$k]}" -v b="$rate" 'BEGIN { d = a - b; printf "%.0f", d < 0 ? -d : d }')
            if [[ -z $best ]] || ((d < bestd)); then
                best=$k
                bestd=$d
            fi
        done
        [[ -n $best ]] || continue
        echo "| $rate | $p50 / $p99 | ${best%% *} clients, $(printf '%.0f' "${REDIS_OPS[$best]}") ops/s |" \
            "${REDIS_LAG50[$best]} / ${REDIS_LAG99[$best]} | $(ratio "$p50" "${REDIS_LAG50[$best]}") |" \
            "$(ratio "$p99" "${REDIS_LAG99[$best]}") |"
    done
}

# ---- the report ----
{
    echo "# Loyal benchmark results"
    echo
    echo "Written by \`tests/bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    machine_lines "$WORK"
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
    echo "Each measured alone, on this machine, before loyald ran:"
    echo
    echo "- **LMDB**: durable LMDB commits of B random 100-byte puts (\`lmdb_baseline\`)," \
        "what committing each batch straight into the B-tree would allow; loyald pays" \
        "this only at its checkpoints now, and the column stays for comparison."
    echo "- **Log**: one record of B 150-byte events written into a 16 MiB file preallocated" \
        "with zeros, then \`fdatasync\` (\`lmdb_baseline --log\`), which is how loyald" \
        "commits a batch of B events today: its durable-write ceiling."
    echo "- **Transport**: C client threads, each with its own ZeroMQ DEALER and one 100-byte" \
        "message in flight, against one ROUTER thread that echoes (\`zmq_rtt --clients C\`):" \
        "what C clients of one loyald could reach if the node did no work."
    echo
    echo "| LMDB durable commit | commits/s | puts/s |"
    echo "|---|---|---|"
    for b in 1 8 64 512; do
        printf '| %d random 100-byte puts each, %d keys | %.0f | %.0f |\n' \
            "$b" "$CUSTOMERS" "${LMDB_COMMITS[$b]}" "${LMDB_PUTS[$b]}"
    done
    echo
    echo "| log append + fdatasync, 150-byte events per record | record bytes | records/s | events/s | p50 µs | p99 µs |"
    echo "|---|---|---|---|---|---|"
    for b in 1 8 64 512; do
        echo "| $b | ${LOG_BYTES[$b]} | $(whole "${LOG_RECORDS[$b]}") | $(whole "${LOG_EVENTS[$b]}") |" \
            "${LOG_P50[$b]} | ${LOG_P99[$b]} |"
    done
    echo
    echo "| ZeroMQ DEALER/ROUTER loopback, 100-byte echo, clients (one in flight each) | round trips/s | p50 µs | p99 µs |"
    echo "|---|---|---|---|"
    for c in $CLIENTS; do
        echo "| $c | $(whole "${ZMQ_RT[$c]}") | ${ZMQ_P50[$c]} | ${ZMQ_P99[$c]} |"
    done
    echo "| $PIPE_CLIENTS, $WINDOW in flight each (\`--window $WINDOW\`) | $(whole "$ZMQP_RT") | $ZMQP_P50 | $ZMQP_P99 |"
    echo
    echo "## loyald under loyalbench"
    echo
    echo "Ratios: loyald operations/s over each raw ceiling. For LMDB and the log, the" \
        "ceiling at the batch size matching the number of clients (1, 8 or 64: a group" \
        "commit gathers about one request per waiting client), in puts/s and events/s;" \
        "for the transport, the ZeroMQ round trips/s of as many clients. The nearer 1," \
        "the less loyald adds to that cost. The last row pipelines (\`loyalbench --window\`):" \
        "each client keeps $WINDOW requests in flight on its connection, as a busy till or a" \
        "back-office feed would; its ceilings are the log at batch 512 (the node's" \
        "\`batch_max\`) and ZeroMQ with as many messages in flight."
    echo "Errors are per code over the whole run (insufficient_points: a redemption of 1"
    echo "point from a customer whose balance is spent)."
    echo
    echo "| clients | distribution | ops/s | p50 µs | p99 µs | errors | raw LMDB puts/s | loyald / LMDB | log events/s | loyald / log (log ceiling) | ZeroMQ round trips/s | loyald / ZeroMQ (transport ceiling) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Node status after the runs:"
    echo
    echo '```'
    echo "$STATUS"
    echo '```'
    echo
    echo "## Redis, the peer a chain would otherwise pick"
    echo
    if [[ $REDIS != 1 ]]; then
        echo "Left out (LY_BENCH_REDIS=0)."
    elif [[ -n $REDIS_NOTE ]]; then
        echo "$REDIS_NOTE"
    else
        echo "Debian's redis-server ${REDIS_VERSION:-?} on this machine: a primary and one replica," \
            "both \`appendonly yes\`, \`appendfsync always\`, \`save \"\"\`" \
            "(\`tests/bench/redis.sh\`): a write is fsynced to the AOF before its reply, and" \
            "Redis, like loyald, fsyncs once for all the writes of one event-loop pass."
        echo "\`redisbench\`: the same clients, customers, distributions and $SECONDS_PER_RUN s" \
            "per row, closed loop, each operation \`INCRBY cust:<i> <1..500>\` on one" \
            "connection per client, right after loyald's rows above. The work is not the same:" \
            "loyald's rows mix earn=90 redeem=5 customer=5 and every mutation carries a" \
            "transaction id that is deduplicated and logged as an event; Redis only adds to a" \
            "counter. loyald ran alone, while the Redis primary also streams every write to its" \
            "replica, which fsyncs it too, on the same CPUs."
        echo "Replica lag: a probe every 10 ms, \`INCR lagprobe\` on the primary, then" \
            "\`GET lagprobe\` on the replica every 100 µs until it shows the value: the time" \
            "from the primary's reply to that read (it includes one GET round trip; the probe" \
            "adds about 100 writes/s to the load)."
        echo "Ratios are loyald over Redis: ops/s above 1 favours loyald, latency below 1 does."
        echo
        echo "| clients | distribution | Redis ops/s | p50 µs | p99 µs | replica lag p50 ms | lag p99 ms | lag max ms | errors | loyald ops/s | loyald / Redis ops/s | loyald / Redis p50 | loyald / Redis p99 |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${REDIS_ROWS[@]}"
    fi
    if [[ $CHAIN == 1 ]]; then
        echo
        cat "$WORK/chain.md"
        redis_lag_beside_chain "$WORK/chain.md"
    fi
    if [[ $PROGRAM == 1 ]]; then
        echo
        cat "$WORK/program.md"
    fi
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
