#!/bin/sh
# conv_models.sh MODEL [options] — the course's two convolutional VAEs on
# the full MNIST (pixels / 255), trained by vae and by the same model in
# PyTorch (tests/ref/conv_ref.py) with several seeds on this machine, and
# a table of their bounds per epoch, seconds per epoch and peak memory.
#
#     make conv-a   (or: sh tools/conv_models.sh a [options])
#     make conv-b
#
# MODEL a: the UBC CPEN 455 SimpleVAE (K = 2, isotropic posterior, linear
#          Gaussian mean with a learned sigma, 10 samples, batch 256);
#       b: the lecture's strided conv VAE (L = 20, BCE on grey pixels,
#          batch 128).
# options (each with a value):
#   --data DIR     the full MNIST (default data/mnist-full: make mnist)
#   --out DIR      default out/conv-MODEL
#   --epochs N     default 3 (the assignments: a 20, b 10 or 100)
#   --seeds LIST   default "1 2 3 4"
#   --torch-seeds LIST  PyTorch's seeds, default those of --seeds (model A's
#                  take 25-35 minutes an epoch here: fewer of them, or
#                  runs from elsewhere copied into OUT as torch-seedN.csv)
#   --threads N    vae's threads (default 1); PyTorch gets --torch-threads
#   --torch-threads N   default 1
#   --torch on|off run PyTorch too (default on, where /usr/bin/python3 has torch)
#
# A vae run that finished (its summary.txt is there) is kept, one that
# stopped resumes exactly; PyTorch runs that finished (their CSV has every
# epoch) are kept. The table goes to OUT/table.md and stdout: per epoch the
# mean and standard error over the seeds of each side's train and test
# bounds, and whether the test bounds agree: |difference| <= max(1 nat,
# 2 standard errors of the difference).
set -u
vae=${VAE:-./vae}
python=${PYTHON:-/usr/bin/python3}
model=${1:-}
data=data/mnist-full
out=
epochs=3
seeds="1 2 3 4"
torch_seeds=
threads=1
torch_threads=1
torch=on
die() {
    echo "conv_models: $*" >&2
    exit 2
}
case $model in
a) spec='--encoder "conv 32 5,relu,conv 32 5,relu"'
   spec="$spec"' --decoder "fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5"'
   spec="$spec --posterior isotropic --latent 2 --likelihood gaussian --mean linear --sigma 0"
   spec="$spec --kl analytic --k 10 --batch 256" ;;
b) spec='--encoder "conv 32 3 s2 p1,relu,conv 64 3 s2 p1,relu,fc 256,relu"'
   spec="$spec"' --decoder "fc 256,relu,fc 3136,relu,view 64 7 7,convt 32 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1"'
   spec="$spec --latent 20 --likelihood bernoulli --kl analytic --k 1 --batch 128" ;;
*) die "usage: conv_models.sh a|b [options] (see the top of tools/conv_models.sh)" ;;
esac
shift
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
    --data) data=$2 ;;
    --out) out=$2 ;;
    --epochs) epochs=$2 ;;
    --seeds) seeds=$2 ;;
    --torch-seeds) torch_seeds=$2 ;;
    --threads) threads=$2 ;;
    --torch-threads) torch_threads=$2 ;;
    --torch) torch=$2 ;;
    *) die "unknown option $1 (see the top of tools/conv_models.sh)" ;;
    esac
    shift 2
done
out=${out:-out/conv-$model}
torch_seeds=${torch_seeds:-$seeds}
[ -x "$vae" ] || die "no $vae: run make first"
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
    die "no MNIST in $data: run make mnist (or give --data DIR)"
if [ "$torch" = on ] && ! "$python" -c 'import torch' 2>/dev/null; then
    echo "conv_models: no PyTorch in $python (apt-get install python3-torch): vae's side only" >&2
    torch=off
