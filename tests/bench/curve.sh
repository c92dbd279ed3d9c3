#!/usr/bin/env bash
# curve.sh -- what CurveZMQ costs a till: one loyald without keys against one
# with keys ([node] key, the bench client listed as [pos bench]), same load,
# runs alternated A/B; prints a Markdown section for RESULTS.md.
#
#   tests/bench/curve.sh            # about 2.5 minutes on 2 cores, plus the build
#   tests/bench/curve.sh --write    # the same, and put the section into RESULTS.md
#                                   # (replacing its "## CurveZMQ" section)
#
# Both nodes run side by side on their own ports and data directories, only
# one of them under load at a time. At 8 and 64 closed-loop clients (the
# default mix, earn=90,redeem=5,customer=5), LY_BENCH_CURVE_PAIRS pairs of
# runs plain / curve; the table has the median of each and curve / plain for
# throughput, p50 and p99. The handshake: loyalbench times each client's first
# call (TCP connect, the ZMTP or CURVE handshake with the node's ZAP check,
# one status); the median over all clients of all runs, curve / plain.
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_NO_BUILD=1, LY_BENCH_SECONDS per run (default 10),
# LY_BENCH_CUSTOMERS (default 10000), LY_BENCH_CURVE_CLIENTS (default "8 64"),
# LY_BENCH_CURVE_PAIRS (default 3), LY_BENCH_CURVE_OUT (default stdout),
# LY_BENCH_OUT (the file --write updates, default tests/bench/RESULTS.md),
# LY_BENCH_KEEP=1 (keep the temporary directory with the logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
SECONDS_PER_RUN=${LY_BENCH_SECONDS:-10}
CUSTOMERS=${LY_BENCH_CUSTOMERS:-10000}
CLIENTS=${LY_BENCH_CURVE_CLIENTS:-"8 64"}
PAIRS=${LY_BENCH_CURVE_PAIRS:-3}
OUT=${LY_BENCH_CURVE_OUT:-/dev/stdout}
RESULTS=${LY_BENCH_OUT:-$ROOT/tests/bench/RESULTS.md}
WRITE=0
case "${1:-}" in
"") ;;
--write) WRITE=1 ;;
-h | --help)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: tests/bench/curve.sh [--write]" >&2
    exit 2
    ;;
esac

BENCH_NAME=curve.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

if [[ ${LY_BENCH_NO_BUILD:-0} != 1 ]]; then
    build_targets loyald loyalctl loyalbench
fi
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-curve-XXXXXX")
declare -A NPID=()
cleanup() {
    local k
    for k in "${!NPID[@]}"; do
        stop_pid "${NPID[$k]}" TERM
    done
    remove_work "$WORK" "${LY_BENCH_KEEP:-0}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


mkdir -p "$WORK/keys"
for k in node bench; do
    "$LOYALCTL" keygen "$k" --dir "$WORK/keys" >/dev/null
done
KEYS=(--key "$WORK/keys/bench.key" --node-key "$WORK/keys/node.pub")

declare -A EP=()
for mode in plain curve; do
    claim_port PORT
    claim_port PEER_PORT
    EP[$mode]=tcp://127.0.0.1:$PORT
    node_config 1 "$mode" "$WORK/$mode" "${EP[$mode]}" "tcp://127.0.0.1:$PEER_PORT" warn \
        >"$WORK/$mode.ini"
    if [[ $mode == curve ]]; then
        sed -i "/^log_level/a key = $WORK/keys/node.key" "$WORK/$mode.ini"
        printf '\n[pos bench]\nkey = %s\n' "$WORK/keys/bench.pub" >>"$WORK/$mode.ini"
    fi
    log "starting loyald ($mode) on ${EP[$mode]}"
    "$LOYALD" --config "$WORK/$mode.ini" 2>"$WORK/$mode.log" >/dev/null &
    NPID[$mode]=$!
done
wait_loyald "${EP[plain]}" "${NPID[plain]}" "$WORK/plain.log" "loyald (plain)" || exit 1
LOYAL_KEY=$WORK/keys/bench.key LOYAL_NODE_KEY=$WORK/keys/node.pub \
    wait_loyald "${EP[curve]}" "${NPID[curve]}" "$WORK/curve.log" "loyald (curve)" || exit 1
SECURITY=$(LOYAL_KEY=$WORK/keys/bench.key LOYAL_NODE_KEY=$WORK/keys/node.pub \
    "$LOYALCTL" --node "${EP[curve]}" --json status)
if [[ $SECURITY != *'"security":"curve"'* ]]; then
    log "the keyed node does not report security curve: $SECURITY"
    exit 1
fi
# Without keys the keyed node does not answer: the comparison is real.
if "$LOYALCTL" --node "${EP[curve]}" --timeout 1 status >/dev/null 2>&1; then
    log "the keyed node answered a client without keys"
    exit 1
fi

log "enrolling $CUSTOMERS customers at each node"
"$BENCH" --node "${EP[plain]}" --customers "$CUSTOMERS" --enroll --ops 0
"$BENCH" --node "${EP[curve]}" --customers "$CUSTOMERS" --enroll --ops 0 "${KEYS[@]}"

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
BACKGROUND=$(background_sample)
COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)

