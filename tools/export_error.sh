#!/bin/sh
# export_error.sh MODEL IMAGES [N] — what int8 weights cost an exported
# decoder: the latent means of the first N (1000) test images (vae embed),
# decoded by the float and the int8 export of MODEL's decoder, and the mean
# and largest |mean(int8) - mean(float)| over every pixel, with each
# variant's weight bytes.
#
#     sh tools/export_error.sh out/demo/model.vae data/mnist/t10k-images-idx3-ubyte.gz
set -u
vae=${VAE:-./vae}
[ $# -ge 2 ] || { echo "usage: export_error.sh MODEL IMAGES [N]" >&2; exit 2; }
model=$1 images=$2 n=${3:-1000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vae-export.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
"$vae" embed --model "$model" --test "$images" --limit "$n" --out "$tmp/codes.csv" >/dev/null || exit 1
for w in float int8; do
    "$vae" export --model "$model" --out "$tmp" --name "q_$w" --part decoder --weights $w >"$tmp/$w.txt" || exit 1
done
cat >"$tmp/main.c" <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "q_float.h"
#include "q_int8.h"
static float s[Q_FLOAT_SCRATCH_FLOATS > Q_INT8_SCRATCH_FLOATS ? Q_FLOAT_SCRATCH_FLOATS : Q_INT8_SCRATCH_FLOATS];
static float f[Q_FLOAT_D], q[Q_INT8_D];
int main(void)
{
    char line[65536];
    double sum = 0.0, most = 0.0;
    long images = 0, i;
    if (!fgets(line, sizeof line, stdin)) /* the header */
        return 1;
    while (fgets(line, sizeof line, stdin)) {
        float z[Q_FLOAT_Z];
        char *p = line, *end;
        strtod(p, &end); /* the label, or nothing */
        p = end;
        for (i = 0; i < Q_FLOAT_Z; i++) {
            p += *p == ',';
            z[i] = (float)strtod(p, &end);
            if (end == p)
                return 1;
            p = end;
        }
        q_float_decode(z, f, s);
        q_int8_decode(z, q, s);
        for (i = 0; i < Q_FLOAT_D; i++) {
            double e = fabs(f[i] - q[i]);
            sum += e;
            most = e > most ? e : most;
        }
        images++;
    }
    printf("%ld images: |mean(int8) - mean(float)| %.4f on average, %.4f at most\n", images,
           sum / ((double)images * Q_FLOAT_D), most);
    return 0;
}
EOF
${CC:-cc} -O2 -I"$tmp" -o "$tmp/err" "$tmp/main.c" "$tmp/q_float.c" "$tmp/q_int8.c" -lm || exit 1
"$tmp/err" <"$tmp/codes.csv" || { echo "export_error: the codes did not parse" >&2; exit 1; }
grep "^weights" "$tmp/float.txt"
grep "^weights" "$tmp/int8.txt"
