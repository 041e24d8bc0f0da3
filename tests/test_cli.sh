#!/bin/sh
# test_cli.sh — tests of the vae command-line program: help, usage errors,
# missing and corrupt files, a tiny real training run and its evaluation.
#
#     sh tests/test_cli.sh ./vae        (from the repository root)
#
# Ends with "N passed, N failed" and exits non-zero when anything failed.
# Takes a few seconds (a few more under sanitizers).
#
# Option lists such as $t and $tiny are split into words on purpose; awk
# programs are in single quotes.
# shellcheck disable=SC2086,SC2016

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh

# ---- help ----

for cmd in "--help" "help" "train --help" "eval --help" "help train" "train --batch 5 --help"; do
    "$vae" $cmd >"$tmp/stdout" 2>"$tmp/stderr"
    status=$?
    check "vae $cmd exits 0" [ "$status" -eq 0 ]
    check "vae $cmd prints nothing on stderr" [ ! -s "$tmp/stderr" ]
    check "vae $cmd prints usage" grep -q '^usage: vae' "$tmp/stdout"
done
"$vae" train --help >"$tmp/help"
for o in data train test holdout limit epochs batch objective k optimizer lr adam-eps \
    hidden latent act likelihood sigma prior components kl beta1 beta2 binarize seed out \
    threads help val patience beta kl-warmup nll nll-limit resume pictures; do
    check "train --help lists --$o" grep -q -- "^  --${o}[ =]" "$tmp/help"
done
check "train --help shows the batch default" grep -q -- '--batch N .*(default 20)' "$tmp/help"
"$vae" train --batch 5 --help | grep -q -- '--batch N .*(default 20)'
rc=$?
check "train --batch 5 --help shows the default, not 5" [ $rc -eq 0 ]
check "train --help shows the hidden default" grep -q '(default 200,200)' "$tmp/help"
"$vae" --help >"$tmp/help"
check "vae --help fits in 80 columns" [ "$(awk 'length > 80' "$tmp/help" | wc -l)" -eq 0 ]
"$vae" eval --help >"$tmp/help"
for o in model data test limit objective binarize k nll seed threads help; do
    check "eval --help lists --$o" grep -q -- "^  --${o}[ =]" "$tmp/help"
done

# ---- usage errors: exit status 2, one line on stderr ----

t="--train $images --holdout 200"
expect 2 "unknown command ''" ""
expect 2 'no command' # no arguments at all
expect 2 "unknown command 'frobnicate'" frobnicate
expect 2 "unknown option '--bogus'" train $t --bogus 1
expect 2 "unknown option '--batc'" train $t --batc 1
expect 2 '--batch needs a value' train $t --batch
expect 2 'unexpected argument' train $t stray
expect 2 '--batch must be an integer' train $t --batch 0
expect 2 '--batch must be an integer' train $t --batch 12x
expect 2 '--batch must be an integer' train $t --batch ''
expect 2 '--batch must be an integer' train $t --batch 99999999999999999999
expect 2 '--batch must be an integer' train $t --batch=-5
expect 2 '--k must be an integer' train $t --k 0
expect 2 '--latent must be an integer' train $t --latent -3
expect 2 '--epochs must be an integer' train $t --epochs 1.5
expect 2 '--hidden must be' train $t --hidden 200,,200
expect 2 '--hidden must be' train $t --hidden abc
expect 2 '--hidden must be' train $t --hidden 200,
expect 2 '--hidden must be' train $t --hidden 0
expect 2 '--hidden must be' train $t --hidden 1,2,3,4,5,6,7,8,9
expect 2 '--lr must be' train $t --lr nan
expect 2 '--lr must be' train $t --lr inf
expect 2 '--lr must be' train $t --lr -0.1
expect 2 '--lr must be' train $t --lr 0
expect 2 '--lr must be' train $t --lr 1e-3junk
expect 2 '--adam-eps must be' train $t --adam-eps 0
expect 2 '--seed must be' train $t --seed -1
expect 2 '--seed must be' train $t --seed 18446744073709551616
expect 2 '--objective must be elbo or iwae' train $t --objective vae
expect 2 '--optimizer must be adam or adamax' train $t --optimizer sgd
expect 2 '--act must be tanh, relu or leakyrelu' train $t --act sigmoid
expect 2 '--binarize must be' train $t --binarize sometimes
expect 2 '--threads must be' train $t --threads 0
expect 2 '--likelihood must be bernoulli or gaussian' train $t --likelihood poisson
expect 2 '--sigma must be a number >= 0' train $t --likelihood gaussian --sigma -1
expect 2 '--sigma goes with --likelihood gaussian' train $t --sigma 0.5
expect 2 'sigma 0.0001 is below 0.001' train $t --likelihood gaussian --sigma 0.0001
expect 2 'too many for a checkpoint' train $t --hidden 9500,9500 --out "$tmp/never"
expect 2 '--prior must be normal or mog' train $t --prior vamp
expect 2 '--components must be an integer' train $t --prior mog --components 0
expect 2 '--components goes with --prior mog' train $t --components 4
expect 2 '--kl must be mc or analytic' train $t --kl exact
expect 2 'analytic KL needs the elbo objective' train $t --kl analytic --objective iwae \
    --out "$tmp/never"
