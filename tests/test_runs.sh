#!/bin/sh
# test_runs.sh — vae train as people run it for hours: validation and early
# stopping, best.vae, the final NLL, beta and its warm-up, and exact resume.
# A run stopped by Ctrl-C inside an epoch, by SIGTERM, and one killed with
# SIGKILL between epochs are each resumed, and their log bounds, model.vae,
# best.vae and summary.txt must be those of a run never stopped, bit for
# bit (the seconds column aside).
#
#     sh tests/test_runs.sh ./vae        (from the repository root)
#
# Takes about 20 seconds (a few times that under sanitizers).
# shellcheck disable=SC2086,SC2016

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh
skipped=

small="--train $images --limit 1200 --holdout 200 --hidden 16 --latent 2 --batch 25 --pictures off"

# ---- usage errors ----

expect 2 '--val 1000 leaves no training images \(there are 1000 after --holdout\)' \
    train $small --val 1000
expect 2 '--patience stops on the validation bound: give --val N too' train $small --patience 2
expect 2 '--nll-limit goes with --nll' train $small --nll-limit 10
expect 2 'the iwae bound has none to weight' train $small --objective iwae --k 5 --beta 0.5
expect 2 'the iwae bound has none to weight' train $small --objective iwae --k 5 --kl-warmup 2
expect 2 'no model.vae there to go on from' train --resume "$tmp/nothing"
expect 2 '--resume DIR goes alone' train --resume "$tmp/nothing" --lr 0.1
expect 2 '--resume DIR goes alone' train --resume "$tmp/nothing" $small

# ---- validation, best.vae, the final NLL ----

"$vae" train $small --val 200 --epochs 3 --nll 20 --nll-limit 50 --out "$tmp/val" \
    >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a run with --val exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "--val takes 200 after the holdout" \
    grep -q '^data  800 training images, 200 validation images, 200 test images' "$tmp/stdout"
check "log.csv gains val_bound" [ "$(head -n 1 "$tmp/val/log.csv")" = \
    "epoch,train_bound,test_bound,seconds,val_bound" ]
check "val_bound is a negative number in every row" [ "$(grep -Ec \
    '^[1-3],-[0-9.]+,-[0-9.]+,[0-9.]+,-[0-9]+\.[0-9]{4}$' "$tmp/val/log.csv")" -eq 3 ]
best=$(awk -F, 'NR > 1 && (NR == 2 || $5 > v) { v = $5; e = $1 } END { print e }' "$tmp/val/log.csv")
best_val=$(awk -F, -v e="$best" 'NR > 1 && $1 == e { print $5 }' "$tmp/val/log.csv")
check "best.vae written" [ -s "$tmp/val/best.vae" ]
check "summary.txt names best.vae and its epoch $best" [ "$(head -n 3 "$tmp/val/summary.txt")" = \
    "model best.vae
epoch $best
val_bound $best_val" ]
check "summary.txt has the test bound and NLL" grep -Eq '^test_bound -[0-9]+\.[0-9]{4}$' "$tmp/val/summary.txt"
check "the NLL is positive, with K 20 on 50 images" [ "$(sed -n '5,7p' "$tmp/val/summary.txt" |
    sed 's/ [0-9]*\.[0-9]*$/ X/')" = "test_nll X
nll_k 20
nll_images 50" ]
check "the final line names the epoch and the NLL" \
    grep -Eq "^final: the best model of epoch $best: test bound -[0-9.]+, test NLL [0-9.]+ \\(K = 20, 50 images\\)$" \
    "$tmp/stdout"
"$vae" eval --model "$tmp/val/best.vae" --test "$images" --limit 5 >/dev/null 2>"$tmp/stderr"
rc=$?
check "best.vae is a model eval reads ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]

# Early stopping. With a learning rate this small the validation bound
# barely moves and its noise decides: a new best becomes rare as the
# epochs go by, so patience 2 stops the run long before 40 epochs.
"$vae" train $small --val 200 --lr 1e-7 --patience 2 --epochs 40 --out "$tmp/patience" \
    >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a run with --patience exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "it says why it stopped" grep -qx 'stopped: the validation bound has not improved for 2 epochs' \
    "$tmp/stdout"
check "it stopped at the first epoch 2 after its best" awk -F, '
    NR == 1 { next }
    { if (n == 0 || $5 > v) { v = $5; b = $1 } n = $1
      if (n - b >= 2 && !stop) stop = n }
    END { exit !(stop == n && n < 40) }' "$tmp/patience/log.csv"
expect 2 'the validation bound no better for 2' train --resume "$tmp/patience" --epochs 50

# ---- beta and its warm-up ----

"$vae" train $small --beta 0.5 --epochs 2 --out "$tmp/beta" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a run with --beta 0.5 exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "log.csv gains train_objective" [ "$(head -n 1 "$tmp/beta/log.csv")" = \
    "epoch,train_bound,test_bound,seconds,train_objective" ]
# half the KL term counts: the objective is above the ELBO
check "the objective is above the true ELBO" awk -F, 'NR > 1 && !($5 > $2) { bad = 1 } END { exit bad }' \
    "$tmp/beta/log.csv"
"$vae" train $small --kl-warmup 2 --epochs 3 --out "$tmp/warmup" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a run with --kl-warmup 2 exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
# beta rises through epochs 1 and 2 (objective above the bound), is 1 in 3
check "the warm-up ends after 2 epochs" awk -F, '
    NR == 2 || NR == 3 { if (!($5 > $2)) bad = 1 }
    NR == 4 { if ($5 != $2) bad = 1 }
    END { exit bad || NR != 4 }' "$tmp/warmup/log.csv"

# ---- exact resume ----

# Large enough that an epoch lasts about half a second, so that a signal
# sent just after epoch 1 lands inside epoch 2; smaller under the
# sanitizers (build/san), whose build is 20-50 times slower.
case $vae in
*san*)
    long="--train $images --limit 2000 --holdout 200 --val 200 --hidden 64 --latent 8 --objective iwae --k 5"
    train_n=1600
    ;;
