#!/bin/sh
# fuzz/run.sh SECONDS BUILD_DIR TARGET... - run each libFuzzer target for SECONDS seconds, one
# after the other (the machine is shared), on a working corpus BUILD_DIR/corpus/<target> that
# starts from the committed seeds fuzz/corpus/<target> and the regression inputs
# fuzz/crashes/<target> (read-only: the fuzzer only adds to the working copy). Crash, leak,
# timeout (10 s) and out-of-memory (2 GB) reports leave their input in BUILD_DIR/artifacts/.
# Prints a line per target (executions, CPU seconds) and exits non-zero naming each crash file.
secs=$1; b=$2; shift 2
# the harnesses write each input to a file: in memory when /dev/shm is there
[ -z "$TMPDIR" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
failed=""
for t in "$@"; do
    mkdir -p "$b/corpus/$t" "$b/artifacts" "fuzz/crashes/$t"
    case $t in safetensors|checkpoint|tokenizer|state|gpt2|serve) dict="-dict=fuzz/dict/json.dict" ;; cli) dict="-dict=fuzz/dict/cli.dict" ;; *) dict="" ;; esac
    log="$b/fuzz_$t.log"
    before=$(ls "$b/artifacts" | wc -l)
    echo "== fuzz_$t: $secs s"
    t0=$(cat /proc/$$/stat | awk '{print $16 + $17}')
    # -close_fd_mask=3: the loaders' error messages would flood the log (libFuzzer keeps its own
    # copy of stderr for its reports)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$b/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -close_fd_mask=3 -artifact_prefix="$b/artifacts/$t-" $dict \
        "$b/corpus/$t" "fuzz/corpus/$t" "fuzz/crashes/$t" > "$log" 2>&1
    rc=$?
    t1=$(cat /proc/$$/stat | awk '{print $16 + $17}')
    ticks=$(getconf CLK_TCK)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    echo "   exit $rc, ${execs:-?} executions, $(awk "BEGIN{printf \"%.1f\", ($t1 - $t0) / $ticks}") CPU s, corpus $(ls "$b/corpus/$t" | wc -l) files"
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|fuzz check failed|runtime error' "$log" | head -n 5 | sed 's/^/   | /'
        new=$(ls -t "$b/artifacts" | head -n $(( $(ls "$b/artifacts" | wc -l) - before )))
        for f in $new; do echo "   crash file: $b/artifacts/$f"; failed="$failed $b/artifacts/$f"; done
        [ -n "$new" ] || failed="$failed fuzz_$t(exit $rc, see $log)"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed"
    echo "fuzz: reproduce with $b/fuzz_<target> FILE; once fixed, copy the file to fuzz/crashes/<target>/"
    exit 1
fi
echo "fuzz: all $# targets ran ${secs} s each without a crash"
