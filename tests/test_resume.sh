#!/bin/sh
# tests/test_resume.sh - exact resume and determinism. Training 2N steps (epochs) equals N, a
# stop and a resume for N more: bit-identical weights and optimizer moments and the same
# metrics.jsonl (timings aside), for GPT (stops inside the warmup and inside the cosine decay,
# with dropout, logging windows that straddle the stops), VAE and GAN (--epochs N, then
# --resume --epochs 2N). The same seed and thread count give the same run twice (GPT and VAE
# with 2 threads); another seed gives another run (so the comparisons can fail). A run resumed
# under NANOGEN_GEMM=auto keeps the GEMM choices its checkpoint saved, whatever the cache says.
# (tests/test_images_resume.sh stops image models inside an epoch; tests/test_kill.sh SIGKILLs.)
NAME=tests/test_resume.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus

# same DIR_A DIR_B [what...]: the same tensors (model, optim) and metrics (without timings and
# without lines of a field given as "-FIELD"); prints what differs
same() {
    "$PY" - "$@" <<'EOF'
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None); return h, b[8 + n:]
def metrics(p, skip):
    out = []
    for line in open(p, encoding="utf-8"):
        d = json.loads(line)
        if any(k in d for k in skip): continue
        for k in ("tok_per_s", "ms_per_step", "epoch_s", "img_per_s"): d.pop(k, None)
        out.append(d)
    return out
a, b = sys.argv[1], sys.argv[2]
skip = [w[1:] for w in sys.argv[3:] if w.startswith("-")]
bad = [f for f in ("model.safetensors", "optim.safetensors") if tensors(a + "/" + f) != tensors(b + "/" + f)]
ma, mb = metrics(a + "/metrics.jsonl", skip), metrics(b + "/metrics.jsonl", skip)
if ma != mb or not ma: bad.append("metrics.jsonl (%d and %d lines)" % (len(ma), len(mb)))
if bad: print("differ:", ", ".join(bad))
sys.exit(1 if bad else 0)
EOF
}
differ() { ! same "$@" > /dev/null; }

# ------------------------------------------------------------------ GPT
TINY="--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8 --dropout 0.1"
# warmup 10 of 40 steps, then the cosine decay; logs every 7 steps, evaluates every 15
G="--data $SH $TINY --steps 40 --warmup 10 --log-every 7 --eval-every 15 --eval-iters 2 --threads 1"
expect_ok "gpt: 40 steps in one run" $NG train gpt $G --out "$TMP/g40"
run env NANOGEN_TEST_STOP_AT=5 $NG train gpt $G --out "$TMP/gs"; rc=$?
check "gpt: stopped at step 5 (inside the warmup): exit 130" test "$rc" -eq 130
run env NANOGEN_TEST_STOP_AT=20 $NG train --resume "$TMP/gs" --threads 1; rc=$?
check "gpt: resumed, stopped at step 25 (inside the decay): exit 130" test "$rc" -eq 130
check "gpt: ... interrupted at step 25" grep -q "interrupted at step 25" "$OUT"
expect_ok "gpt: resumed to step 40" $NG train --resume "$TMP/gs" --threads 1
check "gpt: 5 + 20 + 15 steps = 40 steps: weights, moments, losses, lr" same "$TMP/g40" "$TMP/gs"
# --steps N, then --resume --steps 2N (warmup past 2N: the same schedule either way)
G2="--data $SH $TINY --warmup 100 --log-every 5 --eval-every 10 --eval-iters 2 --threads 1"
expect_ok "gpt: 40 steps" $NG train gpt $G2 --steps 40 --out "$TMP/h40"
expect_ok "gpt: 20 steps" $NG train gpt $G2 --steps 20 --out "$TMP/h20"
expect_ok "gpt: --resume --steps 40" $NG train --resume "$TMP/h20" --steps 40 --threads 1
check "gpt: --steps 20 + --resume --steps 40 = --steps 40 (the final full-split loss of the 20-step run aside)" \
    same "$TMP/h40" "$TMP/h20" -full_val_loss
