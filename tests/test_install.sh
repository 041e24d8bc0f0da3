#!/bin/sh
# test_install.sh — make install into a temporary PREFIX: the program, the
# headers, libvae.a, libvae.so with its versioned soname, vae.pc and the
# manual page; the README's embedding example built against them with
# pkg-config, linked to the shared library and to the static one, and run;
# DESTDIR honoured; make uninstall leaving nothing behind. Without
# pkg-config (CI installs it) the checks that need it are skipped.
#
#     sh tests/test_install.sh ./vae        (from the repository root)
# shellcheck disable=SC2086

vae=${1:-./vae}
images=data/mnist/t10k-images-idx3-ubyte.gz
. tests/cli_checks.sh
skip=0
skipped() { skip=$((skip + 1)); echo "SKIP $*"; }
cc=${CC:-cc}
major=$(sed -n 's/^#define VAE_VERSION_MAJOR \([0-9]*\).*/\1/p' vae.h)
version=$major.$(sed -n 's/^#define VAE_VERSION_MINOR \([0-9]*\).*/\1/p' vae.h).$(sed -n 's/^#define VAE_VERSION_PATCH \([0-9]*\).*/\1/p' vae.h)

# The outer make's options (SAN=1, which make also puts in the
# environment) stay out: this installs what a user's plain make install
# would.
plain_make() {
    env -u SAN -u NO_OMP -u NO_OPENCL -u PORTABLE -u EXTRA_CFLAGS MAKEFLAGS='' MAKELEVEL='' make -s "$@"
}
install_into() {
    plain_make "$@" install >"$tmp/make.log" 2>&1 || cat "$tmp/make.log"
}

prefix=$tmp/prefix
install_into PREFIX="$prefix"
for f in bin/vae include/vae/vae.h include/vae/vae_backend.h include/vae/rng.h include/vae/mnist.h \
    include/vae/opencl/vae_opencl.h lib/libvae.a lib/libvae.so.$version lib/pkgconfig/vae.pc \
    share/man/man1/vae.1; do
    check "installed $f" [ -f "$prefix/$f" ]
done
check "libvae.so.$major links to libvae.so.$version" [ "$(readlink "$prefix/lib/libvae.so.$major")" = "libvae.so.$version" ]
check "libvae.so links to libvae.so.$major" [ "$(readlink "$prefix/lib/libvae.so")" = "libvae.so.$major" ]
if command -v readelf >/dev/null 2>&1; then
    check "soname libvae.so.$major" sh -c "readelf -d '$prefix/lib/libvae.so.$version' | grep -q 'SONAME.*\[libvae.so.$major\]'"
fi
check "vae --version says $version" [ "$("$prefix/bin/vae" --version)" = "vae $version" ]
check "the manual page is of version $version" grep -q "\"vae $version\"" "$prefix/share/man/man1/vae.1"
check "vae.pc is of version $version and prefix $prefix" \
    sh -c "grep -qx 'Version: $version' '$prefix/lib/pkgconfig/vae.pc' && grep -qx 'prefix=$prefix' '$prefix/lib/pkgconfig/vae.pc'"

