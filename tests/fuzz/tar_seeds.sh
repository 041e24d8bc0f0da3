#!/bin/sh
# Writes the seed corpus corpus/tar/ for fuzz_tar (run from anywhere; needs
# GNU tar and gzip). Each seed stands for a feature of the format rather
# than for real data: CIFAR-10's layout with one record per batch (as tar
# and as tar.gz), one batch alone, each way of writing a long name (GNU
# 'L' records, ustar's prefix field, pax path records), a symbolic link
# named like a batch, and an empty archive. Names, owners, modes and times
# are fixed, and -b1 leaves out the padding to 10 KB records, so the files
# are the same on every run with the same tar.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/tar
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cd "$work"
umask 022

# a CIFAR-10 record: label $1, then 3,072 pixel bytes (i * 7 + 50 * channel) mod 256
pixels() {
    i=0
    while [ $i -lt 3072 ]; do
        # shellcheck disable=SC2059
        printf "\\$(printf %03o $(((i * 7 + i / 1024 * 50) % 256)))"
        i=$((i + 1))
    done
}
pixels > pixels
record() {
    # shellcheck disable=SC2059
    printf "\\$(printf %03o "$1")"
    cat pixels
}

tarit() { # tarit OUT FORMAT PATHS...: tar with everything fixed but the data
    o=$1 f=$2
    shift 2
    pax=
    [ "$f" = posix ] && pax=--pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f
    tar --format="$f" $pax -b1 --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$o" "$@"
}

mkdir cifar-10-batches-bin
for b in 1 2 3 4 5; do record $b > cifar-10-batches-bin/data_batch_$b.bin; done
{ record 0; record 9; } > cifar-10-batches-bin/test_batch.bin
printf 'airplane\nautomobile\n' > cifar-10-batches-bin/batches.meta.txt
tarit "$out/cifar.tar" gnu cifar-10-batches-bin
gzip -9 -n -c "$out/cifar.tar" > "$out/cifar.tar.gz"
tarit "$out/one-batch.tar" gnu cifar-10-batches-bin/test_batch.bin

# a name of exactly 100 bytes fills ustar's name field, with no NUL after it
full=a_directory_name_of_85_bytes_so_that_with_a_slash_and_a_batch_the_name_field_is_full_
mkdir -p "$full"
record 4 > "$full/test_batch.bin"
tarit "$out/name-100-bytes.tar" gnu "$full/test_batch.bin"

long=a_directory_name_long_enough_that_its_member_names_pass_the_100_bytes_of_a_ustar_name_field
mkdir -p "$long"
record 3 > "$long/test_batch.bin"
tarit "$out/long-gnu.tar" gnu "$long/test_batch.bin"
tarit "$out/long-ustar.tar" ustar "$long/test_batch.bin"
tarit "$out/long-pax.tar" posix "$long/test_batch.bin"

mkdir links
ln -s data_batch_2.bin links/data_batch_1.bin
tarit "$out/symlink.tar" gnu links
tarit "$out/empty.tar" gnu -T /dev/null
ls -l "$out"
