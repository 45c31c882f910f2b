#!/bin/sh
# tests/test_valgrind.sh - short runs of the command under valgrind (memcheck): a tiny GPT trained
# a few steps, resumed, sampled, stopped by a numerical fault (the error path), and a tiny VAE
# epoch with --detect-anomaly. Each must end with "ERROR SUMMARY: 0 errors" and no definite leak
# (--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite). OMP_NUM_THREADS=1.
# Skipped (counted, with the reason) when valgrind is not installed.
#
# valgrind 3.19 cannot decode AVX-512, and ./nanogen is built for x86-64-v4 where the CPU has it:
# the command under test is build-vg/nanogen, the same sources built for x86-64-v3 (make, ~5 s
# the first time). On a CPU without AVX-512 it is built with the default ARCH.
NAME=tests/test_valgrind.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
if ! command -v valgrind >/dev/null 2>&1; then
    skip "valgrind is not installed (apt-get install valgrind)" "all of it"
    finish
fi
VG_ARCH=""
grep -qw avx512f /proc/cpuinfo 2>/dev/null && VG_ARCH="ARCH=x86-64-v3"
# a plain build whatever the caller's make flags (make test SANITIZE=1 exports them)
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 --no-print-directory SANITIZE= $VG_ARCH BUILD=build-vg \
        NG_BIN=build-vg/nanogen build-vg/nanogen > "$TMP/build.log" 2>&1; then
    cat "$TMP/build.log"; bad "build" "make build-vg/nanogen failed"; finish
fi
VNG=build-vg/nanogen
export OMP_NUM_THREADS=1
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

need_corpus
head -c 20000 "$SH" > "$TMP/small.txt"

# vg "description" expected-exit-code cmd...: the command under valgrind, its exit code, 0 errors
n=0
vg() {
    _d=$1; _want=$2; shift 2
    n=$((n + 1)); _log=$TMP/vg$n.log
    valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file="$_log" "$@" > "$OUT" 2> "$ERR"
    _rc=$?
    _sum=$(grep -h "ERROR SUMMARY" "$_log" | tail -n 1 | sed 's/^==[0-9]*== //')
    _leak=$(grep -h "definitely lost:" "$_log" | tail -n 1 | sed 's/^==[0-9]*== *//')
    echo "     $_d: $_sum${_leak:+; $_leak}"
    if [ "$_rc" -eq 99 ] || ! echo "$_sum" | grep -q "ERROR SUMMARY: 0 errors"; then
        bad "$_d" "valgrind reports errors (exit $_rc):"; grep -v "^==[0-9]*== *$" "$_log" | head -n 40
    elif [ "$_rc" -ne "$_want" ]; then bad "$_d" "exit $_rc, expected $_want: $*"
    else ok "$_d"; fi
}
G="--n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 4 --eval-iters 1 --threads 1 --no-final-eval"
vg "valgrind: train gpt 4 steps" 0 $VNG train gpt --data "$TMP/small.txt" --out "$TMP/gpt" --force $G --steps 4 --eval-every 2
vg "valgrind: resume to 6 steps" 0 $VNG train --resume "$TMP/gpt" --steps 6
vg "valgrind: sample 30 tokens" 0 $VNG sample "$TMP/gpt" --tokens 30 --seed 1
# the error path of a numerical fault: stops at a NaN gradient, saves nothing, frees everything
vg "valgrind: a diverging run stops cleanly" 1 $VNG train gpt --data "$TMP/small.txt" --out "$TMP/div" --force $G \
    --steps 40 --eval-every 0 --lr 10 --weight-decay 10 --warmup 0
check "valgrind: the diverging run names the step" grep -q "step [0-9]* of 40: " "$ERR"

# a tiny VAE epoch on 64 Fashion-MNIST images (IDX files cut from the dataset), anomaly checks on
FM=${NG_FASHION:-/usr/share/datasets/fashion-mnist}
if [ -e "$FM/train-images-idx3-ubyte.gz" ] && [ -e "$FM/t10k-images-idx3-ubyte.gz" ]; then
    mkdir -p "$TMP/idx"
    "$PY" - "$FM" "$TMP/idx" <<'EOF'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
for name, n in (("train-images-idx3-ubyte", 64), ("t10k-images-idx3-ubyte", 16)):
    b = gzip.open(f"{src}/{name}.gz").read()
    magic = struct.unpack(">I", b[:4])[0]
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    per = 1
    for d in dims[1:]:
        per *= d
    with open(f"{dst}/{name}", "wb") as f:
        f.write(struct.pack(">I", magic) + struct.pack(">" + "I" * nd, n, *dims[1:]) + b[4 + 4 * nd:4 + 4 * nd + n * per])
EOF
    vg "valgrind: train vae 1 epoch --detect-anomaly" 0 $VNG train vae --data "$TMP/idx" --out "$TMP/vae" --force \
        --epochs 1 --batch-size 16 --threads 1 --detect-anomaly
else
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "the VAE run (or set NG_FASHION)"
fi
finish