*)
    long="--train $images --holdout 500 --val 500 --objective iwae --k 5"
    train_n=9000
    ;;
esac
long="$long --pictures off"

# A shell without job control starts background jobs with SIGINT ignored,
# and vae train leaves it so (as programs do, for nohup and the like):
# $default_int runs a command with SIGINT back to its default.
if env --default-signal=INT true 2>/dev/null; then
    default_int="env --default-signal=INT"
elif command -v perl >/dev/null 2>&1; then
    default_int="perl -e \$SIG{INT}='DEFAULT';exec(@ARGV)or(die)"
else
    default_int=
fi

# start_run DIR ARG...: starts vae train ARG... in the background, with
# SIGINT at its default; its pid in $pid, stdout and stderr in DIR.out and
# DIR.err.
start_run() {
    dir=$1
    shift
    $default_int "$vae" train "$@" >"$dir.out" 2>"$dir.err" &
    pid=$!
}

# wait_rows DIR N: waits until DIR/log.csv has N epochs (at most a minute).
wait_rows() {
    tries=0
    while [ "$(cat "$1/log.csv" 2>/dev/null | wc -l)" -le "$2" ] && [ $tries -lt 1200 ]; do
        sleep 0.05
        tries=$((tries + 1))
    done
}

# same_run REF DIR WHAT: DIR's results are REF's, bit for bit.
same_run() {
    check "$3: log.csv bounds as uninterrupted" [ "$(cut -d, -f1-3,5- "$1/log.csv")" = \
        "$(cut -d, -f1-3,5- "$2/log.csv")" ]
    check "$3: model.vae as uninterrupted" cmp -s "$1/model.vae" "$2/model.vae"
    check "$3: best.vae as uninterrupted" cmp -s "$1/best.vae" "$2/best.vae"
    check "$3: summary.txt as uninterrupted" cmp -s "$1/summary.txt" "$2/summary.txt"
}

"$vae" train $long --epochs 4 --out "$tmp/ref" >/dev/null 2>"$tmp/stderr"
rc=$?
check "the uninterrupted run exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]

# Ctrl-C inside epoch 2, then SIGTERM inside the resumed run; where there
# is no SIGTERM (Windows, under wine: VAE_TEST_NO_SIGTERM=1), Ctrl-C again.
term=TERM term_status=143
if [ -n "${VAE_TEST_NO_SIGTERM:-}" ]; then
    term=INT term_status=130
