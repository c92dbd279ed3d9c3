#!/usr/bin/env bash
# deploy/quickstart.sh -- build Loyal and run a local chain of three branch nodes
# that replicate to each other.
#
#   ./deploy/quickstart.sh [start] [--no-install]   set up, build, start, run a short demo
#   ./deploy/quickstart.sh status                   is each node running, its status, verify
#   ./deploy/quickstart.sh stop                     stop the nodes (SIGTERM; SIGKILL after 10 s)
#
# The nodes run in the background from build/release; their configs, data,
# logs and pid files live in deploy/run/ (not tracked by git). Starting when
# the chain already runs starts only what is missing and reruns the demo
# with fresh transaction ids. Every node has a CurveZMQ key (deploy/run/keys/,
# made once with loyalctl keygen) and lists its peers' keys, an operator key
# "head-office" and a till key "till" (README "Security"); every loyalctl call
# here uses them. The demo makes changes at one branch and waits
# (boundedly) until the others show them; when a branch does not catch up in
# time it says so, shows the logs and exits 1, leaving the chain running.
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

start_wait_s=20    # per node, until it answers `status`
stop_wait_s=10     # after SIGTERM, before SIGKILL
replicate_wait_s=5 # demo: until a change made at one branch shows at another
verify_wait_s=10   # demo: until `loyalctl verify` finds the chain converged
link_wait_s=15     # until every node reports its peers up (their handshakes)

usage() {
    cat <<'EOF'
usage: deploy/quickstart.sh [start] [--no-install]
       deploy/quickstart.sh status
       deploy/quickstart.sh stop

start   install missing Debian packages, build build/release, start three branch
        nodes (north, south, east) that replicate to each other, in the
        background, and run a short demo across them
status  show whether each node runs, its `loyalctl status`, and `loyalctl verify`
stop    stop the nodes: SIGTERM, then SIGKILL after 10 seconds
EOF
}

die() {
    echo "quickstart: $*" >&2
    exit 1
}

endpoint() { echo "tcp://127.0.0.1:${client_port[$1]}"; }

keys_dir=$run_dir/keys
key_rel=deploy/run/keys # as the demo prints it
operator_key=head-office
till_key=till

# loyalctl at node $1 with key $2 (default: the operator's), remaining args
# passed on.
ctl_as() {
    local name=$1 key=$2
    shift 2
    "$loyalctl" --node "$(endpoint "$name")" --key "$keys_dir/$key.key" \
        --node-key "$keys_dir/$name.pub" "$@"
}
ctl() {
    local name=$1
    shift
    ctl_as "$name" "$operator_key" "$@"
}
# What ctl_as runs, as the demo prints it.
ctl_line() {
    echo "build/release/node/loyalctl --node $(endpoint "$1") --key $key_rel/$2.key" \
        "--node-key $key_rel/$1.pub"
}

