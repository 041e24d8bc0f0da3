#!/bin/sh
# Runs every test program in build directory $1 and the shell tests (which
# get the vae binary as their argument), then adds up their
# "N passed, N failed" lines into one.
dir=${1:-build/rel}
total_pass=0
total_fail=0
total_skip=0

# run NAME COMMAND...: runs one test and adds its summary line to the totals.
# A test that dies before its summary, or exits non-zero with no failure
# counted, counts as one failure.
run() {
    name=$1
    shift
    echo "== $name"
    out=$("$@" 2>&1)
    status=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\2/p')
    s=$(printf '%s\n' "$line" | sed -n 's/^.*, \([0-9]*\) skipped$/\1/p')
    if [ -z "$p" ]; then
        echo "FAIL $name exited with status $status without a summary"
        p=0 f=1
    elif [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name exited with status $status"
        f=1
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + ${s:-0}))
}

for t in "$dir"/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
for s in tests/test_*.sh; do
    [ -f "$s" ] && run "$(basename "$s")" sh "$s" "$dir/vae"
done
if [ "$total_skip" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