fi
if [ -n "$default_int" ]; then
    start_run "$tmp/int" $long --epochs 3 --out "$tmp/int"
    wait_rows "$tmp/int" 1
    sleep 0.1
    kill -INT $pid
    wait $pid
    rc=$?
    check "SIGINT exits 130 ($(cat "$tmp/int.err"))" [ $rc -eq 130 ]
    stopped=$(sed -n 's/^vae: stopped in epoch 2 after \([0-9]*\) of '"$train_n"' images; go on with: vae train --resume .*int$/\1/p' \
        "$tmp/int.err")
    check "SIGINT stops inside epoch 2 and says how to go on ($(cat "$tmp/int.err"))" \
        eval '[ "${stopped:-0}" -gt 0 ] && [ "${stopped:-0}" -lt $train_n ]'
    check "no temporary file is left" [ -z "$(ls "$tmp/int" | grep tmp)" ]
    expect 2 '--epochs 2: the run was for 3; it may only be raised' train --resume "$tmp/int" --epochs 2
    start_run "$tmp/int" --resume "$tmp/int" --threads 2
    wait_rows "$tmp/int" 2
    sleep 0.1
    kill -$term $pid
    wait $pid
    rc=$?
    check "SIG$term exits $term_status ($(cat "$tmp/int.err"))" [ $rc -eq $term_status ]
    check "the resume said where it went on" grep -q "^resuming $tmp/int in epoch 2 after $stopped of $train_n" \
        "$tmp/int.out"
    check "SIG$term stopped it in epoch 3" grep -q '^vae: stopped in epoch 3 after' "$tmp/int.err"
    "$vae" train --resume "$tmp/int" >"$tmp/int.out" 2>"$tmp/int.err"
    rc=$?
    check "the resumed run ends ($(cat "$tmp/int.err"))" [ $rc -eq 0 ]
    expect 2 'the run ended after 3 epochs; give --epochs N' train --resume "$tmp/int"
    # raising --epochs goes on as if the run had been for 4 from the start
    "$vae" train --resume "$tmp/int" --epochs 4 >"$tmp/int.out" 2>"$tmp/int.err"
    rc=$?
    check "--epochs 4 continues it ($(cat "$tmp/int.err"))" [ $rc -eq 0 ]
    same_run "$tmp/ref" "$tmp/int" "stopped by SIGINT and SIGTERM"
else
    echo "# SKIP the Ctrl-C test: neither env --default-signal nor perl can undo an ignored SIGINT"
    skipped=1
fi

# SIGKILL just after epoch 2's checkpoint, pictures on: the resume goes on
# from the end of epoch 2.
start_run "$tmp/kill" $long --epochs 4 --pictures on --out "$tmp/kill"
wait_rows "$tmp/kill" 2
kill -KILL $pid
wait $pid 2>/dev/null
"$vae" train --resume "$tmp/kill" >"$tmp/kill.out" 2>"$tmp/kill.err"
rc=$?
check "the killed run resumes ($(cat "$tmp/kill.err"))" [ $rc -eq 0 ]
check "from the start of an epoch" grep -q "^resuming $tmp/kill in epoch [34] after 0 of $train_n" "$tmp/kill.out"
check "with its pictures" [ -s "$tmp/kill/report.html" ]
same_run "$tmp/ref" "$tmp/kill" "killed by SIGKILL"
# stopped in its final evaluation: only that is left to do
rm "$tmp/kill/summary.txt"
"$vae" train --resume "$tmp/kill" >"$tmp/kill.out" 2>"$tmp/kill.err"
check "a run stopped in its final evaluation finishes it ($(cat "$tmp/kill.err"))" \
    grep -q "^resuming $tmp/kill: its 4 epochs are done, its final evaluation is not" "$tmp/kill.out"
check "with the same summary.txt" cmp -s "$tmp/ref/summary.txt" "$tmp/kill/summary.txt"
check "and the same model.vae" cmp -s "$tmp/ref/model.vae" "$tmp/kill/model.vae"

# ---- a conv model: validation, early stopping and exact resume ----

