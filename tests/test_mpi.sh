#!/bin/sh
# tests/test_mpi.sh - training with several processes (make MPI=1, Open MPI's mpirun): a GPT
# trained by 2 ranks equals the same run in one process cut into the same gradient shards, bit
# for bit, and one process with its whole batch within float noise; the same rank count twice
# gives the same bits; a run stopped with 2 ranks resumes in 1 and ends where the uninterrupted
# run ends; a rank killed with SIGKILL ends the job within 10 s naming the rank, and the last
# checkpoint resumes; Ctrl-C on mpirun saves once; a NaN stops every rank with the reason and
# keeps the checkpoint; a failure of one rank alone is named with its rank.
# The VAE, DAE and classifier like the GPT (2 ranks = 1 process with 2 shards); the GAN on 2 ranks
# (its BatchNorm is each rank's). Without mpirun (no MPI build, or make test SANITIZE=1) the
# shards still run in one process.
NAME=tests/test_mpi.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
MPI_NG=${NANOGEN_MPI_BIN:-build-mpi/nanogen}
# without mpirun (a build without MPI, or the sanitized one): the shards in one process, which
# every rank count reproduces
one_process() {
    export NANOGEN_GEMM=own
    head -c 100000 "$SH" > "$TMP/t1.txt"
    S1="--data $TMP/t1.txt --n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 8 --eval-iters 2 --eval-every 3 --steps 6 --dropout 0.1 --threads 1 --force"
    expect_ok "1 process, --grad-shards 4 (GPT)" "$NG" train gpt $S1 --grad-shards 4 --out "$TMP/o4"
    expect_ok "... again" "$NG" train gpt $S1 --grad-shards 4 --out "$TMP/o4b"
    check "... bit-identical" same_tensors "$TMP/o4/model.safetensors" "$TMP/o4b/model.safetensors"
    expect_ok "1 process, --grad-shards 3 (any count in one process)" "$NG" train gpt $S1 --batch-size 9 --grad-shards 3 --out "$TMP/o3"
    if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
        expect_ok "1 process, --grad-shards 2 (VAE)" "$NG" train vae --data fashion-mnist --epochs 1 --max-batches 3 --threads 1 --grad-shards 2 --out "$TMP/ov" --force
        expect_ok "1 process, --grad-shards 4 (DAE)" "$NG" train dae --data fashion-mnist --epochs 1 --max-batches 3 --threads 1 --grad-shards 4 --out "$TMP/od" --force
    fi
}
if [ -n "$NANOGEN_SANITIZE" ]; then
    one_process
    skip "MPI runs are not sanitized (Open MPI's own allocations)" "mpi" 49; finish
fi
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$MPI_NG" ]; then
    one_process
    skip "no MPI build here (make MPI=1 needs openmpi-bin libopenmpi-dev)" "mpi" 49; finish
fi
MPIRUN="mpirun --oversubscribe -x NANOGEN_GEMM -x OMP_WAIT_POLICY"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export NANOGEN_GEMM=own OMP_WAIT_POLICY=passive
head -c 200000 "$SH" > "$TMP/text.txt"
T=$TMP/text.txt
G="--data $T --n-layer 2 --n-head 2 --n-embd 32 --block-size 16 --batch-size 8 --eval-iters 2 --eval-every 10 --warmup 2 --dropout 0.1 --seed 7 --threads 1 --force"

