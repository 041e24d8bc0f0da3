#!/bin/sh
# test_build.sh — make rebuilds what was built with other flags: in a copy
# of the sources, a PORTABLE=1 EXTRA_CFLAGS=-ffp-contract=off build, then a
# plain one, must leave the plain build's ./vae (native, with FMA all
# through where the CPU has it), and a third make must rebuild nothing; the same for the
# installable library's objects when EXTRA_CFLAGS changes.
#
#     sh tests/test_build.sh ./vae        (from the repository root)

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh
skip=0
skipped() { skip=$((skip + 1)); echo "SKIP $*"; }

# The outer make's options (SAN=1, which make also puts in the
# environment) stay out: these are a user's plain builds.
plain_make() {
    env -u SAN -u NO_OMP -u NO_OPENCL -u PORTABLE -u EXTRA_CFLAGS MAKEFLAGS='' MAKELEVEL='' \
        make -s -C "$tmp/src" NO_OPENCL=1 "$@" >>"$tmp/make.log" 2>&1
}

mkdir -p "$tmp/src"
for f in Makefile vae.c vae.h vae_backend.h rng.h mnist.c mnist.h tools/*.c tools/*.h opencl/*.c opencl/*.h; do
    mkdir -p "$tmp/src/$(dirname "$f")"
    cp "$f" "$tmp/src/$f"
done

native=$(printf 'int main(void){return 0;}\n' | cc -march=native -x c - -o /dev/null 2>/dev/null && echo yes)
fma=$(grep -qw fma /proc/cpuinfo 2>/dev/null && command -v objdump >/dev/null && echo yes)

check "a portable build without FMA" plain_make vae PORTABLE=1 EXTRA_CFLAGS=-ffp-contract=off
cp "$tmp/src/vae" "$tmp/vae.portable"
check "the flags file records the portable build's flags" grep -q -- '-ffp-contract=off' "$tmp/src/build/rel/flags"
check "then a plain build" plain_make vae
check "the flags file records the plain build's flags" sh -c "! grep -q -- '-ffp-contract=off' '$tmp/src/build/rel/flags'"
check "the plain build replaced ./vae" sh -c "! cmp -s '$tmp/vae.portable' '$tmp/src/vae'"
if [ "$native" = yes ]; then
    check "the plain build is native" grep -q -- '-march=native' "$tmp/src/build/rel/flags"
else
    skipped "the compiler takes no -march=native"
fi
if [ "$native" = yes ] && [ "$fma" = yes ]; then
    # the portable build has FMAs only in its AVX2 and AVX-512 GEMM
    # kernels; the native one throughout
    fmas_native=$(objdump -d "$tmp/src/vae" | grep -c vfmadd)
    fmas_portable=$(objdump -d "$tmp/vae.portable" | grep -c vfmadd)
    echo "FMA instructions: $fmas_native in the plain ./vae, $fmas_portable in the portable one"
    check "the plain ./vae holds more FMA instructions ($fmas_native) than the portable one ($fmas_portable)" \
        [ "$fmas_native" -gt $((fmas_portable + 100)) ]
else
    skipped "no FMA on this CPU (or no objdump) to look for"
fi
touch "$tmp/marker"
sleep 1
check "a second plain build" plain_make vae
check "rebuilt nothing" [ -z "$(find "$tmp/src/build/rel" "$tmp/src/vae" -newer "$tmp/marker" ! -type d)" ]

# the installable library: its own flags, its own directory
check "the library with a defined macro" plain_make lib EXTRA_CFLAGS=-DVAE_TEST_BUILD_FLAGS
lib=$(ls -d "$tmp/src"/build/lib*)
check "its flags file records it" grep -q -- -DVAE_TEST_BUILD_FLAGS "$lib/flags"
touch "$tmp/marker"
sleep 1
check "the library again without it" plain_make lib
check "vae.o rebuilt" [ -n "$(find "$lib/vae.o" -newer "$tmp/marker")" ]
check "libvae.a rebuilt" [ -n "$(find "$lib/libvae.a" -newer "$tmp/marker")" ]
check "its flags file no longer records it" sh -c "! grep -q -- -DVAE_TEST_BUILD_FLAGS '$lib/flags'"
[ "$fail" -eq 0 ] || cat "$tmp/make.log"

if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
