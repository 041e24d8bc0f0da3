# cli_checks.sh — what the shell tests share; sourced from the repository
# root after setting $vae and $images: counters, a temporary directory
# $tmp removed at exit, and the check and expect helpers.
# shellcheck shell=sh disable=SC2034
pass=0
fail=0

if [ ! -x "$vae" ] || [ ! -f "$images" ]; then
    echo "FAIL need an executable $vae and $images (run from the repository root)"
    echo "0 passed, 1 failed"
    exit 1
fi
# One thread: these runs are tiny, and OpenMP threads that wait for each
# other on a machine busy with other jobs make them many times slower.
OMP_NUM_THREADS=1
export OMP_NUM_THREADS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vae-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
trap 'exit 1' INT TERM

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}

# expect STATUS PATTERN ARG...: runs vae ARG... and checks its exit status
# and that stderr is one line "vae: ..." matching the extended regex PATTERN.
expect() {
    want=$1 pattern=$2
    shift 2
    "$vae" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    got=$?
    # under wine (tests/cross.sh) wine's own client can lose its server, an
    # error of wine's and not the program's: that run is made again
    if grep -q '^wine client error' "$tmp/stderr"; then
        "$vae" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
        got=$?
    fi
    msg=$(cat "$tmp/stderr")
    if [ "$got" -ne "$want" ]; then
        bad "vae $*: exit status $got, want $want; stderr: $msg"
    elif [ "$(wc -l <"$tmp/stderr")" -ne 1 ]; then
        bad "vae $*: stderr is not one line: $msg"
    elif ! grep -Eq "^vae: .*($pattern)" "$tmp/stderr"; then
        bad "vae $*: stderr '$msg' does not match '$pattern'"
    else
        ok
    fi
}