# the README's first example of "Embedding the library", as it stands
awk '/^## Embedding the library/ { inside = 1 } inside && /^```c/ { code = 1; next }
     code && /^```/ { exit } code' README.md >"$tmp/embed.c"
check "the README's embedding example found" grep -q vae_load "$tmp/embed.c"
mkdir -p "$tmp/run/out/demo"
"$vae" train --train $images --holdout 100 --limit 400 --hidden 16 --latent 2 --epochs 1 --pictures off \
    --out "$tmp/run/out/demo" >/dev/null 2>&1

if command -v pkg-config >/dev/null 2>&1; then
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    export PKG_CONFIG_PATH
    cflags=$(echo $(pkg-config --cflags vae))
    check "pkg-config --cflags vae: $cflags" [ "$cflags" = "-I$prefix/include/vae" ]
    $cc $cflags -o "$tmp/embed" "$tmp/embed.c" $(pkg-config --libs vae) 2>"$tmp/cc.log"
    check "the example links to libvae.so ($(cat "$tmp/cc.log"))" [ -x "$tmp/embed" ]
    check "the example runs on the installed libvae.so" sh -c "cd '$tmp/run' && LD_LIBRARY_PATH='$prefix/lib' '$tmp/embed'"
    if command -v ldd >/dev/null 2>&1; then
        check "it loaded the installed library" sh -c \
            "LD_LIBRARY_PATH='$prefix/lib' ldd '$tmp/embed' | grep -q '$prefix/lib/libvae.so.$major'"
    fi
    # The installed library is built without -march=native and chooses
    # its GEMM kernel by the processor it runs on: AVX-512 or AVX2 where
    # /proc/cpuinfo shows them, the plain-C one under qemu without AVX.
    cat >"$tmp/kernels.c" <<'C'
#include <stdio.h>
#include "vae.h"
#include "vae_backend.h"
int main(void)
{
    vae_config cfg;
    vae *m;
    float x[2 * 16] = {0}, bound;
    vae_config_init(&cfg);
    cfg.input_dim = 16;
    cfg.latent_dim = 2;
    cfg.max_batch = 2;
    if (vae_create(&m, &cfg, NULL) != VAE_OK || vae_train_step(m, x, 2, NULL, &bound) != VAE_OK)
        return 1;
    vae_free(m);
    printf("%s\n", vae_cpu_kernels());
    return 0;
}
C
    $cc $cflags -o "$tmp/kernels" "$tmp/kernels.c" $(pkg-config --libs vae) 2>"$tmp/cc.log"
    kernels=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/kernels" 2>&1)
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
    case "$(uname -m) $flags " in
    x86_64*' avx512f '*) want="avx512 avx2 c" ;;
    x86_64*' avx2 '*' fma '* | x86_64*' fma '*' avx2 '*) want="avx2 c" ;;
    aarch64*) want="neon c" ;;
    *) want=c ;;
    esac
    check "the installed libvae.so trains on its best kernels here: $kernels, as /proc/cpuinfo says: $want" \
        [ "$kernels" = "$want" ]
    if command -v qemu-x86_64 >/dev/null 2>&1 && [ "$(uname -m)" = x86_64 ]; then
        check "under qemu-x86_64 -cpu Nehalem (no AVX) it trains on the plain-C one" sh -c \
            "[ \"\$(LD_LIBRARY_PATH='$prefix/lib' qemu-x86_64 -cpu Nehalem '$tmp/kernels')\" = c ]"
        check "under -cpu Haswell on the AVX2 one" sh -c \
            "[ \"\$(LD_LIBRARY_PATH='$prefix/lib' qemu-x86_64 -cpu Haswell '$tmp/kernels' 2>/dev/null)\" = 'avx2 c' ]"
    else
        skipped "no qemu-x86_64 (apt-get install qemu-user) to run the library on other processors"
    fi
    # static: libvae.a, with the libraries the .pc file keeps private
    private=$(pkg-config --static --libs vae | tr ' ' '\n' | grep -v -e '^-lvae$' -e '^-L' | tr '\n' ' ')
    $cc $cflags -o "$tmp/embed_static" "$tmp/embed.c" "$prefix/lib/libvae.a" $private 2>"$tmp/cc.log"
    check "the example links to libvae.a with $private ($(head -c 300 "$tmp/cc.log"))" [ -x "$tmp/embed_static" ]
    check "the static example runs without libvae.so" sh -c "cd '$tmp/run' && '$tmp/embed_static'"
else
    skipped "pkg-config is not installed (apt-get install pkg-config)"
fi

# DESTDIR: staged under it, and the .pc file names the final prefix
install_into DESTDIR="$tmp/stage" PREFIX=/opt/vae
check "DESTDIR: the library staged" [ -f "$tmp/stage/opt/vae/lib/libvae.so.$version" ]
check "DESTDIR: vae.pc names /opt/vae" grep -qx 'prefix=/opt/vae' "$tmp/stage/opt/vae/lib/pkgconfig/vae.pc"

plain_make uninstall PREFIX="$prefix" >/dev/null 2>&1
check "make uninstall leaves no file ($(find "$prefix" ! -type d | head -3))" [ -z "$(find "$prefix" ! -type d)" ]
plain_make uninstall DESTDIR="$tmp/stage" PREFIX=/opt/vae >/dev/null 2>&1
check "make uninstall under DESTDIR leaves no file" [ -z "$(find "$tmp/stage" ! -type d)" ]

if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
