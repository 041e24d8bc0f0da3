#!/bin/sh
# test_mcu.sh — exported decoders on a Cortex-M4F under QEMU (tests/mcu):
# a small MLP and a small conv model, trained briefly here, exported by
# vae export, built with arm-none-eabi-gcc and run on qemu-system-arm's
# mps2-an386 on inputs compiled in. Float outputs must be within 1e-5 of
# the same code on the host; int8 ones (with --no-libm, no fused
# multiply-adds) bit for bit the host's. Two runs must agree to the
# instruction count. Without the ARM tools the checks are skipped.
#
#     sh tests/test_mcu.sh ./vae        (from the repository root)
# shellcheck disable=SC2086

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh

small="--train $images --limit 600 --holdout 100 --epochs 1 --pictures off"
"$vae" train $small --hidden 32 --latent 4 --out "$tmp/mlp" >/dev/null 2>"$tmp/err"
check "an MLP to export ($(cat "$tmp/err"))" [ -s "$tmp/mlp/model.vae" ]
"$vae" train $small --latent 3 --binarize none --encoder "conv 4 3 s2 p1,relu,conv 4 3 s2 p1,relu" \
    --decoder "fc 196,relu,view 4 7 7,convt 4 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1" \
    --out "$tmp/conv" >/dev/null 2>"$tmp/err"
check "a conv model to export ($(cat "$tmp/err"))" [ -s "$tmp/conv/model.vae" ]

# latent points: the origin, and values of either sign up to 3
inputs() {
    awk -v z="$1" 'BEGIN {
        printf "static const float inputs[][%d] = {\n", z
        for (i = 0; i < 5; i++) {
            printf "    {"
            for (j = 0; j < z; j++) printf "%s%.3ff", j ? ", " : "", i ? 3 * sin(7 * i + 3 * j) : 0
            printf "},\n"
        }
        printf "};\n" }' >"$tmp/inputs$1.h"
}
inputs 4
inputs 3

skipped=0
for model in mlp conv; do
    z=4
    [ $model = conv ] && z=3
    for weights in float int8; do
        name=${model}_$weights
        set -- --weights $weights
        exact=
        [ $weights = int8 ] && set -- "$@" --no-libm && exact=--exact
        "$vae" export --model "$tmp/$model/model.vae" --out "$tmp/x" --name $name --part decoder "$@" \
            >/dev/null 2>"$tmp/err"
        check "$name exports ($(cat "$tmp/err"))" [ -s "$tmp/x/$name.c" ]
        sh tests/mcu/run.sh -q $exact "$tmp/x" $name "$tmp/inputs$z.h" >"$tmp/run.out" 2>&1
        rc=$?
        if [ $rc -eq 77 ]; then
            echo "# SKIP $name on the Cortex-M4F: $(cat "$tmp/run.out")"
            skipped=$((skipped + 1))
            continue
        fi
        check "$name runs on the Cortex-M4F as on the host ($(cat "$tmp/run.out"))" [ $rc -eq 0 ]
        check "$name: two runs agree, instruction counts included" grep -q '^two runs: identical$' "$tmp/run.out"
        [ -n "$exact" ] && check "$name: every value bit for bit the host's" \
            grep -q "host comparison: ok, \([0-9]*\) values, \1 bit-exact" "$tmp/run.out"
        grep '^instructions per decode, input 1\|^stack' "$tmp/run.out" | sed "s/^/# $name: /"
    done
done

if [ $skipped -gt 0 ]; then
    echo "$pass passed, $fail failed, $skipped skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