declare -A OPS=() P50=() P99=() CONN=() ERRS=()
for c in $CLIENTS; do
    for ((pair = 1; pair <= PAIRS; pair++)); do
        for mode in plain curve; do
            args=()
            [[ $mode == plain ]] || args=("${KEYS[@]}")
            log "loyalbench $c clients, $mode, run $pair of $PAIRS, $SECONDS_PER_RUN s"
            j=$("$BENCH" --node "${EP[$mode]}" --clients "$c" --duration "$SECONDS_PER_RUN" \
                --customers "$CUSTOMERS" ${args[@]+"${args[@]}"} --json) || {
                log "loyalbench ($mode): nothing succeeded: $j; loyald's log:"
                tail -n 30 "$WORK/$mode.log" >&2
                exit 1
            }
            k="$c $mode"
            OPS[$k]+="$(json_get "$j" ops_per_s) "
            P50[$k]+="$(json_get "$j" p50_us) "
            P99[$k]+="$(json_get "$j" p99_us) "
            CONN[$mode]+="$(json_get "$j" connect_p50_us) "
            e=$(errors_of "$j")
            [[ -z $e ]] || ERRS[$k]+="run $pair: $e; "
        done
    done
done

ROWS=()
# shellcheck disable=SC2086 # the sample lists split into numbers on purpose
for c in $CLIENTS; do
    ops_p=$(median ${OPS["$c plain"]})
    ops_c=$(median ${OPS["$c curve"]})
    p50_p=$(printf '%.0f' "$(median ${P50["$c plain"]})")
    p50_c=$(printf '%.0f' "$(median ${P50["$c curve"]})")
    p99_p=$(printf '%.0f' "$(median ${P99["$c plain"]})")
    p99_c=$(printf '%.0f' "$(median ${P99["$c curve"]})")
    runs_p=$(for v in ${OPS["$c plain"]}; do printf '%.0f ' "$v"; done)
    runs_c=$(for v in ${OPS["$c curve"]}; do printf '%.0f ' "$v"; done)
    ROWS+=("| $c | $(fmt_num "$ops_p") (${runs_p% }) | $(fmt_num "$ops_c") (${runs_c% }) |\
 **$(ratio "$ops_c" "$ops_p")** | $p50_p / $p50_c | $(ratio "$p50_c" "$p50_p") |\
 $p99_p / $p99_c | $(ratio "$p99_c" "$p99_p") | ${ERRS["$c plain"]:-none} / ${ERRS["$c curve"]:-none} |")
done
# shellcheck disable=SC2086
conn_p=$(printf '%.0f' "$(median ${CONN[plain]})")
# shellcheck disable=SC2086
conn_c=$(printf '%.0f' "$(median ${CONN[curve]})")

{
    echo "## CurveZMQ"
    echo
    echo "Measured $(now_iso) by \`tests/bench/curve.sh\` at commit \`${COMMIT:0:12}\`$( ((DIRTY == 0)) || echo " (with $DIRTY uncommitted changes)")."
    machine_lines "$WORK"
    echo "- load average before: $LOADAVG; $BACKGROUND"
    echo
    echo "One loyald without keys (plain ZMTP, loopback only) and one with \`[node] key\` and the"
    echo "bench client's key listed as \`[pos bench]\`: every connection encrypted, every request"
    echo "authorized by its key's role. Same machine, same load (closed loop, mix earn=90,"
    echo "redeem=5, customer=5, $CUSTOMERS customers), $PAIRS runs of $SECONDS_PER_RUN s each,"
    echo "alternated plain/curve; medians, the runs in brackets."
    echo
    echo "| clients | plain ops/s | curve ops/s | curve / plain | p50 µs plain / curve | ratio | p99 µs plain / curve | ratio | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "First call of a client (TCP connect, the handshake, the ZAP check of its key, one"
    echo "status), median over every client of every run: plain $conn_p µs, curve $conn_c µs,"
    echo "curve / plain **$(ratio "$conn_c" "$conn_p")**. A till pays it once per connection;"
    echo "the client library keeps its connection."
} >"$WORK/section.md"
cat "$WORK/section.md" >"$OUT"

# --write: the section into RESULTS in place of its "## CurveZMQ" section (up
# to the next "## " heading), or at its end.
if [[ $WRITE == 1 ]]; then
    write_section "CurveZMQ" "$WORK/section.md" "$RESULTS"
fi
log "done"
