#!/bin/sh
# cross.sh — the platforms the project promises, tested (CI runs them all):
#   s390x    big-endian, static, under qemu-s390x
#   aarch64  ARM64, static, under qemu-aarch64
#   i686     32-bit x86, static, with SSE2 arithmetic (-msse2 -mfpmath=sse:
#            x87's excess precision would round differently)
#   tcc      the Tiny C Compiler, with the OpenCL backend
#   mingw    Windows (mingw-w64) under wine, with the OpenCL backend
#            (loaded with LoadLibrary)
#   x86-64-v1  the native compiler without -march, as make install builds
#            the library, under qemu-x86_64 -cpu Nehalem (no AVX): the GEMM
#            must choose its plain-C kernel (qemu stops an AVX instruction
#            with SIGILL), and under -cpu Haswell its AVX2 one
# For each: the numeric and file-format tests (rng, gradients, parity,
# readers, backend conformance, checkpoints, the report's weights, the
# GEMM on every kernel the platform runs: NEON on ARM64), built
# for the platform and run there; then a short training run, whose log
# bounds must equal, to the log's last digit, those of a reference build
# (the native compiler, without -march=native, -ffp-contract=off), all on
# the plain-C GEMM kernel (--device cpu:c; on x86-64-v1 the default must be
# it), with
# its pictures on: samples.png must equal the reference's byte for byte,
# and report.html must be there. tcc also runs test_pictures (which runs
# the vae beside it, so only where that runs natively) and the
# command-line tests, as mingw does under wine, so that the program as
# those compilers build it is tested whole.
# test_train and the other CLI tests are left out of the emulated ones:
# they would take many minutes.
# Static builds leave OpenCL out (no dlopen in a static binary).
#
#     sh tests/cross.sh [PLATFORM...]      (default: all of them)
#
# Needs (Debian): gcc-s390x-linux-gnu libc6-dev-s390x-cross
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-i686-linux-gnu
# libc6-dev-i386-cross qemu-user tcc gcc-mingw-w64-x86-64 wine. Ends with
# "N passed, N failed" like tests/run.sh.
# shellcheck disable=SC2086
set -u
platforms=${*:-s390x aarch64 i686 tcc mingw x86-64-v1}
images=data/mnist/t10k-images-idx3-ubyte.gz
sources="tools/*.c vae.c mnist.c opencl/vae_opencl.c"
run_args="train --train $images --holdout 500 --limit 2500 --hidden 64 --latent 8 --epochs 2 --threads 1"
# the kernel whose sums are the same on every platform
reference_kernel="--device cpu:c"
total_pass=0
total_fail=0
total_skip=0

# count LINE: adds a test's "N passed, N failed[, N skipped]" to the totals.
count() {
    p=$(printf '%s\n' "$1" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\1/p')
    f=$(printf '%s\n' "$1" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed\(, [0-9]* skipped\)\{0,1\}$/\2/p')
    s=$(printf '%s\n' "$1" | sed -n 's/^.*, \([0-9]*\) skipped$/\1/p')
    [ -n "$p" ] || { p=0; f=1; echo "FAIL ended without a summary"; }
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + ${s:-0}))
}

failed() {
    echo "FAIL $*"
    total_fail=$((total_fail + 1))
}

# The epochs' bounds of a log: no seconds, no carriage returns.
bounds() {
    cut -d, -f1-3 "$1" | tr -d '\r'
}

