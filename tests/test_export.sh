#!/bin/sh
# test_export.sh — vae export from the command line: its help, its refusals
# (each one line and status 2 or 1, nothing written), the files it writes
# for both formats, and the README's embedding example compiled and run
# against an exported decoder as the README prints it. The generated code
# itself is checked against the library in test_export.c (C) and
# test_onnx.c (ONNX).
#
#     sh tests/test_export.sh ./vae        (from the repository root)
# shellcheck disable=SC2086

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh

"$vae" train --train $images --limit 600 --holdout 100 --epochs 1 --hidden 16 --latent 3 --pictures off \
    --out "$tmp/m" >/dev/null 2>"$tmp/err"
check "a model to export ($(cat "$tmp/err"))" [ -s "$tmp/m/model.vae" ]
model=$tmp/m/model.vae

"$vae" export --help >"$tmp/help" 2>&1
check "export --help exits 0 and names every option" eval '[ $? -eq 0 ] &&
    grep -q -- "--format" "$tmp/help" && grep -q -- "--weights" "$tmp/help" && grep -q -- "--no-libm" "$tmp/help"'
check "vae --help lists export" eval '"$vae" --help | grep -q "^  export "'

# ---- refusals ----
expect 2 'missing --model FILE' export --out "$tmp/x"
expect 2 'missing --out DIR' export --model "$model"
expect 2 "--format must be c or onnx, not 'png'" export --model "$model" --out "$tmp/x" --format png
expect 2 "--name '9lives' is not a C identifier" export --model "$model" --out "$tmp/x" --name 9lives
expect 2 "--name 'a-b' is not a C identifier" export --model "$model" --out "$tmp/x" --name a-b
expect 2 '--weights int8 is for --format c' export --model "$model" --out "$tmp/x" --format onnx --weights int8
expect 2 '--no-libm is for --format c' export --model "$model" --out "$tmp/x" --format onnx --no-libm
expect 1 'nothing\.vae' export --model "$tmp/nothing.vae" --out "$tmp/x"
printf 'not a model at all' >"$tmp/junk.vae"
expect 1 'junk\.vae' export --model "$tmp/junk.vae" --out "$tmp/x"
check "no directory made by the refusals" [ ! -e "$tmp/x" ]
printf 'a file' >"$tmp/afile"
expect 1 "cannot (make|write)" export --model "$model" --out "$tmp/afile/sub"
# a target that cannot be written (a directory in its place, which even
# root cannot replace): nothing at all is written, not the other file
mkdir -p "$tmp/y/digits.c"
expect 1 "cannot write '.*digits\.c'" export --model "$model" --out "$tmp/y" --name digits
check "no partial set of files" [ ! -e "$tmp/y/digits.h" ]

# ---- what it writes ----
"$vae" export --model "$model" --out "$tmp/x" --name digits >"$tmp/out" 2>"$tmp/err"
check "export writes NAME.h and NAME.c ($(cat "$tmp/err"))" [ -s "$tmp/x/digits.h" ] && [ -s "$tmp/x/digits.c" ]
check "and says where, with the weights' size" eval 'grep -q "digits.c  [0-9]* bytes" "$tmp/out" &&
    grep -q "^weights [0-9]* bytes (float32), scratch [0-9]* floats$" "$tmp/out"'
check "the header names the model's layers" grep -q 'dec.out   fc' "$tmp/x/digits.h"
check "no temporary file is left" [ -z "$(ls "$tmp/x" | grep tmp)" ]
# a second export over the first replaces both files whole
cp "$tmp/x/digits.c" "$tmp/first.c"
"$vae" export --model "$model" --out "$tmp/x" --name digits --weights int8 >/dev/null 2>&1
check "int8 replaces the float source" eval '! cmp -s "$tmp/first.c" "$tmp/x/digits.c" &&
    grep -q "signed char" "$tmp/x/digits.c"'
"$vae" export --model "$model" --out "$tmp/x" --name digits --part decoder >/dev/null 2>&1
check "--part decoder has no encoder" eval '! grep -q "digits_encode" "$tmp/x/digits.h" &&
    grep -q "digits_decode" "$tmp/x/digits.h"'
"$vae" export --model "$model" --out "$tmp/x" --name digits --format onnx >"$tmp/out" 2>"$tmp/err"
check "--format onnx writes both parts ($(cat "$tmp/err"))" \
    [ -s "$tmp/x/digits.decoder.onnx" ] && [ -s "$tmp/x/digits.encoder.onnx" ]
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
    check "the ONNX files pass onnx.checker" /usr/bin/python3 -c '
import sys, onnx
for f in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(f), full_check=True)' "$tmp/x/digits.decoder.onnx" "$tmp/x/digits.encoder.onnx"
else
    echo "# SKIP onnx.checker: no python3-onnx"
    skipped=1
fi

# ---- the README's example, as printed there ----
awk '/<!-- export-example -->/ { on = 1; next } on && /^```c/ { grab = 1; next }
     grab && /^```/ { exit } grab { print }' README.md >"$tmp/x/example.c"
check "the README has the example" grep -q 'digits_decode' "$tmp/x/example.c"
"$vae" export --model "$model" --out "$tmp/x" --name digits --part decoder >/dev/null 2>&1
if cc -std=c99 -Wall -Wextra -pedantic -Werror -I"$tmp/x" -o "$tmp/x/example" "$tmp/x/example.c" \
    "$tmp/x/digits.c" -lm 2>"$tmp/err"; then
    ok
    "$tmp/x/example" >"$tmp/digit.txt"
    check "the example prints 28 rows of 28" [ "$(awk 'length($0) == 28' "$tmp/digit.txt" | wc -l)" -eq 28 ]
    check "with ink in them" grep -q '[#%@*+=]' "$tmp/digit.txt"
else
    bad "the README's example compiles: $(cat "$tmp/err")"
fi

if [ -n "${skipped:-}" ]; then
    echo "$pass passed, $fail failed, $skipped skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
