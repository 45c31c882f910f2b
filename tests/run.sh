#!/bin/sh
# tests/run.sh BUILD - run every test: C binaries, shell tests of the command, PyTorch checks.
# Each test ends with "NAME: N passed, N failed, N skipped" after one "skipped: N x REASON" line
# per distinct reason for the checks it could not make here; the runner prints each file's
# output and, last, "total: N passed, N failed, N skipped" and each skip reason once, with the
# number of checks it cost over the whole suite.
B=${1:-build}
export BUILD="${BUILD:-$B}"   # the PyTorch tests take their tool binaries from $BUILD/tests/tools
# a fixed GEMM (nanogen's own kernel for every shape where the build has one): results do not
# depend on the choices measured on this machine (tests/test_gemm_choice.c tests those)
export NANOGEN_GEMM="${NANOGEN_GEMM:-own}"
pass=0; fail=0; skipped=0; broken=""
out=$(mktemp); skips=$(mktemp)
tally() { # $1 = name, $2 = output file, $3 = exit code
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
    s=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) skipped.*/\1/p')
    [ -n "$p" ] || p=0; [ -n "$f" ] || f=0; [ -n "$s" ] || s=0
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ -n "$NANOGEN_SAN_LOG" ] && [ -n "$(ls -A "$NANOGEN_SAN_LOG" 2>/dev/null)" ]; then
        # make test SANITIZE=1: a sanitizer report during this test (even one hidden by a
        # redirection or an ignored exit code) is a failure
        echo "FAIL $1: sanitizer reports:"; cat "$NANOGEN_SAN_LOG"/*
        mkdir -p "$NANOGEN_SAN_LOG.old"; mv "$NANOGEN_SAN_LOG"/* "$NANOGEN_SAN_LOG.old"/
        f=$((f + 1))
    fi
    pass=$((pass + p)); fail=$((fail + f)); skipped=$((skipped + s))
    sed -n 's/^skipped: \([0-9][0-9]*\) x \(.*\)$/\1\t\2/p' "$2" >> "$skips"
    [ "$f" -eq 0 ] || broken="$broken $1"
}
if [ -n "$NANOGEN_SAN_LOG" ]; then rm -rf "$NANOGEN_SAN_LOG" "$NANOGEN_SAN_LOG.old"; mkdir -p "$NANOGEN_SAN_LOG"; fi
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"; "$t" > "$out" 2>&1; rc=$?; cat "$out"; tally "$t" "$out" $rc
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    echo "== $t"; sh "$t" > "$out" 2>&1; rc=$?; cat "$out"; tally "$t" "$out" $rc
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    echo "== $t"; /usr/bin/python3 "$t" > "$out" 2>&1; rc=$?; cat "$out"; tally "$t" "$out" $rc
done
[ -z "$broken" ] || echo "failing:$broken"
echo "total: $pass passed, $fail failed, $skipped skipped"
awk -F '\t' '!($2 in n) { r[++k] = $2 } { n[$2] += $1 }
    END { for (i = 1; i <= k; i++) printf "skipped: %d x %s\n", n[r[i]], r[i] }' "$skips"
rm -f "$out" "$skips"
[ "$fail" -eq 0 ]
