# shellcheck shell=bash
# lib.sh -- shell helpers shared by the benchmark scripts (run.sh, chain.sh, curve.sh, program.sh,
# scale.sh, redis.sh); sourced, never run:
#
#   BENCH_NAME=run.sh
#   # shellcheck source=tests/bench/lib.sh
#   . "$ROOT/tests/bench/lib.sh"
#
# Safe under `set -euo pipefail`: every function returns 0 unless it says
# otherwise, and reads only the variables it names. Defines functions and the
# variables BENCH_PORT_LO, BENCH_PORT_HI, BENCH_USED_PORTS, NODE_DIR and the
# associative arrays PID, CLIENT_EP, PEER_EP, NODE_ID (the chain helpers'); it
# runs nothing else.

# The prefix of log's lines (set it before sourcing; default: the script's name).
BENCH_NAME=${BENCH_NAME:-${0##*/}}

# log MSG...: "BENCH_NAME: MSG" on stderr.
log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }

# ---- ports ----

# Below the kernel's ephemeral range, so that no outgoing connection holds a
# port picked there: [BENCH_PORT_LO, BENCH_PORT_HI).
BENCH_PORT_HI=$(awk '{ print ($1 > 20000 ? $1 : 32768) }' /proc/sys/net/ipv4/ip_local_port_range)
BENCH_PORT_LO=$((BENCH_PORT_HI > 20000 ? BENCH_PORT_HI - 12000 : 20000))
# The ports claim_port handed out in this shell.
BENCH_USED_PORTS=()

# free_port [PORT...]: prints a localhost port that nothing listens on (a
# connect is refused), picked at random in the range above, none of PORT...;
# 1 (after a log line) if 200 tries found none.
free_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((BENCH_PORT_LO + RANDOM % (BENCH_PORT_HI - BENCH_PORT_LO)))
        [[ " $* " == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

# claim_port VAR: sets VAR to a free_port other than those claimed before in
# this shell, and adds it to BENCH_USED_PORTS (a free_port inside $(...) runs
# in a subshell and cannot remember what it handed out); 1 if none was found.
claim_port() {
    local claimed_port_
    claimed_port_=$(free_port ${BENCH_USED_PORTS[@]+"${BENCH_USED_PORTS[@]}"}) || return 1
    BENCH_USED_PORTS+=("$claimed_port_")
    printf -v "$1" '%s' "$claimed_port_"
}

# ---- JSON and numbers ----

# json_get JSON KEY: the number after the first "KEY": in a JSON document
# (empty if KEY is missing or holds no number, e.g. an array).
json_get() {
    awk -v k="\"$2\":" '{
            i = index($0, k)
            if (i) { s = substr($0, i + length(k)); match(s, /^[-0-9.]*/); print substr(s, 1, RLENGTH); exit }
        }' <<<"$1"
}

# now_ms: the wall clock in milliseconds since the epoch.
now_ms() { date +%s%3N; }
# now_iso: the wall clock as loyald stamps its log lines (UTC, milliseconds).
now_iso() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# fmt_num N: 1234567 -> 1,234,567 (rounded).
fmt_num() {
    LC_ALL=C awk -v n="$1" 'BEGIN {
        s = sprintf("%.0f", n); neg = s ~ /^-/; if (neg) s = substr(s, 2)
        o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
        printf "%s%s%s", neg ? "-" : "", s, o }'
}

# ---- the machine ----

# machine_ticks: machine-wide "busy iowait total" ticks (all CPUs) from /proc/stat.
machine_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%.0f %.0f %.0f\n", t - $5 - $6, $6, t }' /proc/stat
}

# busy_text BUSY IOWAIT TOTAL [FORMAT]: the busy and iowait ticks (differences
# of two machine_ticks) as percentages of TOTAL, printed with FORMAT (default
# "%.0f%% busy, %.0f%% iowait").
busy_text() {
    awk -v b="$1" -v w="$2" -v t="$3" -v f="${4:-%.0f%% busy, %.0f%% iowait}" \
        'BEGIN { printf f, (t > 0 ? 100 * b / t : 0), (t > 0 ? 100 * w / t : 0) }'
}

