#!/bin/sh
# Runs every test program in build directory $1 and the CLI tests, then adds
# up their "N passed, N failed" lines into one.
dir=${1:-build/rel}
total_pass=0
total_fail=0
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    out=$("$t" 2>&1)
    status=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        # A program that died before its summary counts as one failure.
        echo "FAIL $(basename "$t") exited with status $status without a summary"
        p=0 f=1
    elif [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $(basename "$t") exited with status $status"
        f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
for s in tests/test_*.sh; do
    [ -f "$s" ] || continue
    echo "== $(basename "$s")"
    out=$(sh "$s" "$dir/vae" 2>&1)
    status=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then
        echo "FAIL $(basename "$s") exited with status $status without a summary"
        p=0 f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