# the logged losses of a metrics.jsonl, and two runs' losses within a relative tolerance
losses() { "$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    for k in ("loss", "train_loss", "val_loss"):
        if k in j: print(j["step"], k, repr(j[k]))' "$1"; }
close_losses() {   # every logged loss of $1 and $2 within $3 relative
    "$PY" -c 'import json, sys
def L(p): return [(j["step"], k, j[k]) for j in map(json.loads, open(p)) for k in ("loss", "train_loss", "val_loss") if k in j]
a, b, tol = L(sys.argv[1]), L(sys.argv[2]), float(sys.argv[3])
worst = max(abs(x[2] - y[2]) / abs(x[2]) for x, y in zip(a, b))
print("largest relative difference of a logged loss: %.3g" % worst)
sys.exit(0 if len(a) == len(b) and len(a) > 0 and all(x[:2] == y[:2] for x, y in zip(a, b)) and worst <= tol else 1)' "$1" "$2" "$3"
}

# ---- the same model
expect_ok "2 ranks, 30 steps" $MPIRUN -np 2 "$MPI_NG" train gpt $G --steps 30 --out "$TMP/r2"
check "rank 0 alone prints the progress (one final line)" [ "$(grep -c '^final:' "$OUT")" = 1 ]
check "the log names the time in the all-reduce" grep -q '"allreduce_ms"' "$TMP/r2/metrics.jsonl"
expect_ok "1 process, --grad-shards 2" "$MPI_NG" train gpt $G --steps 30 --out "$TMP/s2" --grad-shards 2
check "2 ranks = 1 process with 2 shards: every tensor bit-identical" same_tensors "$TMP/r2/model.safetensors" "$TMP/s2/model.safetensors"
check "2 ranks = 1 process with 2 shards: optimizer state bit-identical" same_tensors "$TMP/r2/optim.safetensors" "$TMP/s2/optim.safetensors"
losses "$TMP/r2/metrics.jsonl" > "$TMP/l_r2"; losses "$TMP/s2/metrics.jsonl" > "$TMP/l_s2"
check "2 ranks = 1 process with 2 shards: every logged loss equal" cmp -s "$TMP/l_r2" "$TMP/l_s2"
expect_ok "2 ranks again" $MPIRUN -np 2 "$MPI_NG" train gpt $G --steps 30 --out "$TMP/r2b"
check "the same rank count twice: bit-identical" same_tensors "$TMP/r2/model.safetensors" "$TMP/r2b/model.safetensors"
expect_ok "1 process, the whole batch at once (the default)" "$NG" train gpt $G --steps 30 --out "$TMP/s1"
check "2 ranks vs the whole batch: every logged loss within 1e-5 relative" close_losses "$TMP/s1/metrics.jsonl" "$TMP/r2/metrics.jsonl" 1e-5
expect_ok "4 ranks, --grad-shards 4" $MPIRUN -np 4 "$MPI_NG" train gpt $G --steps 10 --out "$TMP/r4" --grad-shards 4
expect_ok "1 process, --grad-shards 4" "$MPI_NG" train gpt $G --steps 10 --out "$TMP/s4" --grad-shards 4
check "4 ranks = 1 process with 4 shards: bit-identical" same_tensors "$TMP/r4/model.safetensors" "$TMP/s4/model.safetensors"
expect_ok "3 ranks, --grad-shards 6 (two shards a rank, not a power of two of ranks)" \
    $MPIRUN -np 3 "$MPI_NG" train gpt $G --batch-size 12 --steps 10 --out "$TMP/r3" --grad-shards 6
expect_ok "1 process, --grad-shards 6" "$MPI_NG" train gpt $G --batch-size 12 --steps 10 --out "$TMP/s6" --grad-shards 6
check "3 ranks = 1 process with 6 shards: bit-identical" same_tensors "$TMP/r3/model.safetensors" "$TMP/s6/model.safetensors"
expect_fail "--grad-shards 3 on 2 ranks" "--grad-shards 3: with 2 ranks" $MPIRUN -np 2 "$MPI_NG" train gpt $G --steps 10 --out "$TMP/bad" --grad-shards 3
expect_fail "a batch the shards do not cut evenly" "--batch-size 9 is not a multiple of the 2 gradient shards" \
    $MPIRUN -np 2 "$MPI_NG" train gpt $G --batch-size 9 --steps 10 --out "$TMP/bad"

# ---- resume with another rank count: the saved run is global
NANOGEN_TEST_STOP_AT=20 $MPIRUN -x NANOGEN_TEST_STOP_AT -np 2 "$MPI_NG" train gpt $G --steps 30 --out "$TMP/rs" > "$OUT" 2> "$ERR"
check "2 ranks, stopped after step 20 of 30" grep -q "^interrupted at step 20" "$OUT"
expect_ok "resumed in 1 process" "$NG" train --resume "$TMP/rs"
check "2 ranks then 1 process = 2 ranks throughout (bit-identical)" same_tensors "$TMP/rs/model.safetensors" "$TMP/r2/model.safetensors"

# ---- faults
L="--steps 100000 --eval-every 5"
$MPIRUN -np 2 "$MPI_NG" train gpt $G $L --out "$TMP/kill" > "$OUT" 2> "$ERR" &
BG=$!
for _ in $(seq 100); do grep -q '"step":10' "$TMP/kill/metrics.jsonl" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -f "$MPI_NG train gpt .*$TMP/kill" | tail -n 1)
kill -KILL "$victim" 2>/dev/null
t0=$(date +%s); wait $BG; rc=$?; t1=$(date +%s); BG=""
check "a rank killed with SIGKILL: the job ends with an error" [ "$rc" -ne 0 ]
check "... within 10 s" [ $((t1 - t0)) -le 10 ]
check "... and says which rank died" grep -qE "rank [0-9]+ .*(exited on signal 9|killed)" "$OUT" "$ERR"
expect_ok "the last checkpoint loads" "$NG" info "$TMP/kill"
expect_ok "... and resumes (1 process)" "$NG" train --resume "$TMP/kill" --steps 20

