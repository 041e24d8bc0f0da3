#!/bin/sh
# make bench: seconds per 60,000-image training epoch of the reference
# network (784-200-200-50, tanh, Adam) on ONE thread, for
#   a  ELBO k=1, batch 20     b  ELBO k=1, batch 128     c  IWAE k=50, batch 20
# and, in the same run, the same with Debian's PyTorch when it is installed
# (apt-get install python3-torch libopenblas0-openmp), timed with 1 and 2
# threads, keeping its faster setting. BENCH_IMAGES=N times N images per
# configuration and scales to 60,000 (default 60000, a full epoch). Both
# sides time ten segments and report the fastest: this is meant for shared
# virtual machines whose speed changes by half from one minute to the next.
# Then threads: the wall time of THREAD_IMAGES images (default 12000) on one
# thread and on the default (tools/threads.c chooses as it goes), the median
# of 5 alternating runs each, with the other cores idle and with one busy
# process competing (built with OpenMP where the compiler has it).
# Then the OpenCL backend on its first device, where there is one
# (bench_opencl: GEMM GFLOP/s, seconds per epoch of a, b, c and d = IWAE
# k=50 batch 100, kernels per step), timing BENCH_CL_IMAGES images (default
# 2000: PoCL is slow; give 60000 on a GPU) and, unless BENCH_CL_BIG=0,
# 4096^3. Last, not a speed: kl_variance measures what the analytic KL does to the
# variance of the ELBO and its gradient.
set -e
images=${BENCH_IMAGES:-60000}
bin=build/rel/bench_train
mkdir -p build/rel
${CC:-cc} -std=c99 -O3 -ffp-contract=fast -fno-math-errno $BENCH_CFLAGS $BENCH_OMP -I. -o $bin \
    bench/bench_train.c vae.c mnist.c tools/threads.c tools/progress.c tools/platform.c -lm
${CC:-cc} -std=c99 -O3 -ffp-contract=fast -fno-math-errno $BENCH_CFLAGS -I. -o build/rel/bench_gemm \
    bench/bench_gemm.c -lm $BENCH_DL
${CC:-cc} -std=c99 -O3 -ffp-contract=fast -fno-math-errno $BENCH_CFLAGS -I. -o build/rel/kl_variance \
    bench/kl_variance.c vae.c mnist.c -lm
echo "# $(uname -m), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), $images images per configuration"
OMP_NUM_THREADS=1 build/rel/bench_gemm
out=$(mktemp)
# one process per configuration, so that each one's peak memory is its own
for c in a b c; do
    OMP_NUM_THREADS=1 $bin $c --images "$images" | tee -a "$out"
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/torch_bench.py --images "$images" --configs abc --threads 1,2 | tee -a "$out"
else
    echo "# PyTorch not installed (apt-get install python3-torch): no comparison"
fi
. bench/configs.sh
echo
echo "config                      vae 1 thread   PyTorch best   speed-up   vae peak RSS"
for c in a b c; do
    name="$(config_name $c)."
    name=${name%.}
    v=$(awk -v c=$c '$1 == "vae" && $2 == c { print $3 }' "$out")
    m=$(awk -v c=$c '$1 == "vae_rss" && $2 == c { print $3 }' "$out")
    t=$(awk -v c=$c '$1 == "torch_best" && $2 == c { print $3 }' "$out")
    if [ -n "$t" ]; then
        r=$(awk -v v="$v" -v t="$t" 'BEGIN { printf "%.2fx", t / v }')
        printf '%s  %10.2f s   %10.2f s   %8s   %9s MB\n' "$name" "$v" "$t" "$r" "$m"
    else
        printf '%s  %10.2f s   %12s   %8s   %9s MB\n' "$name" "$v" "-" "-" "$m"
    fi
done

sh bench/threads.sh "$bin"
rm -f "$out"
echo

# The course's two conv VAEs: vae on 1 and 2 threads (each layer's GFLOP/s
# beside its GEMMs' alone), and PyTorch on 1 and 2 threads in the same run,
# CONV_IMAGES images of model A each (default 768: its PyTorch takes 25 s
# for them on one core) and ten times as many of model B, scaled to 60,000.
conv_images=${CONV_IMAGES:-768}
${CC:-cc} -std=c99 -O3 -ffp-contract=fast -fno-math-errno $BENCH_CFLAGS $BENCH_OMP -I. -o build/rel/bench_conv \
    bench/bench_conv.c mnist.c -lm
for t in 1 2; do
    OMP_NUM_THREADS=$t build/rel/bench_conv --images "$conv_images" --threads $t
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -f data/mnist-full/train-images-idx3-ubyte.gz ]; then
    for m in a b; do
        n=$conv_images
        [ $m = b ] && n=$((conv_images * 10))
        for t in 1 2; do
            /usr/bin/python3 tests/ref/conv_ref.py --model $m --epochs 1 --limit "$n" --threads $t \
                --data data/mnist-full | awk -F, -v m=$m -v t=$t -v n="$n" \
                'NR == 2 { printf "torch_conv %s %.1f s per 60,000 images (%d threads)\n", m, $4 * 60000 / n, t }'
        done
    done
else
    echo "# PyTorch or data/mnist-full missing (make mnist): no conv comparison"
fi
echo
if [ -z "$BENCH_NO_OPENCL" ]; then
    ${CC:-cc} -std=c99 -O3 -ffp-contract=fast -fno-math-errno $BENCH_CFLAGS -I. -o build/rel/bench_opencl \
        bench/bench_opencl.c mnist.c -lm $BENCH_DL
    build/rel/bench_opencl --images "${BENCH_CL_IMAGES:-2000}" --big "${BENCH_CL_BIG:-1}"
    echo
fi
for steps in 0 300 3000; do
    OMP_NUM_THREADS=1 build/rel/kl_variance --steps $steps
done
