#!/bin/sh
# tests/test_sanitize.sh - make test SANITIZE=1 checks itself: the command and the test binaries
# it runs are the sanitized ones, and its ASAN/UBSAN/LSAN_OPTIONS make a heap overflow, a leak and
# undefined behaviour fatal (exit 86) and reported (a file under log_path for ASan and LSan,
# stderr for UBSan), so a report cannot pass unseen. Outside a sanitized run it has nothing to
# check (there is no sanitizer to look at): it says so and counts nothing, neither a pass nor a
# skip (a plain make test is complete without it).
NAME=tests/test_sanitize.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
if [ -z "$NANOGEN_SAN_LOG" ]; then
    echo "not applicable: this checks the sanitized run itself (make test SANITIZE=1)"
    finish
fi
B=${BUILD:-build-san}
check "the command under test ($NG) is built with ASan" sh -c "ldd '$NG' | grep -q libasan"
check "... and UBSan" sh -c "ldd '$NG' | grep -q libubsan"
check "the C tests are built with ASan" sh -c "ldd '$B/tests/test_ops' | grep -q libasan"
check "the PyTorch tests' tool is built with ASan" sh -c "ldd '$B/tests/tools/gpt_dump' | grep -q libasan"

# three small faults, built like the suite, run with the suite's options (reports to $TMP/r)
mkdir -p "$TMP/r"
cat > "$TMP/f.c" <<'EOF'
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static volatile int n8 = 8;   /* sizes unknown at compile time: ASan, not UBSan's object-size, sees the overflow */
__attribute__((noinline)) static void lose(void) {   /* a block nobody points to after return */
    char *q = malloc((size_t)n8 * 10);
    memset(q, 2, (size_t)n8 * 10);
    printf("%p\n", (void *)(q + 1) == NULL ? (void *)q : NULL);
}
int main(int argc, char **argv) {
    char *p = malloc((size_t)n8);
    memset(p, 1, (size_t)n8);
    if (!strcmp(argv[1], "overflow")) printf("%d\n", p[n8 + argc - 2]);        /* heap read one past the end */
    if (!strcmp(argv[1], "leak")) { lose(); printf("leaked\n"); }               /* lost block */
    if (!strcmp(argv[1], "ub")) { int x = INT_MAX - 1; x += argc; printf("%d\n", x); } /* signed overflow */
    free(p);
    return 0;
}
EOF
if ! cc -g -O1 -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer \
        -o "$TMP/f" "$TMP/f.c" > "$TMP/cc.log" 2>&1; then
    cat "$TMP/cc.log"; bad "compile" "cannot build a sanitized program"; finish
fi
AO=$(echo "$ASAN_OPTIONS" | sed "s|log_path=[^:]*|log_path=$TMP/r/asan|")
for fault in overflow leak; do
    rm -f "$TMP"/r/*
    ASAN_OPTIONS=$AO "$TMP/f" $fault > "$OUT" 2> "$ERR"; rc=$?
    check "$fault: exit 86" [ "$rc" -eq 86 ]
    check "$fault: a report file under log_path" sh -c "cat '$TMP'/r/asan.* 2>/dev/null | grep -q 'ERROR: \(Address\|Leak\)Sanitizer'"
done
ASAN_OPTIONS=$AO "$TMP/f" ub > "$OUT" 2> "$ERR"; rc=$?
check "ub: exit 86" [ "$rc" -eq 86 ]
check "ub: reported on stderr, which tests/lib.sh counts as a crash" sh -c "grep -q 'runtime error: signed integer overflow' '$ERR'"
check "ub: crashed() says so" crashed "$rc"
ASAN_OPTIONS=$AO "$TMP/f" none > "$OUT" 2> "$ERR"; rc=$?
check "no fault: exit 0, no report" [ "$rc" -eq 0 ] && [ ! -s "$ERR" ]
finish
