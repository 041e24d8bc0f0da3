#!/bin/sh
# Big-endian check: builds the numeric, backend and file-format tests, and
# the report page's (its weights are little-endian whatever the host), for
# s390x and runs them under qemu (Debian: gcc-s390x-linux-gnu libc6-dev-s390x-cross
# qemu-user). test_train and the CLI tests are left out: emulated, they take
# many minutes. Ends with "N passed, N failed" like tests/run.sh.
set -u
cc=${CROSS_CC:-s390x-linux-gnu-gcc}
run=${CROSS_RUN:-qemu-s390x}
dir=build/s390x
mkdir -p "$dir"
total_pass=0
total_fail=0
total_skip=0
for t in rng grad parity data backend checkpoint report; do
    echo "== test_$t (s390x)"
    if ! $cc -std=c99 -O2 -static -I. -o "$dir/test_$t" "tests/test_$t.c" -lm; then
        echo "FAIL test_$t does not build for s390x"
        total_fail=$((total_fail + 1))
        continue
    fi
    line=$($run "$dir/test_$t" 2>&1 | tail -n 1)
    echo "$line"
    p=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\2/p')
    [ -n "$p" ] || { p=0; f=1; echo "FAIL test_$t ended without a summary"; }
    s=$(printf '%s\n' "$line" | sed -n 's/^.*, \([0-9]*\) skipped$/\1/p')
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + ${s:-0}))
done
if [ "$total_skip" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
