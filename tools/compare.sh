#!/bin/sh
# compare.sh — the course notebook's experiment: the VAE (k-sample ELBO) and
# the IWAE with k = 1, 5 and 50, trained on MNIST binarised by rounding for
# 20 epochs in the reference configuration (784-200-200-50, tanh, Adam
# 1e-3, batch 20), each on one thread and on the default threads.
#
#     make compare                     (or: sh tools/compare.sh [options])
#
# options (each with a value):
#   --data DIR        the full MNIST (default data/mnist-full: make mnist)
#   --out DIR         where the runs go (default out/compare)
#   --epochs N        default 20
#   --nll K           importance samples for the test NLL (default 5000)
#   --nll-limit N     that NLL on the first N test images only (default all)
#   --threads LIST    e.g. "1 default" (the default) or "default"
#   --models LIST     e.g. "elbo:1 elbo:5 elbo:50 iwae:1 iwae:5 iwae:50"
#
# Each run goes to OUT/OBJECTIVE-kK-tT. A run that is complete (it has its
# summary.txt) is kept; one that stopped is resumed exactly with vae train
# --resume: stopping this script costs nothing. At the end it writes
# OUT/compare.md (the table) and OUT/curves.svg (every run's curves).
# Long: 20 epochs of k = 50 take 10-20 minutes per run on one core, and the
# NLL with K = 5000 on 10,000 images about 5 minutes per run.
set -u
vae=${VAE:-./vae}
data=data/mnist-full
out=out/compare
epochs=20
nll=5000
nll_limit=
threads="1 default"
models="elbo:1 elbo:5 elbo:50 iwae:1 iwae:5 iwae:50"

die() {
    echo "compare: $*" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
    --data) data=$2 ;;
    --out) out=$2 ;;
    --epochs) epochs=$2 ;;
    --nll) nll=$2 ;;
    --nll-limit) nll_limit=$2 ;;
    --threads) threads=$2 ;;
    --models) models=$2 ;;
    *) die "unknown option $1 (see the top of tools/compare.sh)" ;;
    esac
    shift 2
done
[ -x "$vae" ] || die "no $vae: run make first"
[ -f "$data/train-images-idx3-ubyte.gz" ] || [ -f "$data/train-images-idx3-ubyte" ] ||
    die "no MNIST training images in $data: run make mnist, or give --data DIR"
mkdir -p "$out" || exit 1

# run DIR ARG...: trains into DIR unless it is complete; resumes it if it stopped.
run() {
    dir=$1
    shift
    if [ -f "$dir/summary.txt" ]; then
        echo "== $dir: done before"
        return 0
    fi
    if [ -f "$dir/model.vae" ]; then
        echo "== $dir: resuming"
        "$vae" train --resume "$dir" $thread_opt
    else
        echo "== $dir"
        "$vae" train "$@" --out "$dir"
    fi
}

names=
for t in $threads; do
    case $t in
    default) thread_opt= ;;
    *) thread_opt="--threads $t" ;;
    esac
    for m in $models; do
        objective=${m%%:*}
        k=${m#*:}
        dir=$out/$objective-k$k-t$t
        # shellcheck disable=SC2086
        run "$dir" --data "$data" --objective "$objective" --k "$k" --epochs "$epochs" --binarize static \
            --nll "$nll" ${nll_limit:+--nll-limit "$nll_limit"} --pictures off $thread_opt ||
            die "the run in $dir failed; run this again to go on with it"
        names="$names,$(echo "$objective" | tr a-z A-Z) k=$k t=$t"
    done
done

# The table: the train bound of the last epoch (the mean over that epoch,
# as the notebook prints it), the test bound and NLL of the final model,
# and seconds per epoch (the log's mean).
table=$out/compare.md
{
    echo "| model | k | threads | train bound | test bound | test NLL | seconds / epoch |"
    echo "|---|---|---|---|---|---|---|"
    for t in $threads; do
        for m in $models; do
            objective=${m%%:*}
            k=${m#*:}
            dir=$out/$objective-k$k-t$t
            awk -F, -v name="$(echo "$objective" | tr a-z A-Z)" -v k="$k" -v t="$t" -v summary="$dir/summary.txt" '
                NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                { train = $col["train_bound"]; secs += $col["seconds"]; n++ }
                END {
                    while ((getline line < summary) > 0) { split(line, w, " "); s[w[1]] = w[2] }
                    printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.1f |\n", name, k, t, train,
                        s["test_bound"], s["test_nll"], secs / n
                }' "$dir/log.csv"
        done
    done
    epochs_run=$(tail -n 1 "$dir/log.csv" | cut -d, -f1)
    k_used=$(sed -n 's/^nll_k //p' "$dir/summary.txt")
    images=$(sed -n 's/^nll_images //p' "$dir/summary.txt")
    echo
    echo "Epochs: $epochs_run. Test NLL: K = $k_used importance samples on the first $images test images."
    echo "Machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores."
} >"$table"
set --
for t in $threads; do
    for m in $models; do
        set -- "$@" "$out/${m%%:*}-k${m#*:}-t$t/log.csv"
    done
done
"$vae" plot "$@" --names "${names#,}" --out "$out/curves.svg" || exit 1
cat "$table"
echo "compare: wrote $table and $out/curves.svg"