# Model A's parts (the isotropic posterior, the Gaussian's linear mean and
# learned sigma) on strided convolutions, an epoch of about a second.
case $vae in
*san*) cdata="--train $images --limit 1500 --holdout 200 --val 200" ctrain=1100 ;;
*) cdata="--train $images --holdout 500 --val 500" ctrain=9000 ;;
esac
cdata="$cdata --latent 2 --k 2 --binarize none --pictures off --posterior isotropic --likelihood gaussian --mean linear"
enc="conv 8 3 s2 p1,relu,conv 8 3 s2 p1,relu"
dec="fc 392,relu,view 8 7 7,convt 8 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1"
"$vae" train $cdata --encoder "$enc" --decoder "$dec" --epochs 3 --patience 5 --out "$tmp/conv_ref" \
    >/dev/null 2>"$tmp/stderr"
rc=$?
check "a conv run with --val and --patience exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "its log has a validation bound in each of 3 rows" [ "$(grep -Ec \
    '^[1-3],-[0-9.]+,-[0-9.]+,[0-9.]+,-[0-9]+\.[0-9]{4}$' "$tmp/conv_ref/log.csv")" -eq 3 ]
check "its best.vae is a conv model" eval '"$vae" info "$tmp/conv_ref/best.vae" | grep -q "^dec.out  *convt"'
if [ -n "$default_int" ]; then
    start_run "$tmp/conv_int" $cdata --encoder "$enc" --decoder "$dec" --epochs 3 --patience 5 \
        --out "$tmp/conv_int"
    wait_rows "$tmp/conv_int" 1
    sleep 0.2
    kill -INT $pid
    wait $pid
    rc=$?
    check "SIGINT stops the conv run with 130 ($(cat "$tmp/conv_int.err"))" [ $rc -eq 130 ]
    check "inside epoch 2 ($(cat "$tmp/conv_int.err"))" \
        grep -q "^vae: stopped in epoch 2 after [1-9][0-9]* of $ctrain images" "$tmp/conv_int.err"
    "$vae" train --resume "$tmp/conv_int" --threads 2 >"$tmp/conv_int.out" 2>"$tmp/conv_int.err"
    rc=$?
    check "the conv run resumes on 2 threads ($(cat "$tmp/conv_int.err"))" [ $rc -eq 0 ]
    same_run "$tmp/conv_ref" "$tmp/conv_int" "a conv run stopped by SIGINT"
fi
"$vae" train $cdata --encoder "$enc" --decoder "$dec" --limit 1500 --lr 1e-7 --patience 2 --epochs 40 \
    --out "$tmp/conv_patience" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a conv run stops early ($(cat "$tmp/stderr"))" eval '[ $rc -eq 0 ] && grep -qx "stopped: the validation bound has not improved for 2 epochs" "$tmp/stdout"'

# ---- refusals to resume ----

mkdir "$tmp/data"
# 2000 images: their header, then their pixels
printf '\0\0\10\3\0\0\7\320\0\0\0\34\0\0\0\34' >"$tmp/data/a.idx"
gzip -dc "$images" | tail -c +17 | head -c 1568000 >>"$tmp/data/a.idx"
"$vae" train --train "$tmp/data/a.idx" --holdout 200 --hidden 16 --latent 2 --epochs 1 \
    --pictures off --out "$tmp/changed" >/dev/null 2>&1
check "a run on a copy of the data" [ -s "$tmp/changed/model.vae" ]
# the same header, other images
{ head -c 16 "$tmp/data/a.idx"; gzip -dc "$images" | tail -c 1568000; } >"$tmp/data/b.idx"
cp "$tmp/data/b.idx" "$tmp/data/a.idx"
expect 2 'the data changed since the run started' train --resume "$tmp/changed" --epochs 2
# 14x14 images: the model's input no longer fits
printf '\0\0\10\3\0\0\7\320\0\0\0\16\0\0\0\16' >"$tmp/data/a.idx"
head -c 392000 /dev/zero >>"$tmp/data/a.idx"
expect 2 'the data now have 14x14 images, the model 784 values per image' \
    train --resume "$tmp/changed" --epochs 2
rm "$tmp/data/a.idx"
expect 1 'a\.idx' train --resume "$tmp/changed" --epochs 2
# a model.vae that vae train did not write
cp "$tmp/val/best.vae" "$tmp/changed/model.vae"
expect 2 'not a checkpoint of vae train' train --resume "$tmp/changed" --epochs 2

if [ -n "$skipped" ]; then
    echo "$pass passed, $fail failed, $skipped skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
