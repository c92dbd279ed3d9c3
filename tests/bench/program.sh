#!/usr/bin/env bash
# program.sh -- what the loyalty program costs: earns under campaigns, and a
# program change crossing a chain; prints a Markdown section for RESULTS.md
# (run.sh calls it; it also runs alone).
#
#   tests/bench/program.sh            # about 3.5 minutes on 2 cores, plus the build
#   tests/bench/program.sh --write    # the same, and put the section into RESULTS.md
#                                     # (replacing its "## Loyalty program" section)
#
# (1) one loyald, earns only (loyalbench --mix earn=100, every earn with the
#     category shoes or bags, round-robin), at 8 and 64 closed-loop clients:
#     throughput under a program with five campaigns that all apply to every
#     earn (every day and hour; two limited to the load's categories, one with
#     a minimum amount below every earn's; multipliers and bonuses), so each
#     earn evaluates all five, against the same program with no campaigns.
#     The two are applied in turn on the same node, runs alternated A/B/A/B
#     (LY_BENCH_PROGRAM_PAIRS pairs), the median of each and campaigns / none.
# (2) a 5-node full-mesh chain (as chain.sh builds them): the time for a
#     program version applied at node 1 to be in force at every node (lagprobe
#     --program: polls every node's status until all report it), idle and under
#     light load (loyalbench --rate at nodes 2..5); the baseline, measured just
#     before in the same conditions: an ordinary earn at node 1 until every
#     node holds it (lagprobe --earn). Median and max of
#     LY_BENCH_PROGRAM_SAMPLES samples each, and program / earn.
#
# Environment: LY_BENCH_BUILD (default build/release), LY_BENCH_BUILD_TYPE
# (default Release), LY_BENCH_NO_BUILD=1 (use the binaries as they are),
# LY_BENCH_SECONDS per loyalbench run (default 10), LY_BENCH_CUSTOMERS (default
# 10000), LY_BENCH_PROGRAM_CLIENTS (default "8 64"), LY_BENCH_PROGRAM_PAIRS
# (default 3), LY_BENCH_PROGRAM_SAMPLES (default 20), LY_BENCH_PROGRAM_RATE (the
# light load, ops/s, default 200), LY_BENCH_PROGRAM_OUT (default stdout),
# LY_BENCH_OUT (the file --write updates, default tests/bench/RESULTS.md),
# LY_BENCH_KEEP=1 (keep the temporary directory with the logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LY_BENCH_BUILD:-$ROOT/build/release}
BUILD_TYPE=${LY_BENCH_BUILD_TYPE:-Release}
SECONDS_PER_RUN=${LY_BENCH_SECONDS:-10}
CUSTOMERS=${LY_BENCH_CUSTOMERS:-10000}
CLIENTS=${LY_BENCH_PROGRAM_CLIENTS:-"8 64"}
PAIRS=${LY_BENCH_PROGRAM_PAIRS:-3}
SAMPLES=${LY_BENCH_PROGRAM_SAMPLES:-20}
LOAD_RATE=${LY_BENCH_PROGRAM_RATE:-200}
OUT=${LY_BENCH_PROGRAM_OUT:-/dev/stdout}
RESULTS=${LY_BENCH_OUT:-$ROOT/tests/bench/RESULTS.md}
CATEGORIES=shoes,bags
CHAIN_NODES=(p1 p2 p3 p4 p5)
CHAIN_CUSTOMERS=1000
LOAD_CLIENTS=8
GAP_MS=200
BLOCK=5 # samples per lagprobe run; earn and program blocks alternate
WRITE=0
case "${1:-}" in
"") ;;
--write) WRITE=1 ;;
*)
    echo "usage: tests/bench/program.sh [--write]" >&2
    exit 2
    ;;
esac
START_S=$SECONDS

BENCH_NAME=program.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

if [[ ${LY_BENCH_NO_BUILD:-0} != 1 ]]; then
    build_targets loyald loyalctl loyalbench chainwait lagprobe
