#!/bin/sh
# test_data.sh — the MNIST files shipped in data/mnist are the published ones:
# their MD5 sums match data/mnist/MD5SUMS (tests/test_data.c checks what they
# decode to). Run from the repository root; $1, the vae binary, is not needed.
pass=0
fail=0
if command -v md5sum > /dev/null 2>&1; then
    md5_of() { md5sum < "$1" | cut -d ' ' -f 1; }
elif command -v md5 > /dev/null 2>&1; then
    md5_of() { md5 -q "$1"; }
else
    echo "# neither md5sum nor md5 found: checksums not checked"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
while read -r want name || [ -n "$want" ]; do
    [ -n "$name" ] || continue
    file="data/mnist/$name"
    if [ ! -f "$file" ]; then
        echo "FAIL $file: missing"
        fail=$((fail + 1))
        continue
    fi
    got=$(md5_of "$file")
    if [ "$got" = "$want" ]; then
        pass=$((pass + 1))
    else
        echo "FAIL $file: MD5 $got, expected $want"
        fail=$((fail + 1))
    fi
done < data/mnist/MD5SUMS
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
    echo "FAIL data/mnist/MD5SUMS lists no files"
    fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