ref=build/cross/ref
mkdir -p "$ref"
omp=$(printf 'int main(void){return 0;}\n' | ${CC:-cc} -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
${CC:-cc} -std=c99 -O3 -fno-math-errno -ffp-contract=off $omp -I. -o "$ref/vae" $sources -lm -ldl
rm -rf "$ref/run"
"$ref/vae" $run_args $reference_kernel --out "$ref/run" >/dev/null 2>&1
bounds "$ref/run/log.csv" >"$ref/bounds" 2>/dev/null
[ -s "$ref/bounds" ] && [ -s "$ref/run/samples.png" ] || failed "the reference run"

for platform in $platforms; do
    dir=build/cross/$platform
    exe=
    run=
    libs=-lm
    tests="rng grad parity conv_parity data backend checkpoint report gemm"
    kernel=$reference_kernel
    case $platform in
    s390x) cc=s390x-linux-gnu-gcc flags="-O2 -static -DVAE_NO_OPENCL" run=qemu-s390x ;;
    aarch64) cc=aarch64-linux-gnu-gcc flags="-O2 -static -DVAE_NO_OPENCL" run=qemu-aarch64 ;;
    i686) cc=i686-linux-gnu-gcc flags="-O2 -static -msse2 -mfpmath=sse -DVAE_NO_OPENCL" ;;
    tcc) cc=tcc flags="-O2" libs="-lm -ldl" tests="$tests pictures" ;;
    mingw) cc=x86_64-w64-mingw32-gcc flags="-O2" run=wine exe=.exe ;;
    x86-64-v1) cc=${CC:-cc} flags="-O2 -DVAE_NO_OPENCL" libs="-lm" run="qemu-x86_64 -cpu Nehalem" tests="gemm backend"
        kernel= ;;
    *)
        failed "unknown platform $platform"
        continue
        ;;
    esac
    flags="-std=c99 -ffp-contract=off $flags"
    mkdir -p "$dir"
    if [ "$platform" = mingw ]; then
        # a prefix of its own, made now, and its server and services kept
        # up for all the runs: started here, with their output nowhere, so
        # that they hold no pipe that a test's output is read from
        # The prefix is made first and its server let go (a server started
        # before the prefix restarts under the first clients, which then
        # fail with "wine client error"); then one persistent server.
        WINEPREFIX=$(pwd)/$dir/wineprefix WINEDEBUG=-all
        export WINEPREFIX WINEDEBUG
        wineboot -i </dev/null >/dev/null 2>&1
        wineserver -k </dev/null >/dev/null 2>&1
        wineserver -w </dev/null >/dev/null 2>&1
        wineserver -p </dev/null >/dev/null 2>&1
        wine cmd /c exit </dev/null >/dev/null 2>&1
    fi
    if ! $cc $flags -I. -o "$dir/vae$exe" $sources $libs; then
        failed "vae does not build for $platform"
        continue
    fi
    # a 32-bit program runs natively where the kernel allows it
    if [ "$platform" = i686 ] && ! "$dir/vae" --version >/dev/null 2>&1; then
        run=qemu-i386
    fi
    for t in $tests; do
        echo "== test_$t ($platform)"
        if ! $cc $flags -I. -o "$dir/test_$t$exe" "tests/test_$t.c" $libs; then
            failed "test_$t does not build for $platform"
            continue
        fi
        line=$($run "$dir/test_$t$exe" 2>&1 | tr -d '\r' | tail -n 1)
        echo "$line"
        count "$line"
    done
    echo "== a training run ($platform)"
    rm -rf "$dir/run"
    $run "$dir/vae$exe" $run_args $kernel --out "$dir/run" >/dev/null 2>"$dir/run.err"
    if [ "$(bounds "$dir/run/log.csv" 2>/dev/null)" = "$(cat "$ref/bounds")" ]; then
        echo "1 passed, 0 failed"
        total_pass=$((total_pass + 1))
    else
        failed "$platform: the log's bounds differ from the reference build's: $(tr '\n' ' ' <"$ref/bounds") against $(bounds "$dir/run/log.csv" 2>/dev/null | tr '\n' ' ') $(cat "$dir/run.err")"
    fi
    echo "== the training run's pictures ($platform)"
    if cmp -s "$dir/run/samples.png" "$ref/run/samples.png" && [ -s "$dir/run/report.html" ]; then
        echo "1 passed, 0 failed"
        total_pass=$((total_pass + 1))
    else
        failed "$platform: samples.png differs from the reference build's, or is missing, or report.html is: $(ls "$dir/run" 2>/dev/null | tr '\n' ' ') $(cat "$dir/run.err")"
    fi
    if [ "$platform" = x86-64-v1 ]; then
        echo "== test_gemm on the AVX2 kernel, under qemu-x86_64 -cpu Haswell"
        line=$(VAE_TEST_KERNEL=avx2 qemu-x86_64 -cpu Haswell "$dir/test_gemm" 2>&1 | tail -n 1)
        echo "$line"
        count "$line"
        echo "== the Nehalem's kernels"
        if $run "$dir/vae" devices 2>/dev/null | grep -q '^cpu .*GEMM kernels: c$'; then
            echo "1 passed, 0 failed"
            total_pass=$((total_pass + 1))
        else
            failed "vae devices under -cpu Nehalem lists more than the plain-C kernel: $($run "$dir/vae" devices 2>&1)"
        fi
    fi
    if [ "$platform" = tcc ]; then
        echo "== test_cli.sh ($platform)"
        line=$(sh tests/test_cli.sh "$dir/vae" 2>&1 | tee "$dir/test_cli.out" | tail -n 1)
        grep '^FAIL' "$dir/test_cli.out"
        echo "$line"
        count "$line"
    fi
    if [ "$platform" = mingw ]; then
        # the command-line tests, with a vae that runs the Windows program;
        # there is no SIGTERM on Windows, and wine delivers SIGINT as Ctrl-C
        printf '#!/bin/sh\nexec wine "%s" "$@"\n' "$(pwd)/$dir/vae.exe" >"$dir/vae"
        chmod +x "$dir/vae"
        for s in test_cli test_runs test_device; do
            echo "== $s.sh ($platform)"
            line=$(VAE_TEST_NO_SIGTERM=1 VAE_TEST_UNDER_WINE=1 sh "tests/$s.sh" "$dir/vae" 2>&1 | tee "$dir/$s.out" |
                tail -n 1)
            grep '^FAIL' "$dir/$s.out"
            echo "$line"
            count "$line"
        done
        # on a console (wine's, on the terminal that script makes) the
        # progress bar is drawn
        echo "== the progress bar on a console ($platform)"
        if command -v script >/dev/null 2>&1; then
            rm -rf "$dir/tty"
            script -qc "wine $dir/vae.exe $run_args --epochs 1 --out $dir/tty" "$dir/tty.log" >/dev/null 2>&1 </dev/null
            # (wine's console redraws with escape codes: they go first)
            if sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$dir/tty.log" | tr -d '\n\r' |
                grep -q 'epoch.\{0,3\}1/1.\{0,3\}\[[.#]*\] *[0-9]*%'; then
                echo "1 passed, 0 failed"
                total_pass=$((total_pass + 1))
            else
                failed "no progress bar on wine's console"
            fi
        else
            echo "SKIP no script (bsdutils) to make a terminal"
            total_skip=$((total_skip + 1))
        fi
        wineserver -k 2>/dev/null
    fi
done
if [ "$total_skip" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
