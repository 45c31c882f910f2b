# tests/lib.sh - helpers shared by the shell tests (sourced after NAME and TMP are set):
# ok/bad counters, crash detection, expect_fail/expect_ok/check, and finish, which prints
# "NAME: N passed, N failed" and exits non-zero on failure.
TO=""
command -v timeout >/dev/null 2>&1 && TO="timeout -k 5 120"
OUT=$TMP/out; ERR=$TMP/err

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {   # $1 = description, $2 = why
    fail=$((fail + 1)); echo "FAIL $1: $2"
    if [ -s "$ERR" ]; then echo "     stderr:"; head -n 5 "$ERR" | sed 's/^/     | /'; fi
}
# A crash: killed by a signal, or a sanitizer / libc abort report on stderr.
crashed() { # $1 = exit code
    [ "$1" -ge 128 ] && return 0
    grep -qE 'Segmentation|Aborted|core dumped|Sanitizer|runtime error:|double free|stack smashing|free\(\): |malloc\(\): ' "$ERR"
}
# The error lines ("nanogen: ...") of the last command's stderr, without the usage text,
# contain one of the '|'-separated alternatives of $1 (case-insensitive)?
err_has() {
    grep -i '^nanogen:' "$ERR" > "$TMP/errlines"
    _alts=$1
    while :; do
        _a=${_alts%%|*}
        grep -qiF -- "$_a" "$TMP/errlines" && return 0
        [ "$_a" = "$_alts" ] && return 1
        _alts=${_alts#*|}
    done
}
run() { $TO "$@" > "$OUT" 2> "$ERR"; }
# expect_fail "description" "expected substring in stderr" cmd...
expect_fail() {
    _d=$1; _s=$2; shift 2
    run "$@"; _rc=$?
    if [ "$_rc" -eq 124 ]; then bad "$_d" "timed out: $*"
    elif crashed "$_rc"; then bad "$_d" "crashed (exit $_rc): $*"
    elif [ "$_rc" -eq 0 ]; then bad "$_d" "exit 0, expected a failure: $*"
    elif ! err_has "$_s"; then bad "$_d" "exit $_rc but stderr does not say '$_s': $*"
    else ok "$_d"; fi
}
# expect_ok "description" cmd...  (stdout in $OUT, stderr in $ERR)
expect_ok() {
    _d=$1; shift
    run "$@"; _rc=$?
    if [ "$_rc" -ne 0 ]; then bad "$_d" "exit $_rc: $*"; return 1; fi
    if crashed 0; then bad "$_d" "sanitizer or libc report on stderr: $*"; return 1; fi
    ok "$_d"
}
# check "description" cmd...: passes when cmd succeeds
check() { _d=$1; shift; if "$@"; then ok "$_d"; else bad "$_d" "check failed: $*"; fi; }
finish() {
    echo "$NAME: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