fi
mkdir -p "$out" || exit 1
for s in $seeds; do
    run=$out/vae-seed$s
    if [ -f "$run/summary.txt" ]; then
        continue
    elif [ -f "$run/model.vae" ]; then
        set -- "$vae" train --resume "$run" --threads "$threads"
    else
        eval "set -- \"\$vae\" train --data \"\$data\" --binarize none --adam-eps 1e-8 --lr 0.001 \
            --epochs \"\$epochs\" --seed \"\$s\" --threads \"\$threads\" --pictures off --out \"\$run\" $spec"
    fi
    echo "conv_models: vae, model $model, seed $s" >&2
    if /usr/bin/time -f %M true 2>/dev/null; then
        /usr/bin/time -f %M -o "$out/vae-seed$s.rss" "$@" >"$out/vae-seed$s.out" || exit 1
    else
        "$@" >"$out/vae-seed$s.out" || exit 1
    fi
done
if [ "$torch" = on ]; then
    for s in $torch_seeds; do
        csv=$out/torch-seed$s.csv
        [ -f "$csv" ] && [ "$(wc -l <"$csv")" -gt "$epochs" ] && continue
        echo "conv_models: PyTorch, model $model, seed $s" >&2
        "$python" tests/ref/conv_ref.py --model "$model" --epochs "$epochs" --seed "$s" \
            --threads "$torch_threads" --data "$data" >"$csv.tmp" && mv "$csv.tmp" "$csv" || exit 1
    done
fi

# one line per run and epoch: side epoch train test seconds rss
for s in $seeds; do
    rss=$(tail -n 1 "$out/vae-seed$s.rss" 2>/dev/null || echo 0)
    awk -F, -v rss="$rss" 'NR > 1 { print "vae", $1, $2, $3, $4, rss / 1024 }' "$out/vae-seed$s/log.csv"
done >"$out/runs.txt"
if [ "$torch" = on ] || [ -n "$(ls "$out"/torch-seed*.csv 2>/dev/null)" ]; then
    for s in $torch_seeds; do
        [ -f "$out/torch-seed$s.csv" ] && awk -F, 'NR > 1 { print "torch", $1, $2, $3, $4, $5 }' "$out/torch-seed$s.csv"
    done >>"$out/runs.txt"
fi
awk -v model="$model" '
function se(ss, s, n) { return n > 1 ? sqrt((ss - s * s / n) / (n - 1) / n) : 0 }
{
    k = $1 SUBSEP $2
    n[k]++; tr[k] += $3; tr2[k] += $3 * $3; te[k] += $4; te2[k] += $4 * $4; sec[k] += $5
    if ($6 > rss[$1]) rss[$1] = $6
    if ($2 > last) last = $2
}
END {
    printf "model %s: mean (standard error) over %d seeds of vae, %d of PyTorch\n\n", model, n["vae" SUBSEP 1],
        n["torch" SUBSEP 1]
    printf "| epoch | vae train | vae test | PyTorch train | PyTorch test | difference | agree | vae s/epoch | PyTorch s/epoch |\n"
    printf "|---|---|---|---|---|---|---|---|---|\n"
    for (e = 1; e <= last; e++) {
        v = "vae" SUBSEP e; t = "torch" SUBSEP e
        printf "| %d | %.2f (%.2f) | %.2f (%.2f) |", e, tr[v] / n[v], se(tr2[v], tr[v], n[v]), te[v] / n[v], se(te2[v], te[v], n[v])
        if (n[t]) {
            d = te[v] / n[v] - te[t] / n[t]
            s2 = sqrt(se(te2[v], te[v], n[v]) ^ 2 + se(te2[t], te[t], n[t]) ^ 2)
            tol = 2 * s2 > 1 ? 2 * s2 : 1
            printf " %.2f (%.2f) | %.2f (%.2f) | %+.2f | %s |", tr[t] / n[t], se(tr2[t], tr[t], n[t]), te[t] / n[t],
                se(te2[t], te[t], n[t]), d, (d < 0 ? -d : d) <= tol ? "yes" : "NO"
            printf " %.1f | %.1f |\n", sec[v] / n[v], sec[t] / n[t]
        } else {
            printf " - | - | - | - | %.1f | - |\n", sec[v] / n[v]
        }
    }
    printf "\npeak RSS: vae %.0f MB", rss["vae"]
    if ("torch" in rss) printf ", PyTorch %.0f MB", rss["torch"]
    printf "\n"
}' "$out/runs.txt" | tee "$out/table.md"
