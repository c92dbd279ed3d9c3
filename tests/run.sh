#!/usr/bin/env bash
# tests/run.sh -- the one command that sets a fresh Debian machine up and runs every test.
#
#   tests/run.sh [--quick] [--no-install] [--fuzz SECONDS]
#
# 1. checks the Debian packages (deploy/deps.sh) and installs the missing ones
#    (as root, or with password-less sudo; otherwise prints the command, exit 2);
# 2. checks that every *.c and *.h under common proto node tests is clang-format clean;
# 3. builds build/release (RelWithDebInfo) and, unless --quick, build/asan
#    (Debug, -DLY_SANITIZE=ON), and runs ctest in each.
# 4. unless --quick or LY_FUZZ_CI=0, builds the libFuzzer targets in build/fuzz
#    (CC=clang, -DLY_FUZZ=ON) and runs each for LY_FUZZ_SECONDS (20) from a
#    copy of its committed seed corpus (tests/fuzz/*_seed/, never written);
#    a crash fails the run, naming the target and the crash file.
#    --fuzz SECONDS does only steps 1 and 4, each target for SECONDS: the
#    release run is --fuzz 240 (RESULTS.md "Fuzzing" has its figures).
# The last line printed is "N passed, M failed", summed over the ctest runs.
# Exit status: 0 all good; 1 a test, build or format check failed; 2 usage
# error or missing packages. Never prompts; CI=true also turns colours off.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/run.sh [--quick] [--no-install] [--fuzz SECONDS]

Checks and installs the Debian packages Loyal needs, checks formatting, builds
build/release and build/asan, runs every test in both, then runs each fuzz
target for a short while (build/fuzz).

  --quick        release build only (no sanitizer build, no fuzzing)
  --no-install   never install packages; exit 2 if some are missing
  --fuzz SECONDS only the fuzz step, each target for SECONDS (the release
                 run before a tag is --fuzz 240); no format check, no ctest
  -h, --help     this help

Environment: LY_FUZZ_CI=0 skips the fuzz step; LY_FUZZ_SECONDS (default 20)
is how long each fuzz target runs.
EOF
}

quick=0
install=1
fuzz_only=0
while (($#)); do
    arg=$1
    shift
    case "$arg" in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    --fuzz)
        if [[ ${1:-} =~ ^[1-9][0-9]*$ ]]; then
            fuzz_only=1
            LY_FUZZ_SECONDS=$1
            shift
        else
            echo "tests/run.sh: --fuzz needs a number of seconds (for example --fuzz 240)" >&2
            exit 2
        fi
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "tests/run.sh: unknown option '$arg'" >&2
        usage >&2
        exit 2
        ;;
    esac
done

root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

if [[ ${CI:-} == true || ! -t 1 ]]; then
    bold="" reset=""
else
    bold=$'\e[1m' reset=$'\e[0m'
fi
export DEBIAN_FRONTEND=noninteractive

section() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }

# ---- 1. packages ------------------------------------------------------------
section "packages"
# shellcheck source=deploy/deps.sh
. deploy/deps.sh
deps_args=()
((install)) || deps_args=(--no-install)
ly_deps_ensure "${deps_args[@]}" || exit $?
echo "all needed packages are installed"

failures=()
total_passed=0
total_failed=0

# ---- 2. formatting -----------------------------------------------------------
if ((!fuzz_only)); then
    section "clang-format"
    mapfile -t sources < <(find common proto node tests -type f \( -name '*.c' -o -name '*.h' \) |
        LC_ALL=C sort)
    unformatted=()
    for f in "${sources[@]}"; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
    done
    if ((${#unformatted[@]})); then
        echo "not clang-format clean (fix with: clang-format -i FILE):"
        printf '  %s\n' "${unformatted[@]}"
        failures+=("format: ${#unformatted[@]} file(s)")
    else
        echo "${#sources[@]} files clean"
    fi
fi

# ---- 3. build and test -------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Reads ctest's results from its log (the "X% tests passed, F tests failed
# out of T" line) or, failing that, from its JUnit file. Prints "PASSED FAILED",
# or nothing if neither says.
ctest_counts() {
    local log=$1 junit=$2 line tests failures errors
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" |
        tail -n 1) || true
    if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        echo "$((BASH_REMATCH[2] - BASH_REMATCH[1])) ${BASH_REMATCH[1]}"
        return
    fi
    if [[ -s $junit ]]; then
        line=$(grep -m 1 -o '<testsuite [^>]*>' "$junit") || true
        tests=$(grep -o ' tests="[0-9]*"' <<<"$line" | tr -dc '0-9') || true
        failures=$(grep -o ' failures="[0-9]*"' <<<"$line" | tr -dc '0-9') || true
        errors=$(grep -o ' errors="[0-9]*"' <<<"$line" | tr -dc '0-9') || true
        if [[ -n $tests ]]; then
            failures=$((${failures:-0} + ${errors:-0}))
            echo "$((tests - failures)) $failures"
        fi
    fi
}

# build_and_test NAME CMAKE_ARGS...
build_and_test() {
    local name=$1 dir=build/$1 status counts passed failed
    shift
    section "$name: configure and build ($dir)"
    if ! cmake -S . -B "$dir" -DLY_TESTS=ON "$@"; then
        failures+=("$name: cmake configure")
        return
    fi
    # Keep going past a failed target: the tests that did build still run, and
    # ctest counts those that did not as failed.
    local keep_going=()
    case "$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")" in
    *Makefiles*) keep_going=(-- -k) ;;
    Ninja*) keep_going=(-- -k 0) ;;
    esac
    if ! cmake --build "$dir" --parallel "$jobs" ${keep_going[@]+"${keep_going[@]}"}; then
        echo "$name: the build failed; running the tests that did build"
        failures+=("$name: build")
    fi

    section "$name: ctest"
    rm -f "$dir/ctest.log" "$dir/ctest-junit.xml"
    # The tests' temporary directories live in the build tree, away from
    # anything else using /tmp; a failed test's kept directories stay there.
    local tmp="$PWD/$dir/tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    status=0
    (cd "$dir" && TMPDIR="$tmp" ctest --output-on-failure -j2 --no-tests=error \
        --output-junit ctest-junit.xml) 2>&1 | tee "$dir/ctest.log" || status=$?
    counts=$(ctest_counts "$dir/ctest.log" "$dir/ctest-junit.xml")
    if [[ -z $counts ]]; then
        echo "could not read ctest's results (exit status $status); see $dir/ctest.log"
        failures+=("$name: ctest gave no results")
        total_failed=$((total_failed + 1))
        return
    fi
    read -r passed failed <<<"$counts"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    if ((failed > 0)); then
        failures+=("$name: $failed test(s) failed")
    elif ((status != 0)); then
        failures+=("$name: ctest exited with status $status")
    elif ((passed == 0)); then
        failures+=("$name: no tests ran")
    fi
}

