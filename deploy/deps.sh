# deploy/deps.sh -- the Debian packages Loyal needs, checked and installed in one place.
#
# Sourced (not run) by tests/run.sh and deploy/quickstart.sh:
#
#   . deploy/deps.sh
#   ly_deps_ensure [--no-install] || exit $?
#
# ly_deps_ensure checks every package with dpkg-query. Missing ones are
# installed with apt-get (after apt-get update) when running as root, or
# through `sudo -n` when that works without a password. Otherwise, or with
# --no-install, it prints the one command to run and returns 2. It returns 1
# if an installation was attempted and failed, 0 when all is there. It never
# prompts (DEBIAN_FRONTEND=noninteractive, sudo -n), so it is safe under CI.
# shellcheck shell=bash

# What building, testing, formatting and running need; a C compiler and make
# are checked apart (build-essential, or gcc and make on their own). tzdata
# holds the zone files a node config's timezone names (common/tz.h). clang
# builds the libFuzzer targets tests/run.sh runs (build/fuzz); on Debian 12
# (clang 14) libFuzzer's runtime, libclang_rt.fuzzer-x86_64.a, is in
# libclang-rt-14-dev, which clang only recommends.
LY_DEPS_PACKAGES=(cmake pkg-config libzmq3-dev libmsgpack-dev liblmdb-dev libinih-dev
    libcriterion-dev lmdb-utils clang-format tzdata clang libclang-rt-14-dev)

# True if Debian package $1 is installed.
ly_deps_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $status == *" ok installed" ]]
}

# Prints the missing packages, space-separated, on one line (empty if none).
ly_deps_missing() {
    local missing=() p
    if ! ly_deps_installed build-essential &&
        ! { ly_deps_installed gcc && ly_deps_installed make; }; then
        missing+=(build-essential)
    fi
    for p in "${LY_DEPS_PACKAGES[@]}"; do
        ly_deps_installed "$p" || missing+=("$p")
    done
    echo "${missing[*]}"
}

ly_deps_ensure() {
    local install=1
    case "${1:-}" in
    --no-install) install=0 ;;
    "") ;;
    *)
        echo "ly_deps_ensure: unknown option '$1'" >&2
        return 2
        ;;
    esac

    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "warning: dpkg-query not found (not Debian?); not checking packages." >&2
        echo "warning: Loyal needs: a C compiler, make, ${LY_DEPS_PACKAGES[*]}" >&2
        return 0
    fi

    local missing
    missing=$(ly_deps_missing)
    [[ -z $missing ]] && return 0
    echo "missing Debian packages: $missing" >&2

    local -a pkgs sudo
    read -r -a pkgs <<<"$missing"
    if ((install)); then
        if [[ $(id -u) -eq 0 ]]; then
            sudo=()
        elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            install=0
            echo "not root and no password-less sudo: cannot install them here." >&2
        fi
    fi
    if ((!install)); then
        echo "install them with this command, then run again:" >&2
        echo "sudo apt-get install -y ${pkgs[*]}"
        return 2
    fi

    echo "installing: ${pkgs[*]}" >&2
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q
        -o Dpkg::Use-Pty=0)
    if ! "${apt[@]}" update; then
        echo "error: apt-get update failed" >&2
        return 1
    fi
    if ! "${apt[@]}" install -y "${pkgs[@]}"; then
        echo "error: apt-get install failed for: ${pkgs[*]}" >&2
        return 1
    fi
    missing=$(ly_deps_missing)
    if [[ -n $missing ]]; then
        echo "error: still missing after apt-get install: $missing" >&2
        return 1
    fi
    echo "all packages installed" >&2
    return 0
}
