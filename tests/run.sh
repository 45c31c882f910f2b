#!/bin/sh
# tests/run.sh BUILD - run every test: C binaries, shell tests of the command, PyTorch checks.
# Prints each file's "N passed, N failed" and the total last.
B=${1:-build}
export BUILD="${BUILD:-$B}"   # the PyTorch tests take their tool binaries from $BUILD/tests/tools
pass=0; fail=0; broken=""
tally() { # $1 = name, $2 = output file, $3 = exit code
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
    [ -n "$p" ] || p=0; [ -n "$f" ] || f=0
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ -n "$NANOGEN_SAN_LOG" ] && [ -n "$(ls -A "$NANOGEN_SAN_LOG" 2>/dev/null)" ]; then
        # make test SANITIZE=1: a sanitizer report during this test (even one hidden by a
        # redirection or an ignored exit code) is a failure
        echo "FAIL $1: sanitizer reports:"; cat "$NANOGEN_SAN_LOG"/*
        mkdir -p "$NANOGEN_SAN_LOG.old"; mv "$NANOGEN_SAN_LOG"/* "$NANOGEN_SAN_LOG.old"/
        f=$((f + 1))
    fi
    pass=$((pass + p)); fail=$((fail + f))
    [ "$f" -eq 0 ] || broken="$broken $1"
}
if [ -n "$NANOGEN_SAN_LOG" ]; then rm -rf "$NANOGEN_SAN_LOG" "$NANOGEN_SAN_LOG.old"; mkdir -p "$NANOGEN_SAN_LOG"; fi
out=$(mktemp)
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
rm -f "$out"
[ -z "$broken" ] || echo "failing:$broken"
echo "total: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