expect 2 'analytic KL needs the elbo objective' train $t --kl analytic --prior mog \
    --out "$tmp/never"
expect 2 '--beta1 must be' train $t --beta1 1
expect 2 '--out needs a non-empty value' train $t --out ''
expect 2 '--help takes no value' train --help=yes
expect 2 'needs --data DIR or --train FILE' train
expect 2 'not both' train --data data/mnist $t
expect 2 '--test goes with --train' train --data data/mnist --test "$images"
expect 2 'not both' train --train "$images" --test "$images" --holdout 10
expect 2 'no test set' train --train "$images"
expect 2 '--holdout 10000 leaves no training images' train --train "$images" --holdout 10000 \
    --out "$tmp/never"
expect 2 '--holdout 100 leaves no training images' train --train "$images" --limit 100 \
    --holdout 100 --out "$tmp/never"
expect 2 'samples per step' train --train "$images" --limit 2000 --holdout 10 --batch 5000 \
    --k 5000 --out "$tmp/never"
check "a usage error creates no output directory" [ ! -e "$tmp/never" ]
expect 2 'missing --model' eval --test "$images"
expect 2 'one of --data DIR or --test FILE' eval --model x.vae
expect 2 'one of --data DIR or --test FILE' eval --model x.vae --data d --test "$images"
expect 2 '--nll must be an integer' eval --model x.vae --test "$images" --nll 0
expect 2 '--k must be an integer' eval --model x.vae --test "$images" --k -1

# ---- runtime errors: exit status 1 ----

head -c 300000 "$images" >"$tmp/truncated.gz"
printf 'not an idx file at all' >"$tmp/garbage"
mkdir "$tmp/empty" "$tmp/t10k"
ln -s "$(pwd)/$images" "$tmp/t10k/t10k-images-idx3-ubyte.gz"
: >"$tmp/afile"
expect 1 '/nonexistent' train --train /nonexistent --holdout 10 --out "$tmp/never"
expect 1 'truncated\.gz' train --train "$tmp/truncated.gz" --holdout 10 --out "$tmp/never"
expect 1 'garbage' train --train "$tmp/garbage" --holdout 10 --out "$tmp/never"
expect 1 'train-images-idx3-ubyte' train --data "$tmp/empty" --out "$tmp/never"
expect 1 '/nonexistent' train --train "$images" --test /nonexistent --out "$tmp/never"
check "a failed run creates no output directory" [ ! -e "$tmp/never" ]
expect 1 'cannot create directory' train $t --limit 400 --epochs 1 --out "$tmp/afile/sub"
expect 1 '/nonexistent' eval --model /nonexistent --test "$images"
expect 1 'garbage' eval --model "$tmp/garbage" --test "$images"

# ---- a tiny real run ----

tiny="--train $images --limit 300 --holdout 50 --hidden 16 --latent 2 --batch 25"
"$vae" train $tiny --epochs 2 --out "$tmp/a/b/run" >"$tmp/stdout" 2>"$tmp/stderr"
status=$?
run=$tmp/a/b/run
check "tiny run exits 0 (stderr: $(cat "$tmp/stderr"))" [ "$status" -eq 0 ]
check "tiny run is quiet on stderr" [ ! -s "$tmp/stderr" ]
check "tiny run holds out 50 of the first 300 images" \
    grep -q '^data  250 training images, 50 test images' "$tmp/stdout"
