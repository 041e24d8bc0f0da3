#!/bin/sh
# Runs one libFuzzer harness: run.sh BUILD/fuzz_NAME [LIBFUZZER FLAGS...].
#
# The committed seeds in tests/fuzz/corpus/NAME are read but never written:
# libFuzzer adds what it finds to the first corpus directory it is given, so
# that is a scratch one, BUILD/corpus/NAME, kept between runs of `make fuzz`
# so that they build on each other. FUZZ_FRESH=1 empties it first, which
# with -seed and -runs makes a run repeat exactly (make fuzz-ci).
#
# Ends with one summary line, and a non-zero exit on any finding (crash,
# sanitizer report, leak, timeout, out of memory): libFuzzer stops at the
# first and leaves the input in BUILD/NAME-crash-... (or -leak-, -timeout-,
# -oom-), which the harness replays: BUILD/fuzz_NAME FILE.
bin=$1
shift
dir=$(dirname "$bin")
name=$(basename "$bin" | sed 's/^fuzz_//')
scratch=$dir/corpus/$name
log=$dir/$name.log

# With -seed and -runs a run repeats exactly only if nothing depends on the
# clock or on where memory lies: -reload=0 stops the timed rereading of the
# scratch corpus; and the stack addresses that the compiler's loop
# comparisons feed into libFuzzer's table of compared values stay the same
# without address randomisation and with the same environment (it sits
# above the stack), so the harness gets only PATH (for the symbolizer).
# Containers that forbid turning randomisation off get a run that is as
# thorough, but not quite the same twice.
norand=
setarch "$(uname -m)" -R true 2>/dev/null && norand="setarch $(uname -m) -R"

[ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$scratch"
mkdir -p "$scratch"
echo "== fuzz_$name $*${norand:+ (no ASLR)}"
env -i PATH="$PATH" $norand "$bin" -print_final_stats=1 -reload=0 -artifact_prefix="$dir/$name-" "$@" \
    "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1
status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
cov=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log")
if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "FAIL fuzz_$name: exit status $status (log: $log)"
    sed -n 's/^.*Test unit written to /  input: /p' "$log"
    exit 1
fi
echo "ok fuzz_$name: $runs runs in $secs s ($speed exec/s), coverage $cov edges, corpus $scratch"
