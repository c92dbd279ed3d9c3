#!/usr/bin/env bash
# redis.sh -- a Redis primary and one replica on free localhost ports, both
# durable like loyald (AOF, appendfsync always, no RDB snapshots): the peer
# run.sh measures beside loyald with redisbench.
#
#   tests/bench/redis.sh start DIR   # start both in DIR (created); prints "PRIMARY_PORT REPLICA_PORT"
#   tests/bench/redis.sh stop DIR    # stop both (the pids in DIR/*.pid)
#
# start returns once the replica reports master_link_status:up and neither
# server is loading or rewriting its AOF (at most 30 s each);
# if it fails it stops what it started, says why on stderr with the tail of
# the logs (DIR/primary.log, DIR/replica.log) and exits 1. When redis-server is
# missing it says so and installs Debian's redis-server through deploy/deps.sh
# (apt-get as root, else sudo -n); where it cannot, it prints the command to
# run and exits 2. LY_REDIS_NO_INSTALL=1: never install, only say what is
# missing. Everything but the ports goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
READY_S=30
STOP_S=10

BENCH_NAME=redis.sh
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

usage() {
    echo "usage: tests/bench/redis.sh (start|stop) DIR" >&2
    exit 2
}

# Installs redis-server (and redis-cli, which it depends on) if it is missing.
ensure_redis() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
    local flag=()
    [[ ${LY_REDIS_NO_INSTALL:-0} == 1 ]] && flag=(--no-install)
    log "redis-server is not installed: the benchmark needs Debian's redis-server" \
        "to compare with${flag[*]:+; not installing it (LY_REDIS_NO_INSTALL=1)}"
    if [[ ${#flag[@]} == 0 ]]; then
        log "installing the Debian package redis-server"
    fi
    # deps.sh's installer, for this one package; its output goes to stderr.
    # shellcheck source=deploy/deps.sh
    if ! (
        . "$ROOT/deploy/deps.sh"
        # shellcheck disable=SC2034 # read by ly_deps_ensure
        LY_DEPS_PACKAGES=(redis-server)
        ly_deps_ensure ${flag[@]+"${flag[@]}"}
    ) >&2; then
        log "redis-server is not available; install it with: apt-get install -y redis-server"
        exit 2
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        log "redis-server or redis-cli still not found after installing redis-server"
        exit 1
    fi
    log "installed $(redis-server --version | cut -d' ' -f1-3)"
}

# write_conf NAME PORT [PRIMARY_PORT]: DIR/NAME.conf for a daemonized server
# with its data in DIR/NAME; a replica of PRIMARY_PORT if given.
write_conf() {
    mkdir -p "$DIR/$1"
    {
        echo "port $2"
        echo "bind 127.0.0.1"
        echo "daemonize yes"
        echo "pidfile $DIR/$1.pid"
        echo "logfile $DIR/$1.log"
        echo "dir $DIR/$1"
        echo "appendonly yes"
        echo "appendfsync always"
        echo "save \"\""
        # The first full sync at once, not after the default wait for more replicas.
        echo "repl-diskless-sync-delay 0"
        if [[ -n ${3:-} ]]; then
            echo "replicaof 127.0.0.1 $3"
        fi
    } >"$DIR/$1.conf"
}

# The pid in DIR/NAME.pid if that process is a redis-server, else nothing.
pid_of() {
    local pid
    pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] && echo "$pid"
    return 0
}

# Stops the primary and the replica started in DIR: SIGTERM, then SIGKILL
# after STOP_S seconds.
stop_all() {
    local name pid pids=()
    for name in replica primary; do
        pid=$(pid_of "$name")
        [[ -n $pid ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    ((${#pids[@]})) || return 0
    for _ in $(seq 1 $((STOP_S * 10))); do
        local alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "redis-server $pid did not stop in $STOP_S s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$DIR/primary.pid" "$DIR/replica.pid"
}

fail_start() {
    log "$1"
    local name
    for name in primary replica; do
        if [[ -f $DIR/$name.log ]]; then
            log "the $name's log ($DIR/$name.log), last lines:"
            tail -n 15 "$DIR/$name.log" >&2
        fi
    done
    exit 1
}

start_all() {
    ensure_redis
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [[ -n $(pid_of primary) || -n $(pid_of replica) ]]; then
        log "a Redis started in $DIR is still running: 'redis.sh stop $DIR' first"
        exit 1
    fi
    trap stop_all EXIT
    local pp rp
    pp=$(free_port)
    rp=$(free_port "$pp")
    write_conf primary "$pp"
    write_conf replica "$rp" "$pp"
    redis-server "$DIR/primary.conf" >&2 || fail_start "the primary did not start"
    local up=0
    for _ in $(seq 1 $((READY_S * 10))); do
        if [[ $(redis-cli -p "$pp" ping 2>/dev/null) == PONG ]]; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || fail_start "the primary on port $pp did not answer PING in $READY_S s"
    redis-server "$DIR/replica.conf" >&2 || fail_start "the replica did not start"
    up=0
    for _ in $(seq 1 $((READY_S * 10))); do
        if redis-cli -p "$rp" info replication 2>/dev/null | grep -q '^master_link_status:up'; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || fail_start "the replica on port $rp did not reach master_link_status:up in $READY_S s"
    # After its first sync the replica rewrites its AOF in a forked child: let
    # that end before the measurements start (it would show as lag).
    up=0
    for _ in $(seq 1 $((READY_S * 10))); do
        if ! redis-cli -p "$pp" info persistence | grep -qE '^(aof_rewrite_in_progress|aof_rewrite_scheduled|loading):1' &&
            ! redis-cli -p "$rp" info persistence | grep -qE '^(aof_rewrite_in_progress|aof_rewrite_scheduled|loading):1'; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) || fail_start "an AOF rewrite or load was still running after $READY_S s"
    trap - EXIT
    log "$(redis-server --version | cut -d' ' -f1-3): primary 127.0.0.1:$pp, replica" \
        "127.0.0.1:$rp (AOF, appendfsync always, no RDB) in $DIR"
    echo "$pp $rp"
}

(($# == 2)) || usage
DIR=$2
case "$1" in
start) start_all ;;
stop) stop_all ;;
*) usage ;;
esac
