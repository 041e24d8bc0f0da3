#!/bin/sh
# threads.sh [BENCH_TRAIN] — part of make bench, and runnable alone after
# it: the wall time of THREAD_IMAGES images (default 12000) of configurations
# a, b and c on one thread and on the default threads (tools/threads.c
# chooses as the run goes), the median of 5 alternating runs each, with the
# other cores idle and with one busy process competing for them.
bin=${1:-build/rel/bench_train}
out=$(mktemp)
trap 'rm -f "$out"; [ -n "$busy" ] && kill "$busy" 2>/dev/null' 0
busy=
. bench/configs.sh
# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
thread_images=${THREAD_IMAGES:-12000}
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
echo
echo "threads: wall seconds for $thread_images images, median of 5 alternating runs, $cores cores"
echo "config                      idle: 1 thread  default  ratio   busy: 1 thread  default  ratio"
for c in a b c; do
    line="$(config_name $c)."
    line=${line%.}
    for load in idle busy; do
        busy=
        if [ $load = busy ]; then
            sh -c 'while :; do :; done' &
            busy=$!
        fi
        : >"$out"
        for i in 1 2 3 4 5; do
            $bin $c --images "$thread_images" --threads 1 >>"$out"
            $bin $c --images "$thread_images" --threads auto >>"$out"
        done
        if [ -n "$busy" ]; then
            kill "$busy"
            busy=
        fi
        one=$(awk '$3 == "1" { print $4 }' "$out" | median)
        auto=$(awk '$3 == "auto" { print $4 }' "$out" | median)
        line="$line  $(awk -v o="$one" -v a="$auto" 'BEGIN { printf "%12.2f %8.2f %5.2fx", o, a, a / o }')"
    done
    echo "$line"
done
echo "(ratio: default / 1 thread; below 1 the default is faster)"