$MPIRUN -np 2 "$MPI_NG" train gpt $G $L --out "$TMP/int" > "$TMP/int.out" 2> "$ERR" &
BG=$!
for _ in $(seq 100); do grep -q '"step":10' "$TMP/int/metrics.jsonl" 2>/dev/null && break; sleep 0.2; done
kill -INT $BG
wait $BG; BG=""
check "Ctrl-C on mpirun: saved once" [ "$(grep -c '^interrupted at step' "$TMP/int.out")" = 1 ]
expect_ok "... and the run resumes" "$NG" train --resume "$TMP/int" --steps 20

# a diverging run (--lr 10 with --weight-decay 10): every rank stops, the checkpoint is kept
D="--data $T --n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 4 --eval-iters 1 --threads 1 --no-final-eval --warmup 0"
expect_ok "5 steps at --lr 10 --weight-decay 10, checkpoint at step 5" \
    $MPIRUN -np 2 "$MPI_NG" train gpt $D --out "$TMP/div" --steps 5 --eval-every 5 --lr 10 --weight-decay 10
before=$(sha256sum "$TMP/div/model.safetensors" | cut -d' ' -f1)
expect_fail "resumed with 2 ranks, it diverges: every rank stops with the reason" "of 60: the gradient of|of 60: the loss is" \
    $MPIRUN -np 2 "$MPI_NG" train --resume "$TMP/div" --steps 60
check "... said once (rank 0)" [ "$(grep -c '^nanogen: step' "$ERR")" = 1 ]
check "... the checkpoint is unchanged" [ "$before" = "$(sha256sum "$TMP/div/model.safetensors" | cut -d' ' -f1)" ]

# one rank's own failure: named with its rank, and the job ends
printf 'x' > "$TMP/afile"
expect_fail "--out through a regular file (rank 0 alone writes)" "rank 0 of 2:" \
    $MPIRUN -np 2 "$MPI_NG" train gpt $G --steps 10 --out "$TMP/afile/run"

# ---- image kinds: the VAE and the classifier like the GPT; the GAN's BatchNorm sees each rank's share
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    I="--data fashion-mnist --epochs 2 --max-batches 6 --threads 1 --force"
    for k in vae dae classifier; do
        expect_ok "$k: 2 ranks" $MPIRUN -np 2 "$MPI_NG" train $k $I --out "$TMP/${k}2"
        expect_ok "$k: 1 process, --grad-shards 2" "$MPI_NG" train $k $I --out "$TMP/${k}s" --grad-shards 2
        check "$k: 2 ranks = 1 process with 2 shards (bit-identical)" same_tensors "$TMP/${k}2/model.safetensors" "$TMP/${k}s/model.safetensors"
        check "$k: ... the same epoch lines (timing aside)" [ "$(sed 's/,"epoch_s".*//' "$TMP/${k}2/metrics.jsonl")" = "$(sed 's/,"epoch_s".*//' "$TMP/${k}s/metrics.jsonl")" ]
    done
    expect_ok "gan: 2 ranks" $MPIRUN -np 2 "$MPI_NG" train gan $I --out "$TMP/gan2"
    check "gan: rank 0 wrote the checkpoint and the sample grids" [ -s "$TMP/gan2/model.safetensors" ] && [ -s "$TMP/gan2/samples/samples_002.png" ]
    expect_fail "gan: two shards on one rank refused (BatchNorm statistics are a rank's)" "a GAN takes one gradient shard per rank" \
        "$MPI_NG" train gan $I --out "$TMP/gans" --grad-shards 2
else
    skip "no Fashion-MNIST (dataset-fashion-mnist)" "images" 15
fi
finish
