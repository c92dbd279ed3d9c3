#!/usr/bin/env bash
# deploy/quickstart.sh -- build Loyal and run a local chain of three branch nodes.
#
#   ./deploy/quickstart.sh [start] [--no-install]   set up, build, start, run a short demo
#   ./deploy/quickstart.sh status                   is each node running, and its status
#   ./deploy/quickstart.sh stop                     stop the nodes (SIGTERM; SIGKILL after 10 s)
#
# The nodes run in the background from build/release; their configs, data,
# logs and pid files live in deploy/run/ (not tracked by git). Starting when
# the chain already runs starts only what is missing and reruns the demo
# with fresh transaction ids.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

run_dir=$root/deploy/run
build_dir=$root/build/release
loyald=$build_dir/node/loyald
loyalctl=$build_dir/node/loyalctl

names=(north south east)
declare -A node_id=([north]=1 [south]=2 [east]=3)
declare -A client_port=([north]=7101 [south]=7201 [east]=7301)
declare -A peer_port=([north]=7102 [south]=7202 [east]=7302)
declare -A log_start=() # log size before this start, so failures show only new lines

start_wait_s=20 # per node, until it answers `status`
stop_wait_s=10  # after SIGTERM, before SIGKILL

usage() {
    cat <<'EOF'
usage: deploy/quickstart.sh [start] [--no-install]
       deploy/quickstart.sh status
       deploy/quickstart.sh stop

start   install missing Debian packages, build build/release, start three branch
        nodes (north, south, east) in the background and run a short demo on north
status  show whether each node runs, and its `loyalctl status`
stop    stop the nodes: SIGTERM, then SIGKILL after 10 seconds
EOF
}

die() {
    echo "quickstart: $*" >&2
    exit 1
}

endpoint() { echo "tcp://127.0.0.1:${client_port[$1]}"; }

# ---- processes ---------------------------------------------------------------

# Prints the pid of node $1 if it is running (a loyald started with its
# config), else nothing. A stale pid file is removed.
node_pid() {
    local name=$1 pidfile=$run_dir/$1.pid pid cmdline
    [[ -f $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]]; then
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || cmdline=""
        if [[ $cmdline == *loyald*"$run_dir/$name.ini"* ]]; then
            echo "$pid"
            return 0
        fi
    fi
    rm -f "$pidfile"
}

# True if process $1 exists and is not a zombie (a container's init may not reap).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# True if node $1 answers `status` within a second.
node_answers() {
    "$loyalctl" --node "$(endpoint "$1")" --timeout 1 status >/dev/null 2>&1
}

show_log_tail() {
    local log=$run_dir/$1.log from=$((${log_start[$1]:-0} + 1))
    if [[ -s $log ]] && (($(stat -c %s "$log") >= from)); then
        echo "---- last lines of ${log#"$root"/} ----" >&2
        tail -c +"$from" "$log" | tail -n 20 >&2
        echo "----" >&2
    else
        echo "(nothing new in ${log#"$root"/})" >&2
    fi
}

write_config() {
    local name=$1 other
    {
        echo "; written by deploy/quickstart.sh; rewritten at every start"
        echo "[node]"
        echo "id = ${node_id[$name]}"
        echo "name = $name"
        echo "data_dir = data/$name"
        echo "listen = tcp://127.0.0.1:${client_port[$name]}"
        echo "peer_listen = tcp://127.0.0.1:${peer_port[$name]}"
        echo "log_level = info"
        for other in "${names[@]}"; do
            [[ $other == "$name" ]] && continue
            echo
            echo "[peer $other]"
            echo "id = ${node_id[$other]}"
            echo "endpoint = tcp://127.0.0.1:${peer_port[$other]}"
        done
        echo
        echo "[program]"
        echo "points_per_unit = 1"
        echo "minor_units = 100"
        echo
        echo "[category electronics]"
        echo "multiplier = 2"
    } >"$run_dir/$name.ini.tmp"
    mv "$run_dir/$name.ini.tmp" "$run_dir/$name.ini"
}

