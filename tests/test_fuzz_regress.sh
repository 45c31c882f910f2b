#!/bin/sh
# test_fuzz_regress.sh - every seed of the fuzz corpus (fuzz/corpus/<target>) and every input
# that once crashed a harness (fuzz/crashes/<target>) through the gcc-built replay drivers
# (build/fuzz/replay_<target>, fuzz/replay.c): each input is one check, passed when the harness
# returns without a crash, a sanitizer report or a failed FZ_CHECK. (make fuzz-regress does the
# same with the clang-built, sanitized harnesses.)
NAME=test_fuzz_regress.sh
. tests/lib.sh
B=${BUILD:-build}
for t in safetensors checkpoint tokenizer idx image text cli; do
    bin=$B/fuzz/replay_$t
    if [ ! -x "$bin" ]; then bad "replay_$t" "missing $bin (make all builds it)"; continue; fi
    for f in fuzz/corpus/$t/* fuzz/crashes/$t/*; do
        [ -f "$f" ] || continue
        run "$bin" "$f"; rc=$?
        if [ "$rc" -eq 124 ]; then bad "$t: $f" "timed out"
        elif crashed "$rc" || grep -q 'fuzz check failed' "$ERR"; then bad "$t: $f" "crashed (exit $rc)"
        elif [ "$rc" -ne 0 ]; then bad "$t: $f" "exit $rc"
        else ok "$t: $f"; fi
    done
done
finish