fi
LOYALD=$BUILD/node/loyald
LOYALCTL=$BUILD/node/loyalctl
BENCH=$BUILD/tests/bench/loyalbench
CHAINWAIT=$BUILD/tests/bench/chainwait
LAGPROBE=$BUILD/tests/bench/lagprobe

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loyal-program-XXXXXX")
NODE_DIR=$WORK # the chain's configs, logs and data (lib.sh's chain helpers)
NODE_PID=
BG_PID=
cleanup() {
    if [[ -n $BG_PID ]]; then
        stop_pid "$BG_PID" TERM
    fi
    if [[ -n $NODE_PID ]]; then
        stop_pid "$NODE_PID" TERM
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

# program_file VERSION campaigns|none: a program file with the two categories
# the load uses and, for "campaigns", five campaigns that all apply to every
# earn of the load (amounts 1.00..100.00, category shoes or bags).
program_file() {
    cat <<EOF
[program]
name = Bench $2
version = $1
minor_units = 100
points_per_unit = 1

[tier Silver]
threshold = 0
multiplier = 1

[tier Gold]
threshold = 1000
multiplier = 1.25

[tier Platinum]
threshold = 5000
multiplier = 1.5

[category shoes]
multiplier = 1.5

[category bags]
multiplier = 1
EOF
    [[ $2 == campaigns ]] || return 0
    cat <<'EOF'

[campaign double]
multiplier = 2

[campaign bag-bonus]
bonus = 50
categories = bags, shoes

[campaign shoe-week]
multiplier = 1.5
categories = shoes, bags
weekdays = mon-sun

[campaign all-day]
bonus = 20
hours = 0-24

[campaign triple-over-1]
multiplier = 3
categories = bags, shoes
min_amount = 100
EOF
}

# apply EP VERSION campaigns|none: applies that program at EP and checks that
# EP runs it.
apply() {
    local f=$WORK/program-$2.ini v
    program_file "$2" "$3" >"$f"
    "$LOYALCTL" --node "$1" --timeout 10 program apply "$f" --operator bench >/dev/null
    v=$(json_get "$("$LOYALCTL" --node "$1" --json status)" program)
    if [[ $v != "$2" ]]; then
        log "$1 runs program version ${v:-?} after applying $2"
        exit 1
    fi
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
BACKGROUND=$(background_sample)
COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)

# ============ (1) earns under five campaigns, one loyald ============
claim_port PORT
claim_port PEER_PORT
EP=tcp://127.0.0.1:$PORT
node_config 1 bench "$WORK/single" "$EP" "tcp://127.0.0.1:$PEER_PORT" warn >"$WORK/single.ini"
log "starting loyald on $EP"
"$LOYALD" --config "$WORK/single.ini" 2>"$WORK/single.log" >/dev/null &
NODE_PID=$!
wait_loyald "$EP" "$NODE_PID" "$WORK/single.log" loyald || exit 1
VERSION=1
apply "$EP" "$VERSION" campaigns
log "enrolling $CUSTOMERS customers"
"$BENCH" --node "$EP" --customers "$CUSTOMERS" --enroll --ops 0
# Two earns to show what the campaigns do (and that they apply): their receipts.
CHECK_EARN=$("$LOYALCTL" --node "$EP" --json earn bench-000000 10000 --category shoes \
    --txn check-earn-1 2>&1 || true)
CHECK_EARN2=$("$LOYALCTL" --node "$EP" --json earn bench-000001 10000 --category bags \
    --txn check-earn-2 2>&1 || true)

declare -A OPS=() P50=() P99=() ERRS=() VERSIONS=() CPU=()
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: the process's user + system CPU ticks so far.
cpu_ticks() { awk '{ printf "%.0f\n", $14 + $15 }' "/proc/$1/stat"; }
for c in $CLIENTS; do
    for ((pair = 1; pair <= PAIRS; pair++)); do
        for prog in campaigns none; do
            VERSION=$((VERSION + 1))
            apply "$EP" "$VERSION" "$prog"
            log "loyalbench $c clients, earns, program $VERSION ($prog), run $pair of $PAIRS, $SECONDS_PER_RUN s"
            t0=$(cpu_ticks "$NODE_PID")
            j=$("$BENCH" --node "$EP" --clients "$c" --duration "$SECONDS_PER_RUN" \
                --customers "$CUSTOMERS" --mix earn=100,redeem=0,customer=0 \
                --category "$CATEGORIES" --json) || {
                log "loyalbench: no earn succeeded: $j; loyald's log:"
                tail -n 30 "$WORK/single.log" >&2
                exit 1
            }
            t1=$(cpu_ticks "$NODE_PID")
            k="$c $prog"
            CPU[$k]+="$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$(json_get "$j" ops)" \
                'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }') "
            OPS[$k]+="$(json_get "$j" ops_per_s) "
            P50[$k]+="$(json_get "$j" p50_us) "
            P99[$k]+="$(json_get "$j" p99_us) "
            e=$(errors_of "$j")
            [[ -z $e ]] || ERRS[$k]+="run $pair: $e; "
            VERSIONS[$k]+="$VERSION "
        done
    done