if ((!fuzz_only)); then
    build_and_test release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLY_SANITIZE=OFF
fi
if ((!quick && !fuzz_only)); then
    build_and_test asan -DCMAKE_BUILD_TYPE=Debug -DLY_SANITIZE=ON
fi

# ---- 4. fuzz -------------------------------------------------------------------
# Each fuzz target with its most input bytes, its dictionary and its seeds
# (tests/fuzz/): the release lines of tests/fuzz/CMakeLists.txt, for a short time.
fuzz_targets=(
    "fuzz_codec 65600 codec.dict codec_seed"
    "fuzz_peer 300000 peer.dict peer_seed"
    "fuzz_program 300000 program.dict program_seed"
    "fuzz_records 70000 - records_seed"
    "fuzz_config 4096 config.dict config_seed"
)

fuzz_ci() {
    local dir=build/fuzz secs=${LY_FUZZ_SECONDS:-20} t name max dict seed names=()
    section "fuzz: configure and build ($dir)"
    for t in "${fuzz_targets[@]}"; do
        read -r name _ <<<"$t"
        names+=("$name")
    done
    if ! CC=clang cmake -S . -B "$dir" -DLY_FUZZ=ON -DLY_TESTS=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
        failures+=("fuzz: cmake configure")
        return
    fi
    if ! cmake --build "$dir" --parallel "$jobs" --target "${names[@]}"; then
        failures+=("fuzz: build")
        return
    fi

    section "fuzz: each target for $secs s from a copy of its seeds"
    # The corpus copies, crash files, logs and the config target's temporary
    # files stay in the build tree.
    local work="$PWD/$dir/ci" status log crash args runs
    rm -rf "$work"
    mkdir -p "$work/tmp"
    for t in "${fuzz_targets[@]}"; do
        read -r name max dict seed <<<"$t"
        mkdir -p "$work/$name"
        cp -R "tests/fuzz/$seed" "$work/$name/corpus"
        log="$work/$name/fuzz.log"
        args=(-max_len="$max" -max_total_time="$secs" -print_final_stats=1
            -artifact_prefix="$work/$name/")
        [[ $dict == - ]] || args+=(-dict="tests/fuzz/$dict")
        status=0
        TMPDIR="$work/tmp" LY_FUZZ_TMPDIR="$work/tmp" "$dir/tests/fuzz/$name" "${args[@]}" "$work/$name/corpus" \
            >"$log" 2>&1 || status=$?
        crash=$(find "$work/$name" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
            -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
        if ((status != 0)) || [[ -n $crash ]]; then
            tail -n 40 "$log"
            echo "$name: FAILED (exit status $status); crash file: ${crash:-none}; log: $log"
            failures+=("fuzz: $name crashed: ${crash:-see $log}")
        else
            runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
            printf '%s: ok, %s runs in %s s (%s/s), %s inputs in the corpus\n' "$name" \
                "$runs" "$secs" "$((${runs:-0} / secs))" \
                "$(find "$work/$name/corpus" -type f | wc -l)"
        fi
    done
}

if ((fuzz_only)) || { ((!quick)) && [[ ${LY_FUZZ_CI:-1} != 0 ]]; }; then
    fuzz_ci
fi

# ---- summary -----------------------------------------------------------------
section "summary"
if ((${#failures[@]})); then
    printf 'FAILED: %s\n' "${failures[@]}"
    status=1
else
    echo "all checks passed"
    status=0
fi
echo "$total_passed passed, $total_failed failed"
exit "$status"