start_node() {
    local name=$1 pid
    log_start[$name]=$(stat -c %s "$run_dir/$name.log" 2>/dev/null || echo 0)
    # setsid: its own session, so a Ctrl-C in this terminal does not reach it.
    # (A background job of a script is no process group leader, so setsid
    # execs without forking and $! is loyald's pid.)
    local detach=()
    command -v setsid >/dev/null 2>&1 && detach=(setsid)
    nohup ${detach[@]+"${detach[@]}"} "$loyald" --config "$run_dir/$name.ini" </dev/null \
        >>"$run_dir/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$run_dir/$name.pid"
    echo "started $name (id ${node_id[$name]}, pid $pid, $(endpoint "$name"))"
}

# Waits until node $1 answers; on failure shows its log and exits.
wait_node() {
    local name=$1 deadline=$((SECONDS + start_wait_s))
    while ! node_answers "$name"; do
        if [[ -z $(node_pid "$name") ]]; then
            echo "quickstart: $name exited during start-up" >&2
            show_log_tail "$name"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "quickstart: $name did not answer on $(endpoint "$name") within ${start_wait_s} s" >&2
            show_log_tail "$name"
            echo "stop the chain with: ./deploy/quickstart.sh stop" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "$name answers on $(endpoint "$name")"
}

# ---- commands ------------------------------------------------------------------

build() {
    echo "== building build/release (loyald, loyalctl)"
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLY_SANITIZE=OFF \
        -DLY_TESTS=ON >/dev/null ||
        die "cmake configure failed; run: cmake -S . -B build/release"
    cmake --build "$build_dir" --parallel "$(nproc 2>/dev/null || echo 2)" \
        --target loyald loyalctl || die "build failed (see the compiler output above)"
}

# Its arguments as one line a shell reads back the same: 'quoted' where needed.
shell_words() {
    local a out=()
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:@+=,-]+$ ]]; then
            out+=("$a")
        else
            out+=("'${a//\'/\'\\\'\'}'")
        fi
    done
    echo "${out[*]}"
}

# One demo step: prints what it does and the command, runs it on north.
step() {
    local what=$1
    shift
    echo
    echo "== $what"
    echo "\$ build/release/node/loyalctl --node $(endpoint north) $(shell_words "$@")"
    local rc=0
    "$loyalctl" --node "$(endpoint north)" "$@" || rc=$?
    if ((rc != 0)); then
        echo "quickstart: the demo step failed (loyalctl exit status $rc)" >&2
        show_log_tail north
        exit 1
    fi
}

demo() {
    # Fresh transaction ids on every run; the enroll keeps its default id
    # (enroll:CUSTOMER), so enrolling again just returns the first result.
    local run cust=C-1001
    run=demo-$(date -u +%Y%m%dT%H%M%S)-$$
    echo
    echo "== demo on north (transaction ids $run-*)"
    step "enroll customer $cust with a name and a birthday" \
        enroll "$cust" --name "Ada Lovelace" --birthday 1990-12-10
    step "a purchase of 42.50 earns points" \
        earn "$cust" 4250 --txn "$run-sale1"
    step "a purchase of 199.99 in category electronics earns double points" \
        earn "$cust" 19999 --category electronics --txn "$run-sale2"
    step "the customer redeems 100 points" \
        redeem "$cust" 100 --txn "$run-redeem1"
    step "refund 10.00 of the 42.50 purchase: its points are taken back" \
        reverse "$run-sale1" --amount 1000 --txn "$run-refund1"
    step "a goodwill adjustment of 25 points, with a reason" \
        adjust "$cust" 25 --reason "sorry for the long wait at the till" --operator quickstart \
        --txn "$run-goodwill1"
    step "the customer's balance, tier, profile and history" \
        customer "$cust"
    local name
    for name in "${names[@]}"; do
        echo
        echo "== status of branch node $name"
        echo "\$ build/release/node/loyalctl --node $(endpoint "$name") status"
        "$loyalctl" --node "$(endpoint "$name")" status ||
            echo "quickstart: $name did not answer status" >&2
    done
}