done
SINGLE_STATUS=$("$LOYALCTL" --node "$EP" status 2>&1 || true)
stop_pid "$NODE_PID" TERM
NODE_PID=

EARN_ROWS=()
for c in $CLIENTS; do
    # shellcheck disable=SC2086 # the lists split into numbers on purpose
    {
        ops_c=$(median ${OPS["$c campaigns"]})
        ops_n=$(median ${OPS["$c none"]})
        p50_c=$(printf '%.0f' "$(median ${P50["$c campaigns"]})")
        p50_n=$(printf '%.0f' "$(median ${P50["$c none"]})")
        p99_c=$(printf '%.0f' "$(median ${P99["$c campaigns"]})")
        p99_n=$(printf '%.0f' "$(median ${P99["$c none"]})")
        cpu_c=$(median ${CPU["$c campaigns"]})
        cpu_n=$(median ${CPU["$c none"]})
    }
    runs_c=$(for v in ${OPS["$c campaigns"]}; do printf '%.0f ' "$v"; done)
    runs_n=$(for v in ${OPS["$c none"]}; do printf '%.0f ' "$v"; done)
    EARN_ROWS+=("| $c | $(fmt_num "$ops_c") (${runs_c% }) | $(fmt_num "$ops_n") (${runs_n% }) |\
 **$(ratio "$ops_c" "$ops_n")** | $p50_c / $p50_n | $(ratio "$p50_c" "$p50_n") |\
 $p99_c / $p99_n | $(ratio "$p99_c" "$p99_n") | $cpu_c / $cpu_n (${CPU["$c campaigns"]% } / ${CPU["$c none"]% }) |\
 **$(ratio "$cpu_c" "$cpu_n")** | ${ERRS["$c campaigns"]:-none} / ${ERRS["$c none"]:-none} |")
done

# ============ (2) a program change across a 5-node chain ============
make_chain "${CHAIN_NODES[@]}"
log "starting a ${#CHAIN_NODES[@]}-node chain (${CHAIN_NODES[*]})"
for name in "${CHAIN_NODES[@]}"; do
    start_node "$name"
done
for name in "${CHAIN_NODES[@]}"; do
    wait_node "$name" || exit 1
done
EPS=$(endpoints "${CHAIN_NODES[@]}")
LOAD_EPS=$(endpoints "${CHAIN_NODES[@]:1}")
log "enrolling $CHAIN_CUSTOMERS customers at ${CHAIN_NODES[*]:1}"
"$BENCH" --nodes "$LOAD_EPS" --customers "$CHAIN_CUSTOMERS" --enroll --ops 0 --prefix pload
"$CHAINWAIT" --nodes "$EPS" --interval 100 --timeout 120 --json >/dev/null ||
    { log "the chain did not converge within 120 s"; exit 1; }

