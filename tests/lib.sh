# tests/lib.sh - what every shell test shares. Source it from the repository root after
# setting NAME: it sets NG ($NANOGEN_BIN, else ./nanogen) and PY (python3), makes $TMP (removed at exit, as is a
# background job whose pid is in $BG), counts checks (ok/bad, expect_fail/expect_ok/check) and
# checks not made (skip) and ends with finish, which prints one "skipped: N x REASON" line per
# distinct reason, then "NAME: N passed, N failed, N skipped", and exits non-zero on failure.
NG=${NANOGEN_BIN:-./nanogen}   # make test SANITIZE=1 sets it to build-san/nanogen
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
pass=0; fail=0; BG=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nanogen-$(basename "$NAME" .sh).XXXXXX") || exit 1
cleanup() { [ -n "$BG" ] && kill -KILL "$BG" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
TO=""
command -v timeout >/dev/null 2>&1 && TO="timeout -k 5 120"
OUT=$TMP/out; ERR=$TMP/err

ok() { pass=$((pass + 1)); echo "ok   $1"; }
# skip "REASON" ["WHAT" [N]]: N checks (default 1; a whole group may count as one) not made
# because of REASON, a fixed sentence (tests/run.sh lists each distinct reason once: no
# numbers or paths that vary). Skip only what cannot be checked here, never what failed.
skip() {
    printf '%s\t%s\n' "${3:-1}" "$1" >> "$TMP/skips"
    echo "skip ${2:+$2: }${3:-1} check$([ "${3:-1}" = 1 ] || echo s): $1"
}
bad() {   # $1 = description, $2 = why
    fail=$((fail + 1)); echo "FAIL $1: $2"
    if [ -s "$ERR" ]; then echo "     stderr:"; head -n 5 "$ERR" | sed 's/^/     | /'; fi
}
# A crash: killed by a signal, or a sanitizer / libc abort report on stderr.
crashed() { # $1 = exit code (86: a sanitizer report under make test SANITIZE=1)
    [ "$1" -ge 128 ] || [ "$1" -eq 86 ] && return 0
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
    _skipped=0
    if [ -s "$TMP/skips" ]; then
        awk -F '\t' '!($2 in n) { r[++k] = $2 } { n[$2] += $1 }
            END { for (i = 1; i <= k; i++) printf "skipped: %d x %s\n", n[r[i]], r[i] }' "$TMP/skips"
        _skipped=$(awk -F '\t' '{ s += $1 } END { print s }' "$TMP/skips")
    fi
    echo "$NAME: $pass passed, $fail failed, $_skipped skipped"
    [ "$fail" -eq 0 ]
    exit $?
}

# same_tensors A B: the tensors of two safetensors files are identical (their metadata aside)
same_tensors() {
    "$PY" -c 'import json, struct, sys
def rd(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return b[8 + n:], h
sys.exit(0 if rd(sys.argv[1]) == rd(sys.argv[2]) else 1)' "$1" "$2"
}
# cc_setup: for a test that compiles programs against the library (test_api, test_examples):
# ROOT (the checkout), B (the build directory, absolute), CC (a C compiler), SAN (under make test
# SANITIZE=1 the library is built with ASan + UBSan, so a program using it needs their runtime).
cc_setup() {
    ROOT=$(pwd)
    B=${BUILD:-build}
    case $B in /*) ;; *) B=$ROOT/$B ;; esac
    CC=${CC:-cc}
    command -v "$CC" >/dev/null 2>&1 || CC=cc
    SAN=""
    if [ "${NANOGEN_SANITIZE:-}" = 1 ]; then SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"; fi
}
# png_size FILE: "W H" from the IHDR chunk of a PNG (nothing if it is not one); size_is FILE W H
png_size() {
    "$PY" -c 'import struct, sys
b = open(sys.argv[1], "rb").read(24)
if b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR": print("%d %d" % struct.unpack(">II", b[16:24]))' "$1" 2>/dev/null
}
size_is() { [ "$(png_size "$1")" = "$2 $3" ]; }

if [ ! -x "$NG" ]; then bad "binary" "$NG not found: run make first"; finish; fi
if [ -z "$PY" ]; then bad "python" "python3 not found"; finish; fi
# need_corpus [WHAT]: SH = the text corpus (NG_SHAKESPEARE, else scripts/corpus.sh: Tiny
# Shakespeare when a copy is in data/ or ../shared/data/, else nanogen's own sources as ASCII
# text, always there); without one, a failed check named WHAT ("data") and the end of the test
need_corpus() {
    SH=${NG_SHAKESPEARE:-$(sh scripts/corpus.sh)}
    if [ ! -s "$SH" ]; then bad "${1:-data}" "no text corpus (scripts/corpus.sh)"; finish; fi
}