cmd_start() {
    local install_arg=()
    if [[ ${1:-} == --no-install ]]; then
        install_arg=(--no-install)
    elif [[ -n ${1:-} ]]; then
        echo "quickstart: unknown option '$1'" >&2
        usage >&2
        exit 2
    fi
    echo "== checking Debian packages"
    # shellcheck source=deploy/deps.sh
    . "$root/deploy/deps.sh"
    ly_deps_ensure "${install_arg[@]}" || exit $?
    build
    mkdir -p "$run_dir"

    local name pid running=() started=()
    for name in "${names[@]}"; do
        pid=$(node_pid "$name")
        if [[ -n $pid ]]; then
            running+=("$name")
        else
            write_config "$name"
            start_node "$name"
            started+=("$name")
        fi
    done
    if ((${#running[@]} == ${#names[@]})); then
        echo "the chain is already running (${running[*]}); running the demo again"
    elif ((${#running[@]})); then
        echo "already running: ${running[*]}; started: ${started[*]}"
    fi
    for name in "${names[@]}"; do
        wait_node "$name"
    done

    demo

    cat <<EOF

The chain is running: three branch nodes on this machine.
  north  id 1  clients $(endpoint north)  peers tcp://127.0.0.1:7102
  south  id 2  clients $(endpoint south)  peers tcp://127.0.0.1:7202
  east   id 3  clients $(endpoint east)  peers tcp://127.0.0.1:7302
Configs, data, logs and pid files are in deploy/run/.

Try:
  build/release/node/loyalctl --node $(endpoint south) status
  build/release/node/loyalctl --node $(endpoint north) customer C-1001 --history 20
  build/release/node/loyalctl --help
  tail -f deploy/run/north.log

Status:  ./deploy/quickstart.sh status
Stop:    ./deploy/quickstart.sh stop
EOF
}

cmd_status() {
    local name pid all=0
    for name in "${names[@]}"; do
        pid=$(node_pid "$name")
        echo
        if [[ -z $pid ]]; then
            echo "== $name: not running"
            all=1
            continue
        fi
        echo "== $name: running (pid $pid), $(endpoint "$name")"
        if [[ -x $loyalctl ]]; then
            "$loyalctl" --node "$(endpoint "$name")" --timeout 2 status || all=1
        fi
    done
    return "$all"
}

cmd_stop() {
    local name pid pids=() deadline
    for name in "${names[@]}"; do
        pid=$(node_pid "$name")
        if [[ -z $pid ]]; then
            echo "$name is not running"
            continue
        fi
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$name:$pid")
        echo "sent SIGTERM to $name (pid $pid)"
    done
    deadline=$((SECONDS + stop_wait_s))
    local entry left
    while :; do
        left=()
        for entry in ${pids[@]+"${pids[@]}"}; do
            alive "${entry#*:}" && left+=("$entry")
        done
        ((${#left[@]} == 0 || SECONDS >= deadline)) && break
        sleep 0.2
    done
    for entry in ${left[@]+"${left[@]}"}; do
        echo "${entry%%:*} did not stop within ${stop_wait_s} s; sending SIGKILL (pid ${entry#*:})"
        kill -KILL "${entry#*:}" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while alive "${entry#*:}" && ((SECONDS < deadline)); do
            sleep 0.1
        done
    done
    for entry in ${pids[@]+"${pids[@]}"}; do
        rm -f "$run_dir/${entry%%:*}.pid"
        echo "${entry%%:*} stopped"
    done
}

cmd=${1:-start}
if (($#)); then
    shift
fi
case "$cmd" in
start) cmd_start "$@" ;;
status)
    (($# == 0)) || {
        usage >&2
        exit 2
    }
    cmd_status
    ;;
stop)
    (($# == 0)) || {
        usage >&2
        exit 2
    }
    cmd_stop
    ;;
-h | --help | help) usage ;;
--no-install) cmd_start --no-install ;;
*)
    echo "quickstart: unknown command '$cmd'" >&2
    usage >&2
    exit 2
    ;;
esac