# Makes the key pairs that are missing: one per node, the operator's, the till's.
make_keys() {
    local k made=()
    mkdir -p "$keys_dir"
    chmod 700 "$keys_dir"
    for k in "${names[@]}" "$operator_key" "$till_key"; do
        [[ -f $keys_dir/$k.key && -f $keys_dir/$k.pub ]] && continue
        rm -f "$keys_dir/$k.key" "$keys_dir/$k.pub"
        "$loyalctl" keygen "$k" --dir "$keys_dir" >/dev/null || die "loyalctl keygen $k failed"
        made+=("$k")
    done
    ((${#made[@]} == 0)) || echo "made CurveZMQ key pairs in $key_rel: ${made[*]}"
}

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
    ctl "$1" --timeout 1 status >/dev/null 2>&1
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
        echo "key = keys/$name.key"
        for other in "${names[@]}"; do
            [[ $other == "$name" ]] && continue
            echo
            echo "[peer $other]"
            echo "id = ${node_id[$other]}"
            echo "endpoint = tcp://127.0.0.1:${peer_port[$other]}"
            echo "key = keys/$other.pub"
        done
        echo
        echo "[operator $operator_key]"
        echo "key = keys/$operator_key.pub"
        echo
        echo "[pos $till_key]"
        echo "key = keys/$till_key.pub"
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

# Prints how many peers node $1 reports with "$2":true in its status (up,
# converged); 0 if it does not answer.
peers_with() {
    local out n=0
    out=$(ctl "$1" --timeout 1 --json status 2>/dev/null) || true
    while [[ $out =~ \"$2\":true(.*) ]]; do
        n=$((n + 1))
        out=${BASH_REMATCH[1]}
    done
    echo "$n"
}

# Waits until every node reports all its peers up (replication links
# established), for at most link_wait_s seconds. If they do not connect in
# time, says so and shows the logs; the demo then goes on and shows what
# replicates and what does not.
wait_links() {
    local name start=$SECONDS all
    echo "== waiting until the branches are connected to each other"
    while :; do
        all=1
        for name in "${names[@]}"; do
            (($(peers_with "$name" up) == ${#names[@]} - 1)) || all=0
        done
        ((all)) && break
        if ((SECONDS - start >= link_wait_s)); then
            echo "quickstart: not every branch is connected to the other two after" \
                "${link_wait_s} s; the demo goes on, but replication may lag or fail" >&2
            for name in "${names[@]}"; do
                echo "$name reports $(peers_with "$name" up) of $((${#names[@]} - 1)) peers up" >&2
                show_log_tail "$name"
            done
            return 0
        fi
        sleep 0.2
    done
    echo "every branch is connected to the other two"
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

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# Milliseconds $1 as "1.234 s".
secs() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }

# Says that the demo could not go on, leaves the chain running, exits 1.
demo_failed() {
    echo "quickstart: the demo stopped here; the chain is left running" >&2
    echo "inspect it with ./deploy/quickstart.sh status; stop it with ./deploy/quickstart.sh stop" >&2
    exit 1
}

# One demo step at branch $1 with key $2: prints what it does ($3) and the
# command, runs it; it must exit with 0 (or $want_rc if set).
step_as() {
    local name=$1 key=$2 what=$3
    shift 3
    echo
    echo "== $what"
    echo "\$ $(ctl_line "$name" "$key") $(shell_words "$@")"
    local rc=0
    ctl_as "$name" "$key" "$@" || rc=$?
    if ((rc != ${want_rc:-0})); then
        echo "quickstart: the demo step failed at $name (loyalctl exit status $rc)" >&2
        show_log_tail "$name"
        demo_failed
    fi
}

# step_as with the operator's key.
step_at() {
    local name=$1
    shift
    step_as "$name" "$operator_key" "$@"
}

# Prints customer $2's balance at branch $1; nothing if the branch does not
# know the customer (yet) or does not answer within a second.
balance_at() {
    local out
    out=$(ctl "$1" --timeout 1 --json customer "$2" 2>/dev/null) ||
        return 0
    if [[ $out =~ \"balance\":(-?[0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    fi
}

# Polls branch $1 until customer $2's balance there is $3 (as branch $4 shows
# it), for at most replicate_wait_s seconds, and says how long it waited. If it
# does not get there in time, says so, shows the branch's log and stops the demo.
await_balance() {
    local name=$1 cust=$2 want=$3 from=$4 start got
    start=$(now_ms)
    while :; do
        got=$(balance_at "$name" "$cust")
        [[ $got == "$want" ]] && break
        if (($(now_ms) - start >= replicate_wait_s * 1000)); then
            echo
            echo "quickstart: $name has not caught up within ${replicate_wait_s} s: it shows" \
                "${got:+balance $got}${got:-no customer $cust}; $from shows $want" >&2
            show_log_tail "$name"
            echo "north's view of the chain:" >&2
            ctl north --timeout 2 status >&2 || true
            demo_failed
        fi
        sleep 0.1
    done
    echo
    echo "== $name shows balance $want for $cust, as $from does (waited $(secs $(($(now_ms) - start))))"
}

# Polls branch $1 until it runs program version $2 (applied at branch $3),
# for at most replicate_wait_s seconds; stops the demo if it does not.
await_program() {
    local name=$1 want=$2 from=$3 start out
    start=$(now_ms)
    while :; do
        out=$(ctl "$name" --timeout 1 --json status 2>/dev/null) || true
        [[ $out =~ \"program\":$want[,}] ]] && break
        if (($(now_ms) - start >= replicate_wait_s * 1000)); then
            echo "quickstart: $name does not run program version $want within" \
                "${replicate_wait_s} s" >&2
            show_log_tail "$name"
            demo_failed
        fi
        sleep 0.1
    done
    echo
    echo "== $name runs program version $want, applied at $from (waited $(secs $(($(now_ms) - start))))"
}

# loyalctl verify from north's config (its key, and each peer's key), with
# timeout $1 seconds.
verify_north() {
    "$loyalctl" --key "$keys_dir/$operator_key.key" --timeout "$1" verify --config "$run_dir/north.ini"
}

# Runs `loyalctl verify` until the chain has converged, for at most
# verify_wait_s seconds; shows the last answer. On failure shows the logs.
verify_chain() {
    local start rc out name
    echo
    echo "== every branch holds the same events and the same state (digest)"
    echo "\$ build/release/node/loyalctl --key $key_rel/$operator_key.key verify --config deploy/run/north.ini"
    start=$(now_ms)
    while :; do
        rc=0
        out=$(verify_north 2 2>&1) || rc=$?
        ((rc == 0 || $(now_ms) - start >= verify_wait_s * 1000)) && break
        sleep 0.5
    done
    echo "$out"
    if ((rc != 0)); then
        echo "quickstart: the chain has not converged within ${verify_wait_s} s" \
            "(loyalctl verify exit status $rc)" >&2
        for name in "${names[@]}"; do
            show_log_tail "$name"
        done
        demo_failed
    fi
    echo "(verified $(secs $(($(now_ms) - start))) after the first try)"
}

demo() {
    # Fresh transaction ids on every run; the enroll keeps its default id
    # (enroll:CUSTOMER), so enrolling again just returns the first result.
    local run cust=C-1001 want
    run=demo-$(date -u +%Y%m%dT%H%M%S)-$$
    echo
    echo "== demo (transaction ids $run-*): changes at north, seen at south and east"
    step_at north "head office applies the chain's loyalty program once, at any branch (here north)" \
        program apply "$root/deploy/quickstart-program.ini" --operator head-office \
        --reason "quickstart demo"
    await_program south 1 north
    step_at north "at north: enroll customer $cust with a name and a birthday" \
        enroll "$cust" --name "Ada Lovelace" --birthday 1990-12-10
    step_as north "$till_key" "at north, the till (its own key, role pos): a purchase of 42.50 earns points" \
        earn "$cust" 4250 --txn "$run-sale1"
    step_at north "at north: a purchase of 199.99 in category electronics earns double points" \
        earn "$cust" 19999 --category electronics --txn "$run-sale2"
    step_at north "at north: refund 10.00 of the 42.50 purchase: its points are taken back" \
        reverse "$run-sale1" --amount 1000 --txn "$run-refund1"
    want_rc=1 step_as north "$till_key" "the till may not give points away: adjustments need an operator's key (exit 1, forbidden)" \
        adjust "$cust" 1000 --reason "for me" --txn "$run-till-adjust"
    step_at north "at north: a goodwill adjustment of 25 points, with a reason; the operator recorded is the key's name, $operator_key" \
        adjust "$cust" 25 --reason "sorry for the long wait at the till" --operator quickstart \
        --txn "$run-goodwill1"
    want=$(balance_at north "$cust")
    [[ -n $want ]] || {
        echo "quickstart: north does not show $cust" >&2
        show_log_tail north
        demo_failed
    }

    echo
    echo "== replication: waiting (at most ${replicate_wait_s} s each) until south and east" \
        "show the balance north shows, $want"
    local name
    for name in south east; do
        await_balance "$name" "$cust" "$want" north
        step_at "$name" "the same customer at $name" customer "$cust" --history 3
    done

    step_at south "at south: the customer redeems 100 points" \
        redeem "$cust" 100 --txn "$run-redeem1"
    want=$(balance_at south "$cust")
    await_balance east "$cust" "$want" south
    step_at east "the redemption at south, seen at east" customer "$cust" --history 3

    # A node learns its peers' state from their heartbeats (one a second):
    # give north's view a moment to catch up before showing it.
    local start=$SECONDS
    while (($(peers_with north converged) < ${#names[@]} - 1 && SECONDS - start < verify_wait_s)); do
        sleep 0.2
    done
    step_at north "north's view of the chain: itself, then one row per peer" status
    verify_chain
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
    make_keys

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
    wait_links

    demo

    cat <<EOF

The chain is running: three branch nodes on this machine, each replicating
to the other two.
  north  id 1  clients $(endpoint north)  peers tcp://127.0.0.1:7102
  south  id 2  clients $(endpoint south)  peers tcp://127.0.0.1:7202
  east   id 3  clients $(endpoint east)  peers tcp://127.0.0.1:7302
Configs, data, logs and pid files are in deploy/run/; the CurveZMQ keys in
deploy/run/keys/ (the nodes answer only keys their configs list).

Try (LOYAL_KEY and LOYAL_NODE_KEY stand for --key and --node-key):
  export LOYAL_KEY=$key_rel/$operator_key.key LOYAL_NODE_KEY=$key_rel/south.pub
  build/release/node/loyalctl --node $(endpoint south) status
  build/release/node/loyalctl --node $(endpoint south) customer C-1001 --history 20
  build/release/node/loyalctl --node $(endpoint south) program show
  build/release/node/loyalctl verify --config deploy/run/east.ini
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
            ctl "$name" --timeout 2 status || all=1
        fi
    done
    if [[ -x $loyalctl && -n $(node_pid north) ]]; then
        echo
        echo "== verify (asks north, then every peer north knows)"
        verify_north 2 || all=1
    fi
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