check "tiny run reports its epochs" grep -q '^epoch 2/2  train -[0-9.]*  test -[0-9.]*' "$tmp/stdout"
check "tiny run names its log" grep -qx "log: $run/log.csv" "$tmp/stdout"
check "tiny run names its model" grep -qx "model: $run/model.vae" "$tmp/stdout"
check "model.vae written" [ -s "$run/model.vae" ]
check "no temporary files left" [ "$(ls "$run")" = "curves.svg
log.csv
model.vae
reconstructions.png
report.html
samples.png
summary.txt" ]
check "log.csv header" [ "$(head -n 1 "$run/log.csv")" = "epoch,train_bound,test_bound,seconds" ]
check "log.csv has 2 rows" [ "$(wc -l <"$run/log.csv")" -eq 3 ]
check "log.csv rows are numeric with negative bounds" [ "$(grep -Ec \
    '^[12],-[0-9]+\.[0-9]+,-[0-9]+\.[0-9]+,[0-9]+\.[0-9]+$' "$run/log.csv")" -eq 2 ]
check "bounds are plausible, in (-1000, 0)" awk -F, \
    'NR > 1 && !($2 > -1000 && $2 < 0 && $3 > -1000 && $3 < 0) { bad = 1 } END { exit bad }' \
    "$run/log.csv"
check "the train bound improves from epoch 1 to 2" awk -F, \
    'NR == 2 { first = $2 } NR == 3 { exit !($2 > first) }' "$run/log.csv"

# Same options, same seed: the same model, bit for bit.
"$vae" train $tiny --epochs 2 --out "$tmp/again" >/dev/null 2>&1
check "the same seed gives the same model" cmp -s "$run/model.vae" "$tmp/again/model.vae"
check "the same seed gives the same bounds" [ "$(cut -d, -f1-3 "$run/log.csv")" = \
    "$(cut -d, -f1-3 "$tmp/again/log.csv")" ]

# ---- evaluation ----

"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 \
    >"$tmp/eval" 2>"$tmp/stderr"
status=$?
check "eval exits 0 (stderr: $(cat "$tmp/stderr"))" [ "$status" -eq 0 ]
check "eval prints test_bound" grep -Eq '^test_bound -[0-9]+\.[0-9]{4}$' "$tmp/eval"
check "eval prints a positive test_nll" grep -Eq '^test_nll [0-9]+\.[0-9]{4}$' "$tmp/eval"
check "eval prints two lines" [ "$(wc -l <"$tmp/eval")" -eq 2 ]
check "test_nll is below minus the ELBO" awk \
    '$1 == "test_bound" { b = $2 } $1 == "test_nll" { n = $2 } END { exit !(n < -b) }' \
    "$tmp/eval"
"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 >"$tmp/eval2" 2>&1
check "eval gives the same numbers twice" cmp -s "$tmp/eval" "$tmp/eval2"
"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 \
    --per-image "$tmp/each.csv" >"$tmp/eval3" 2>&1
check "eval --per-image prints the same numbers" cmp -s "$tmp/eval" "$tmp/eval3"
check "--per-image: a header and 100 rows" [ "$(head -n 1 "$tmp/each.csv") $(($(wc -l <"$tmp/each.csv")))" = \
    "image,bound,log_likelihood 101" ]
check "--per-image: images 0..99 in order, negative values" awk -F, \
    'NR > 1 && !($1 == NR - 2 && $2 < 0 && $3 < 0 && NF == 3) { bad = 1 } END { exit bad }' "$tmp/each.csv"
check "--per-image: the means are test_bound and -test_nll" awk -F, -v eval="$tmp/eval" '
    BEGIN { while ((getline line < eval) > 0) { split(line, w, " "); want[w[1]] = w[2] } }
    NR > 1 { b += $2; l += $3; n++ }
    END { d1 = b / n - want["test_bound"]; d2 = l / n + want["test_nll"]
          exit !(d1 * d1 < 1e-8 && d2 * d2 < 1e-8) }' "$tmp/each.csv"
"$vae" eval --model "$run/model.vae" --test "$images" --limit 7 --per-image "$tmp/each.csv" >/dev/null 2>&1
check "--per-image without --nll: bounds only" [ "$(head -n 1 "$tmp/each.csv") $(($(wc -l <"$tmp/each.csv")))" = \
    "image,bound 8" ]
expect 1 "cannot write '$tmp/no/dir/each.csv'" eval --model "$run/model.vae" --test "$images" \
    --limit 7 --per-image "$tmp/no/dir/each.csv"
check "a refused --per-image prints no result" [ ! -s "$tmp/stdout" ]
"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 --seed 5 >"$tmp/seed5" 2>&1
"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 --seed 5 >"$tmp/seed5b" 2>&1
"$vae" eval --model "$run/model.vae" --test "$images" --limit 100 --nll 10 --seed 6 >"$tmp/seed6" 2>&1
check "eval --seed repeats itself" cmp -s "$tmp/seed5" "$tmp/seed5b"
check "eval --seed changes the noise" eval '! cmp -s "$tmp/seed5" "$tmp/seed6"'
"$vae" eval --model "$run/model.vae" --data "$tmp/t10k" --limit 50 --objective iwae --k 5 \
    >"$tmp/eval" 2>"$tmp/stderr"
check "eval --data --objective iwae --k 5 works" grep -Eq '^test_bound -[0-9]+\.[0-9]{4}$' \
    "$tmp/eval"
expect 1 't10k-images-idx3-ubyte' eval --model "$run/model.vae" --data "$tmp/empty"
head -c 1000 "$run/model.vae" >"$tmp/truncated.vae"
expect 1 'truncated\.vae' eval --model "$tmp/truncated.vae" --test "$images"
# one flipped byte in the middle: the checksum must catch it
size=$(wc -c <"$run/model.vae")
{
    head -c $((size / 2)) "$run/model.vae"
    printf 'X'
    tail -c $((size - size / 2 - 1)) "$run/model.vae"
} >"$tmp/flipped.vae"
if cmp -s "$tmp/flipped.vae" "$run/model.vae"; then
    # the byte was an 'X' already: flip to another one
    {
        head -c $((size / 2)) "$run/model.vae"
        printf 'Y'
        tail -c $((size - size / 2 - 1)) "$run/model.vae"
    } >"$tmp/flipped.vae"
fi
expect 1 'flipped\.vae' eval --model "$tmp/flipped.vae" --test "$images"

# ---- failing runs keep what is in --out ----

cp "$run/model.vae" "$tmp/model.before"
cp "$run/log.csv" "$tmp/log.before"
expect 1 'truncated\.gz' train --train "$tmp/truncated.gz" --holdout 10 --out "$run"
check "bad data leaves model.vae as it was" cmp -s "$run/model.vae" "$tmp/model.before"
check "bad data leaves log.csv as it was" cmp -s "$run/log.csv" "$tmp/log.before"
expect 1 'diverged' train $tiny --epochs 1 --lr 999 --out "$run"
check "divergence leaves model.vae as it was" cmp -s "$run/model.vae" "$tmp/model.before"
check "divergence leaves log.csv as it was" cmp -s "$run/log.csv" "$tmp/log.before"
check "divergence leaves no temporary files" [ "$(ls "$run" | grep -c tmp)" -eq 0 ]

# ---- --threads and --binarize dynamic ----

"$vae" train $tiny --epochs 1 --threads 1 --binarize dynamic --objective iwae --k 2 \
    --optimizer adamax --act relu --out "$tmp/dyn" >"$tmp/stdout" 2>"$tmp/stderr"
status=$?
check "a dynamic iwae adamax relu run exits 0 ($(cat "$tmp/stderr"))" [ "$status" -eq 0 ]
check "--threads warns at most once" [ "$(wc -l <"$tmp/stderr")" -le 1 ]
check "the dynamic run logs one row" [ "$(wc -l <"$tmp/dyn/log.csv")" -eq 2 ]

# ---- pictures: training's own, the commands' bad input ----

"$vae" train $tiny --epochs 2 --pictures off --out "$tmp/nopics" >/dev/null 2>&1
check "a run with pictures off writes none" [ "$(ls "$tmp/nopics")" = "log.csv
model.vae
summary.txt" ]
check "pictures change nothing in the model" cmp -s "$run/model.vae" "$tmp/nopics/model.vae"
check "pictures change nothing in the log" [ "$(cut -d, -f1-3 "$run/log.csv")" = \
    "$(cut -d, -f1-3 "$tmp/nopics/log.csv")" ]
for f in samples.png reconstructions.png curves.svg report.html; do
    check "training writes $f" [ -s "$run/$f" ]
done
expect 2 '--pictures must be on or off' train $t --pictures maybe
expect 2 '--test-labels goes with --test' train --data data/mnist --test-labels x --out "$tmp/never"

m=$run/model.vae
for cmd in sample reconstruct interpolate manifold embed plot; do
    "$vae" $cmd --help >"$tmp/help" 2>&1
    check "vae $cmd --help prints usage" grep -q "^usage: vae $cmd" "$tmp/help"
    check "vae $cmd --help fits in 80 columns" [ "$(awk 'length > 80' "$tmp/help" | wc -l)" -eq 0 ]
done
expect 1 'not a vae checkpoint' sample --model "$tmp/garbage" --out "$tmp/x.png"
expect 2 'missing --out' sample --model "$m"
expect 2 '--n must be an integer from 1' sample --model "$m" --n 0 --out "$tmp/x.png"
expect 1 'cannot write' sample --model "$m" --out "$tmp/afile/x.png"
printf '\0\0\10\3\0\0\0\1\0\0\0\2\0\0\0\2\1\2\3\4' >"$tmp/small.idx"
expect 1 'the model takes 784 values per image' reconstruct --model "$m" --test "$tmp/small.idx" \
    --out "$tmp/x.png"
{ printf '\0\0\10\3\0\0\0\3\0\0\0\34\0\0\0\34'; head -c 2352 /dev/zero; } >"$tmp/three.idx"
expect 2 '--n 5: .* has only 3 images' reconstruct --model "$m" --test "$tmp/three.idx" --n 5 --out "$tmp/x.png"
expect 2 "--pair '3,10000' is not two image numbers" interpolate --model "$m" --test "$images" \
    --pair 3,10000 --out "$tmp/x.png"
expect 2 "--pair 'x' is not" interpolate --model "$m" --test "$images" --pair x --out "$tmp/x.png"
expect 2 'missing --pair' interpolate --model "$m" --test "$images" --out "$tmp/x.png"
expect 2 "--dims '1,3' is not two different dimensions from 1 to 2" manifold --model "$m" --dims 1,3 \
    --out "$tmp/x.png"
expect 2 "--dims '2,2'" manifold --model "$m" --dims 2,2 --out "$tmp/x.png"
expect 2 '--grid must be an integer' manifold --model "$m" --grid 1 --out "$tmp/x.png"
expect 1 '/nonexistent' embed --model "$m" --test /nonexistent --out "$tmp/x.csv"
expect 1 'not an IDX label file' embed --model "$m" --test "$images" --labels "$images" --out "$tmp/x.csv"
expect 2 'at least one LOG.csv' plot --out "$tmp/x.svg"
expect 1 'no epoch column' plot "$tmp/garbage" --out "$tmp/x.svg"
expect 2 '--names gives 1 names for 2 logs' plot "$run/log.csv" "$run/log.csv" --names a --out "$tmp/x.svg"
printf 'seconds,test_bound,perplexity,epoch,train_bound\n1.5,-120.5,3.2,1,-130\n1.4,-110,2.1,2,-115.5\n' \
    >"$tmp/shuffled.csv"
"$vae" plot "$tmp/shuffled.csv" --names mixed --out "$tmp/shuffled.svg" >/dev/null 2>"$tmp/stderr"
check "plot finds columns by name ($(cat "$tmp/stderr"))" grep -q 'mixed train' "$tmp/shuffled.svg"
printf 'epoch,train_bound,test_bound\n1,-130,oops\n' >"$tmp/bad.csv"
expect 1 'line 2 has no numbers' plot "$tmp/bad.csv" --out "$tmp/x.svg"
check "no partial picture is left behind" [ ! -e "$tmp/x.png" ] && [ ! -e "$tmp/x.png.tmp" ] && \
    [ ! -e "$tmp/x.csv" ] && [ ! -e "$tmp/x.svg" ]

# ---- the other likelihood, prior and KL ----

"$vae" train $tiny --epochs 2 --likelihood gaussian --out "$tmp/gauss" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a gaussian run exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "a gaussian run keeps pixels grey" grep -q 'pixel / 255' "$tmp/stdout"
check "a gaussian run learns sigma" grep -q 'sigma learned' "$tmp/stdout"
check "the gaussian bound improves" awk -F, \
    'NR == 2 { first = $2 } NR == 3 { exit !($2 > first) }' "$tmp/gauss/log.csv"
"$vae" eval --model "$tmp/gauss/model.vae" --test "$images" --limit 50 >"$tmp/eval" 2>"$tmp/stderr"
check "eval of a gaussian model reads grey pixels ($(cat "$tmp/stderr"))" \
    grep -Eq '^test_bound -?[0-9]+\.[0-9]{4}$' "$tmp/eval"
"$vae" eval --model "$tmp/gauss/model.vae" --test "$images" --limit 50 --binarize static \
    >"$tmp/eval2" 2>&1
check "eval --binarize static changes a gaussian model's bound" eval '! cmp -s "$tmp/eval" "$tmp/eval2"'
expect 2 '--binary draws Bernoulli pixels' sample --model "$tmp/gauss/model.vae" --binary --out "$tmp/x.png"
"$vae" train $tiny --epochs 2 --prior mog --components 3 --out "$tmp/mog" >"$tmp/stdout" \
    2>"$tmp/stderr"
rc=$?
check "a mog run exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "a mog run logs the perplexity" [ "$(head -n 1 "$tmp/mog/log.csv")" = \
    "epoch,train_bound,test_bound,seconds,perplexity" ]
check "the mixture's perplexity is in [1, 3]" awk -F, \
    'NR > 1 && !($5 >= 1 && $5 <= 3) { bad = 1 } END { exit bad || NR != 3 }' "$tmp/mog/log.csv"
check "a mog run prints the perplexity" grep -q 'perplexity [0-9.]*$' "$tmp/stdout"
# (check and expect keep their own variables: these loops use others)
for kind in gauss mog; do
    for pic in "sample --n 9" "reconstruct --test $images --n 4" "manifold --grid 3" \
        "interpolate --test $images --pair 0,1 --steps 3"; do
        "$vae" $pic --model "$tmp/$kind/model.vae" --out "$tmp/$kind-pic.png" >/dev/null 2>"$tmp/stderr"
        check "vae $pic on the $kind model ($(cat "$tmp/stderr"))" [ -s "$tmp/$kind-pic.png" ]
        rm -f "$tmp/$kind-pic.png"
    done
    check "the $kind run's report was written" [ -s "$tmp/$kind/report.html" ]
done
"$vae" train $tiny --epochs 1 --kl analytic --out "$tmp/kl" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "an analytic-KL run exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "an analytic-KL run says so" grep -q 'analytic KL' "$tmp/stdout"

# ---- convolutional networks: bad descriptions, then every command ----

c="$t --limit 300"
expect 2 "encoder.*'pool 2' is not a layer" train $c --encoder "pool 2"
expect 2 "'conv 8' : conv takes|'conv 8': conv takes channels" train $c --encoder "conv 8"
expect 2 "the stride in 's0' must be 1 to 64" train $c --encoder "conv 8 3 s0"
expect 2 "the padding in 'p-1' must be 0 to 64" train $c --encoder "conv 8 3 p-1"
expect 2 "the output padding 2 must be less than the stride 2" train $c --decoder "fc 100,view 1 10 10,convt 1 3 s2 o2"
expect 2 "channels .1 to 4096." train $c --encoder "conv 5000 3"
expect 2 "empty layer" train $c --encoder "conv 8 3,,relu"
expect 2 "relu needs a layer before it" train $c --encoder "relu,conv 8 3"
expect 2 "tanh needs a layer before it, and one activation a layer" train $c --encoder "conv 8 3,relu,tanh"
expect 2 "a 30x30 kernel is larger than its 28x28 input" train $c --encoder "conv 8 30" --out "$tmp/never"
expect 2 "decoder: ends at 1x12x12, not the image's 1x28x28" train $c --decoder "fc 100,view 1 10 10,convt 1 3"
expect 2 "decoder: ends at 100 values, not the image's 1x28x28" train $c --decoder "fc 100"
expect 2 "view 2 10 10 has 200 values, and the fc before it 100" train $c --decoder "fc 100,view 2 10 10,convt 1 19"
expect 2 "view 1 10 10 must follow an fc layer" train $c --encoder "conv 4 3,view 1 10 10"
expect 2 "decoder: conv needs an image input" train $c --decoder "conv 1 3"
expect 2 "drop the relu after it" train $c --decoder "fc 784,relu"
expect 2 "parameters are too many for a checkpoint" train $c --encoder "fc 16000000"
expect 2 "mean linear is for the gaussian likelihood only" train $c --mean linear
expect 2 "with --encoder and --decoder both given it describes nothing" train $c --hidden 10 \
    --encoder "fc 10" --decoder "fc 784"
check "a bad network creates no output directory" [ ! -e "$tmp/never" ]
"$vae" train --train "$images" --limit 300 --holdout 50 --latent 2 --batch 25 --epochs 2 \
    --encoder "conv 4 5 s2,relu,fc 16,relu" --decoder "fc 16,relu,fc 196,view 4 7 7,relu,convt 4 4 s2 p1,relu,convt 1 4 s2 p1" \
    --posterior isotropic --likelihood gaussian --mean linear --binarize none --k 3 --kl analytic \
    --out "$tmp/conv" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a conv run exits 0 ($(cat "$tmp/stderr"))" [ $rc -eq 0 ]
check "a conv run names its layers" grep -q 'encoder "conv 4 5 s2,relu,fc 16,relu", z 2 (isotropic)' "$tmp/stdout"
check "a conv run improves" awk -F, 'NR == 2 { first = $2 } NR == 3 { exit !($2 > first) }' "$tmp/conv/log.csv"
"$vae" info "$tmp/conv/model.vae" >"$tmp/info" 2>"$tmp/stderr"
check "vae info exits 0 ($(cat "$tmp/stderr"))" [ $? -eq 0 ]
check "vae info: the first conv" grep -Eq '^enc\.0 +conv +1 x 28 x 28 +4 x 12 x 12 +5x5 s2 p0 +relu +104$' "$tmp/info"
check "vae info: the isotropic head" grep -Eq '^enc\.head +fc +16 +3 +- +none +51$' "$tmp/info"
check "vae info: the view" grep -Eq '^dec\.1 +fc +16 +4 x 7 x 7 +- +relu +3332$' "$tmp/info"
check "vae info: the output convt" grep -Eq '^dec\.out +convt +4 x 14 x 14 +1 x 28 x 28 +4x4 s2 p1 o0 +none +65$' "$tmp/info"
check "vae info: the totals" grep -q '^layers: 13092 parameters; likelihood and prior: 1; total 13093' "$tmp/info"
expect 2 'vae info takes one model file' info
expect 1 'not a vae checkpoint' info "$tmp/garbage"
for pic in "sample --n 9" "reconstruct --test $images --n 4" "manifold --grid 3" \
    "interpolate --test $images --pair 0,1 --steps 3" "embed --test $images --limit 50"; do
    "$vae" $pic --model "$tmp/conv/model.vae" --out "$tmp/conv-pic.png" >/dev/null 2>"$tmp/stderr"
    check "vae $pic on the conv model ($(cat "$tmp/stderr"))" [ -s "$tmp/conv-pic.png" ]
    rm -f "$tmp/conv-pic.png"
done
"$vae" eval --model "$tmp/conv/model.vae" --test "$images" --limit 50 --nll 20 >"$tmp/stdout" 2>"$tmp/stderr"
check "eval --nll on the conv model ($(cat "$tmp/stderr"))" grep -q '^test_nll [0-9]' "$tmp/stdout"
check "the conv run's report was written" [ -s "$tmp/conv/report.html" ]

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