# probe_pair LABEL FIRST_VERSION: SAMPLES earns and SAMPLES program versions
# (from FIRST_VERSION on), in alternate blocks of BLOCK (lagprobe --earn,
# then --program), so that drift falls on both; appends each sample's ms
# until every node to EARN_MS[LABEL] and PROG_MS[LABEL], and to
# PROG_NODE_MS["LABEL K"] node K's (1..5) ms for the program.
declare -A EARN_MS=() PROG_MS=() PROG_NODE_MS=() PROG_BYTES=() PROBE_FAIL=()
probe_pair() {
    local label=$1 v=$2 done=0 n j k
    log "lagprobe: $SAMPLES earns and $SAMPLES program versions from $v at ${CHAIN_NODES[0]} ($label)"
    while ((done < SAMPLES)); do
        n=$((SAMPLES - done < BLOCK ? SAMPLES - done : BLOCK))
        j=$("$LAGPROBE" --nodes "$EPS" --earn lagprobe-customer --repeat "$n" --gap-ms "$GAP_MS" \
            --json) || PROBE_FAIL[$label]+="earn: $j; "
        EARN_MS[$label]+="$(json_array "$j" all_ms) "
        program_file "$v" campaigns >"$WORK/chain-program.ini"
        j=$("$LAGPROBE" --nodes "$EPS" --program "$WORK/chain-program.ini" --operator bench \
            --repeat "$n" --gap-ms "$GAP_MS" --json) || PROBE_FAIL[$label]+="program: $j; "
        PROG_MS[$label]+="$(json_array "$j" all_ms) "
        for ((k = 1; k <= ${#CHAIN_NODES[@]}; k++)); do
            PROG_NODE_MS["$label $k"]+="$(json_array "$j" "node${k}_ms") "
        done
        PROG_BYTES[$label]="$(json_get "$j" bytes) bytes, $(json_get "$j" parts) part event(s)"
        v=$((v + n))
        done=$((done + n))
    done
}

probe_pair idle 1
LOAD_S=$((4 + 2 * SAMPLES * (GAP_MS + 150) / 1000))
log "light load: $LOAD_RATE earns/s at ${CHAIN_NODES[*]:1} for $LOAD_S s"
"$BENCH" --nodes "$LOAD_EPS" --clients "$LOAD_CLIENTS" --rate "$LOAD_RATE" --duration "$LOAD_S" \
    --customers "$CHAIN_CUSTOMERS" --prefix pload --mix earn=100,redeem=0,customer=0 \
    --category "$CATEGORIES" --json >"$WORK/load.json" &
BG_PID=$!
load_t0=$SECONDS
sleep 1
probe_pair loaded $((1 + SAMPLES))
PROBES_S=$((SECONDS - load_t0))
wait "$BG_PID" || log "the light load failed"
BG_PID=
LOAD_J=$(cat "$WORK/load.json")
CHAIN_PROGRAM=$(json_get "$("$LOYALCTL" --node "${CLIENT_EP[p5]}" --json status)" program)
"$CHAINWAIT" --nodes "$EPS" --interval 100 --timeout 60 --json >"$WORK/final-converge.json" ||
    log "the chain did not converge after the load"
stop_nodes 10

# max N...: the largest of the numbers ("-" if none).
max() { printf '%s\n' "$@" | sort -g | awk '{ m = $1 } END { if (NR) printf "%.1f", m; else print "-" }'; }
# shellcheck disable=SC2086 # the sample lists split into numbers on purpose
lag_row() {
    local e50 emax p50 pmax nodes='' k ne np
    e50=$(median ${EARN_MS[$1]:-})
    emax=$(max ${EARN_MS[$1]:-})
    p50=$(median ${PROG_MS[$1]:-})
    pmax=$(max ${PROG_MS[$1]:-})
    for ((k = 1; k <= ${#CHAIN_NODES[@]}; k++)); do
        nodes+="$(median ${PROG_NODE_MS["$1 $k"]:-})"
        ((k < ${#CHAIN_NODES[@]})) && nodes+=" / "
    done
    ne=$(wc -w <<<"${EARN_MS[$1]:-}")
    np=$(wc -w <<<"${PROG_MS[$1]:-}")
    echo "| $1 | $ne / $np | $e50 | $emax | $p50 | $pmax | **$(ratio "$p50" "$e50")** |" \
        "$(ratio "$pmax" "$emax") | $nodes |"
}

# check_line CATEGORY JSON: a list item with an earn reply's breakdown (or the reply as it came).
check_line() {
    local camp
    camp=$(sed -n 's/.*"campaign":"\([^"]*\)".*/\1/p' <<<"$2")
    if [[ -z $(json_get "$2" points) ]]; then
        echo "- $1: \`$2\`"
        return 0
    fi
    echo "- $1: base $(json_get "$2" base_points) points, category multiplier" \
        "$(json_get "$2" category_multiplier_milli)/1000, campaign ${camp:-none} adds" \
        "$(json_get "$2" campaign_points): **$(json_get "$2" points) points**"
}

# ============ the report ============
{
    echo "## Loyalty program: campaigns and program changes"
    echo
    echo "Written by \`tests/bench/program.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit" \
        "\`$COMMIT\`$( ((DIRTY == 0)) || echo " (with $DIRTY uncommitted changes)"), $BUILD_TYPE build;" \
        "every loyald on this machine ($(nproc) CPUs, one disk); run took" \
        "$(((SECONDS - START_S) / 60)) min $(((SECONDS - START_S) % 60)) s. Other load when it" \
        "began: load average $LOADAVG; $BACKGROUND over 2 s (the machine is shared: each figure" \
        "is a ratio to one measured in the same run, under the same load)."
    echo
    echo "### (1) earns under five campaigns, one loyald"
    echo
    echo "$(fmt_num "$CUSTOMERS") customers; \`loyalbench --mix earn=100,redeem=0,customer=0" \
        "--category $CATEGORIES\`: earns only, amounts 1.00..100.00, each client's earns" \
        "shoes, bags, shoes, ...; closed loop, $SECONDS_PER_RUN s per run. Programs, both with" \
        "the same tiers and the categories shoes (x1.5) and bags (x1): **campaigns** adds five," \
        "none limited in days or hours, so all five apply to every earn and each earn" \
        "evaluates all five (\`ly_progdef_campaign_best\`; the best, x3, wins and its name goes" \
        "into the event's reason): double (x2), bag-bonus (+50, categories bags, shoes)," \
        "shoe-week (x1.5, shoes, bags, weekdays mon-sun), all-day (+20, hours 0-24)," \
        "triple-over-1 (x3, bags, shoes, min_amount 100); **none** has no campaign. The" \
        "two were applied in turn on the same node (a new version before every run), runs" \
        "alternated campaigns/none $PAIRS times per client count, so drift (the store" \
        "growing, other load) falls on both; the figures are the medians of the $PAIRS runs" \
        "(each run's ops/s in brackets). loyald CPU per earn: its user + system time over the" \
        "run (/proc, ${CLK_TCK} ticks/s) divided by the earns answered; it moves less than" \
        "ops/s with what else runs on the machine."
    echo
    echo "| clients | campaigns ops/s | none ops/s | campaigns / none ops/s | p50 µs campaigns / none | ratio | p99 µs campaigns / none | ratio | loyald CPU µs per earn, campaigns / none (runs) | ratio | errors campaigns / none |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${EARN_ROWS[@]}"
    echo
    echo "Check earns under the campaigns program (\`loyalctl --json earn\`, 100.00, a Silver" \
        "customer), before the runs:"
    echo
    check_line shoes "$CHECK_EARN"
    check_line bags "$CHECK_EARN2"
    echo
    echo "Node status after the runs:"
    echo
    echo '```'
    echo "$SINGLE_STATUS"
    echo '```'
    echo
    echo "### (2) a program change across a 5-node chain"
    echo
    echo "Five loyalds in a full mesh (chain.sh's \`make_chain\`), \`log_level = info\`," \
        "$(fmt_num "$CHAIN_CUSTOMERS") load customers enrolled at p2..p5 first. \`lagprobe\`" \
        "makes a write at p1, then asks every node still polled for its status at once (all" \
        "requests sent, then the answers read in node order), a round every 0.5 ms, until each" \
        "shows it; a sample is the time from just before the write was sent" \
        "until the last node showed it (p1's own commit included), $GAP_MS ms between samples." \
        "Earn and program samples alternate in blocks of $BLOCK." \
        "**Program**: \`program apply\` of the campaigns program above" \
        "(${PROG_BYTES[idle]:-?}), versions 1..$((2 * SAMPLES)), shown when a node's status reports the version" \
        "in force (its last part arrived and the version was assembled). **Earn** (the" \
        "baseline, measured just before in the same conditions): an earn of 10.00 at p1 for a" \
        "customer nothing else writes, shown when a node's version vector holds p1's seq of" \
        "it. Both poll the same status request. Light load: \`loyalbench --rate $LOAD_RATE\`," \
        "$LOAD_CLIENTS clients at p2..p5, earns ($(json_get "$LOAD_J" ops_per_s) ops/s achieved," \
        "service p99 $(json_get "$LOAD_J" svc_p99_us) µs, errors: $(errors_of "$LOAD_J" | sed 's/^$/none/'));" \
        "the probes took $PROBES_S s of its $LOAD_S s. At the end p5 runs version" \
        "${CHAIN_PROGRAM:-?}."
    echo
    echo "| condition | samples earn / program | earn p50 ms | earn max ms | program p50 ms | program max ms | program / earn p50 | program / earn max | program p50 per node (p1 / ... / p5) ms |"
    echo "|---|---|---|---|---|---|---|---|---|"
    lag_row idle
    lag_row loaded
    echo
    echo "Per node, a time is taken when its answer is read, in node order, so each includes" \
        "the wait for the answers of the nodes before it: a later node's figure is not below an" \
        "earlier one's in the same round, and the last node's is the sample's."
    echo
    echo "Samples (ms until every node), in order: earn idle ${EARN_MS[idle]% }; program idle" \
        "${PROG_MS[idle]% }; earn loaded ${EARN_MS[loaded]% }; program loaded ${PROG_MS[loaded]% }."
    if ((${#PROBE_FAIL[@]})); then
        echo
        echo "**Probes that failed:** idle: ${PROBE_FAIL[idle]:-none}; loaded: ${PROBE_FAIL[loaded]:-none}"
    fi
} >"$WORK/section.md"
cat "$WORK/section.md" >"$OUT"

# --write: the section into RESULTS in place of its "## Loyalty program"
# section (up to the next "## " heading), or at its end.
if [[ $WRITE == 1 ]]; then
    write_section "Loyalty program" "$WORK/section.md" "$RESULTS"
fi
log "done"