# the GEMM choice (NANOGEN_GEMM=auto; the rest of the suite runs with own): a run stopped with
# one set of choices and resumed where the cache says otherwise continues with the choices its
# checkpoint saved, so it ends as the run never stopped. PREFER=openblas: OpenBLAS for every shape
# where its bits hold on every thread count; the other cache says nanogen's kernel for them all.
AUTO="env NANOGEN_GEMM=auto NANOGEN_GEMM_TEST_LOAD=0"
GG="--data $SH $TINY --steps 30 --warmup 5 --log-every 5 --eval-every 10 --eval-iters 2 --threads 2"
expect_ok "gemm auto: 30 steps, OpenBLAS preferred" $AUTO NANOGEN_GEMM_CACHE="$TMP/ga.txt" NANOGEN_GEMM_TEST_PREFER=openblas $NG train gpt $GG --out "$TMP/ga"
sed 's/ openblas / own /' "$TMP/ga.txt" > "$TMP/gb.txt"
expect_ok "gemm auto: 30 steps, nanogen's kernel for every shape" $AUTO NANOGEN_GEMM_CACHE="$TMP/gb.txt" $NG train gpt $GG --out "$TMP/gb"
if grep -q " openblas " "$TMP/ga.txt" && differ "$TMP/ga" "$TMP/gb"; then
    run $AUTO NANOGEN_GEMM_CACHE="$TMP/gc.txt" NANOGEN_GEMM_TEST_PREFER=openblas NANOGEN_TEST_STOP_AT=12 $NG train gpt $GG --out "$TMP/gs2"; rc=$?
    check "gemm auto: stopped at step 12: exit 130" test "$rc" -eq 130
    expect_ok "gemm auto: resumed where the cache says nanogen's kernel" $AUTO NANOGEN_GEMM_CACHE="$TMP/gb.txt" $NG train --resume "$TMP/gs2" --threads 2
    check "gemm auto: 12 + 18 steps with the saved choices = 30 steps in one run" same "$TMP/ga" "$TMP/gs2"
else
    skip "OpenBLAS's bits vary with the thread count on every shape of the tiny GPT here: no choice to resume across" "gemm auto resume" 3
fi
# determinism NAME SEED CMD...: CMD (2 threads) with --seed SEED twice, then SEED + 1: the same
# seed and threads give a bit-identical run, another seed another run
determinism() {
    _n=$1; _s=$2; shift 2
    expect_ok "$_n: 2 threads, seed $_s" "$@" --seed "$_s" --out "$TMP/$_n-d1"
    expect_ok "$_n: 2 threads, seed $_s again" "$@" --seed "$_s" --out "$TMP/$_n-d2"
    expect_ok "$_n: 2 threads, seed $((_s + 1))" "$@" --seed "$((_s + 1))" --out "$TMP/$_n-d3"
    check "$_n: the same seed and threads twice: bit-identical run" same "$TMP/$_n-d1" "$TMP/$_n-d2"
    check "$_n: another seed: another run" differ "$TMP/$_n-d1" "$TMP/$_n-d3"
}
# determinism: the same seed and 2 threads, twice
G3="--data $SH --n-layer 2 --n-embd 64 --n-head 4 --block-size 32 --batch-size 8 --dropout 0.1 --steps 20 --warmup 5 --log-every 5 --eval-every 10 --eval-iters 2 --threads 2"
determinism gpt 7 $NG train gpt $G3

# ------------------------------------------------------------------ VAE and GAN
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    for kind in vae gan; do
        I="--data fashion-mnist --max-batches 6 --batch-size 32 --threads 1"
        expect_ok "$kind: 2 epochs in one run" $NG train $kind $I --epochs 2 --out "$TMP/$kind-2"
        expect_ok "$kind: 1 epoch" $NG train $kind $I --epochs 1 --out "$TMP/$kind-1"
        expect_ok "$kind: --resume --epochs 2" $NG train --resume "$TMP/$kind-1" --epochs 2 --threads 1
        check "$kind: 1 epoch + --resume --epochs 2 = 2 epochs: weights, moments, losses" same "$TMP/$kind-2" "$TMP/$kind-1"
    done
    I="--data fashion-mnist --max-batches 6 --batch-size 32 --epochs 2 --threads 2"
    determinism vae 3 $NG train vae $I
else
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "vae, gan: resume and determinism"
fi
finish