# background_sample: what else keeps the machine busy, over 2 s: busy_text of
# all CPUs, then "; busiest: NAME N%, ... (% of one CPU)" for the processes
# (at most 5) that used more than 5% of a CPU then (top's second frame), if
# top is installed. One line.
background_sample() {
    local b0 w0 t0 b1 w1 t1 top=
    read -r b0 w0 t0 < <(machine_ticks)
    if command -v top >/dev/null 2>&1; then
        top=$(top -b -n 2 -d 2 -w 200 | awk '/^ *PID/ { f++; next }
            f == 2 && NF >= 12 && $9 + 0 > 5 && n < 5 { printf "%s%s %s%%", sep, $12, $9; sep = ", "; n++ }')
    else
        sleep 2
    fi
    read -r b1 w1 t1 < <(machine_ticks)
    busy_text "$((b1 - b0))" "$((w1 - w0))" "$((t1 - t0))"
    echo "${top:+; busiest: $top (% of one CPU)}"
}

# machine_lines DIR: the report's Markdown list items on the machine: CPUs and
# RAM, virtualisation, kernel, and the disk holding DIR (with its rotational flag).
machine_lines() {
    local cpu disk dev rota mem virt
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    disk=$(df -hT "$1" | awk 'NR == 2 { print $1 " (" $2 ", " $3 " total, " $5 " free)" }')
    dev=$(df --output=source "$1" | awk 'NR == 2 { sub("^/dev/", ""); print }')
    rota=$(cat "/sys/block/${dev%%[0-9]*}/queue/rotational" 2>/dev/null || echo "?")
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    virt=$(systemd-detect-virt 2>/dev/null || echo unknown)
    echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem RAM; virtualisation: $virt"
    echo "- kernel: $(uname -srm)"
    echo "- disk (temp dir): $disk; rotational flag (as the virtual disk reports it): $rota"
}

# ---- building ----

# build_targets TARGET...: configures BUILD from ROOT as BUILD_TYPE and builds
# TARGET... there (incremental: only what changed); cmake's output is dropped.
build_targets() {
    log "building ($BUILD_TYPE) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target "$@" >/dev/null
}

# ---- loyald processes ----

# node_config ID NAME DATA_DIR LISTEN PEER_LISTEN LOG_LEVEL [PEER PEER_ID PEER_ENDPOINT]...:
# prints a loyald config: its [node] section, then a [peer PEER] section per triple.
node_config() {
    local id=$1 name=$2 data=$3 listen=$4 peer_listen=$5 level=$6
    shift 6
    echo "[node]"
    echo "id = $id"
    echo "name = $name"
    echo "data_dir = $data"
    echo "listen = $listen"
    echo "peer_listen = $peer_listen"
    echo "log_level = $level"
    while (($# >= 3)); do
        echo
        echo "[peer $1]"
        echo "id = $2"
        echo "endpoint = $3"
        shift 3
    done
}

# wait_loyald ENDPOINT PID LOG WHAT: waits (about 10 s at most) until the
# loyald at ENDPOINT answers `$LOYALCTL status`; if it does not, or process
# PID exits first, logs "WHAT did not answer; its log:" and LOG's last 30
# lines, and returns 1.
wait_loyald() {
    local ep=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        "$LOYALCTL" --node "$ep" --timeout 0.5 status >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$4 did not answer; its log:"
    tail -n 30 "$3" >&2
    return 1
}

# stop_pid PID SIGNAL [TIMEOUT_S]: sends SIGNAL to the child process PID and
# waits for it; SIGKILL if it is still there after TIMEOUT_S (default 10) s.
stop_pid() {
    local pid=$1 sig=$2 timeout=${3:-10} i
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit within $timeout s of SIG$sig; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# remove_work DIR KEEP: removes the temporary directory DIR, unless KEEP is 1:
# then it logs "kept DIR".
remove_work() {
    if [[ $2 == 1 ]]; then
        log "kept $1"
    else
        rm -rf "$1"
    fi
}

# ---- chains of loyald on localhost ----
# A node is a name: its endpoints are CLIENT_EP[name] and PEER_EP[name], its
# id NODE_ID[name], its pid (once started) PID[name]; its config, log and
# data directory are NODE_DIR/name.ini, NODE_DIR/name.log and NODE_DIR/name.
declare -A PID=() CLIENT_EP=() PEER_EP=() NODE_ID=()
NODE_DIR=

# make_chain NAME...: picks two ports for each node (claim_port), gives them
# ids 1, 2, ... and writes each one's config, log_level info, with every
# other node as a peer (a full mesh); 1 if no free port was found.
make_chain() {
    local name other id=1 cport pport
    local -a peers
    for name in "$@"; do
        claim_port cport || return 1
        claim_port pport || return 1
        CLIENT_EP[$name]=tcp://127.0.0.1:$cport
        PEER_EP[$name]=tcp://127.0.0.1:$pport
        NODE_ID[$name]=$id
        id=$((id + 1))
    done
    for name in "$@"; do
        peers=()
        for other in "$@"; do
            [[ $other == "$name" ]] || peers+=("$other" "${NODE_ID[$other]}" "${PEER_EP[$other]}")
        done
        node_config "${NODE_ID[$name]}" "$name" "$NODE_DIR/$name" "${CLIENT_EP[$name]}" \
            "${PEER_EP[$name]}" info ${peers[@]+"${peers[@]}"} >"$NODE_DIR/$name.ini"
    done
}

# start_node NAME: starts $LOYALD for node NAME in the background, its stderr
# appended to its log; sets PID[NAME].
start_node() {
    "$LOYALD" --config "$NODE_DIR/$1.ini" >/dev/null 2>>"$NODE_DIR/$1.log" &
    PID[$1]=$!
}

# wait_node NAME: wait_loyald for node NAME; 1 (after its log's tail) if it
# did not answer.
wait_node() {
    wait_loyald "${CLIENT_EP[$1]}" "${PID[$1]}" "$NODE_DIR/$1.log" "$1"
}

# stop_nodes [TIMEOUT_S]: stop_pid with SIGTERM (SIGKILL after TIMEOUT_S,
# default 10, s) for every node started (PID) and not stopped; empties their PID.
stop_nodes() {
    local name
    for name in "${!PID[@]}"; do
        if [[ -n ${PID[$name]} ]]; then
            stop_pid "${PID[$name]}" TERM "${1:-10}"
        fi
        PID[$name]=
    done
}

# endpoints NAME...: the nodes' client endpoints, comma-separated.
endpoints() {
    local name out=()
    for name in "$@"; do
        out+=("${CLIENT_EP[$name]}")
    done
    local IFS=,
    echo "${out[*]}"
}

# ---- figures and RESULTS.md ----

# ratio A B: A / B with two decimals, "-" when B is 0 or empty.
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

# median V...: the median of the numbers, one decimal; "-" for none.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        printf "%.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# errors_of JSON: loyalbench's "errors" object as "name:count,..." ("" for none).
errors_of() { sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$1" | tr -d '"'; }

# write_section HEADING SECTION RESULTS: puts the file SECTION into RESULTS in
# place of its section "## HEADING" (up to the next "## " heading), or at its
# end; RESULTS is created if missing.
write_section() {
    local tmp
    tmp=$(mktemp "${TMPDIR:-/tmp}/loyal-results-XXXXXX")
    touch "$3"
    awk -v head="## $1" -v sec="$2" '
        index($0, head) == 1 { skip = 1; if (!done) { while ((getline l < sec) > 0) print l; done = 1 }; next }
        skip && /^## / { skip = 0; print "" }
        !skip { print }
        END { if (!done) { print ""; while ((getline l < sec) > 0) print l } }' "$3" >"$tmp"
    cp "$tmp" "$3"
    rm -f "$tmp"
    log "wrote the section into $3"
}
