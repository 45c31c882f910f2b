#!/bin/sh
# tests/run.sh BUILD - run every test: C binaries, shell tests of the command, PyTorch checks.
# Prints each file's "N passed, N failed" and the total last.
B=${1:-build}
pass=0; fail=0; broken=""
tally() { # $1 = name, $2 = output file, $3 = exit code
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
    [ -n "$p" ] || p=0; [ -n "$f" ] || f=0
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    [ "$f" -eq 0 ] || broken="$broken $1"
}
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
