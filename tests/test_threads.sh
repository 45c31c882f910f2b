#!/bin/sh
# tests/test_threads.sh - the thread count: OMP_NUM_THREADS and --threads are honoured (the flag
# wins) and kept; by default the count follows the machine (src/core/threads.c) without changing any
# result. NANOGEN_TEST_OTHERS replaces the measured CPU use of other programs with a list of
# values, one a tick, so that the count goes down and up again at known points; the runs must
# then be bit-identical to runs on 1 and on 2 threads, and the note must come once.
# (tests/test_threads.c checks every model's passes on 1, 2 and 3 threads in C.)
NAME=tests/test_threads.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
notes() { grep -c "other programs are using" "$ERR"; }
LOAD=1,1,1,0,0,0.4,0.6,1,0   # CPUs "used by others", one value a tick (2 CPUs: 1, 1, 1, 2, 2, 2, 1, 1, 2 threads)
G="gpt --preset baby --data $SH --steps 12 --eval-every 6 --eval-iters 2 --no-final-eval --dropout 0.1"

# --- the count set by the user
run env OMP_NUM_THREADS=1 NANOGEN_TEST_OTHERS=$LOAD $NG train $G --out "$TMP/omp1"
check "OMP_NUM_THREADS=1: the run says 1 thread" grep -qE "[^0-9]1 thread([^s]|$)" "$OUT"
check "OMP_NUM_THREADS=1: kept (no note)" test "$(notes)" -eq 0
run env OMP_NUM_THREADS=1 $NG train $G --out "$TMP/flag2" --threads 2
check "--threads 2 wins over OMP_NUM_THREADS=1" grep -q "2 threads" "$OUT"
run env NANOGEN_TEST_OTHERS=$LOAD $NG train $G --out "$TMP/t2" --threads 2
check "--threads 2: kept (no note)" test "$(notes)" -eq 0
expect_ok "--threads 1" $NG train $G --out "$TMP/t1" --threads 1

# --- the default follows the machine, with the same results
if expect_ok "default threads, other programs coming and going" env NANOGEN_TEST_OTHERS=$LOAD $NG train $G --out "$TMP/auto"; then
    check "... says so once" test "$(notes)" -eq 1
    check "... names the count it runs on" grep -q "running on 1 thread while they do" "$ERR"
fi
check "GPT: 1 and 2 threads give the same weights" same_tensors "$TMP/t1/model.safetensors" "$TMP/t2/model.safetensors"
check "GPT: ... and the optimizer moments" same_tensors "$TMP/t1/optim.safetensors" "$TMP/t2/optim.safetensors"
check "GPT: a count that changes during the run gives them too" same_tensors "$TMP/t1/model.safetensors" "$TMP/auto/model.safetensors"
check "GPT: ... and the same losses" sh -c 'a=$(sed "s/,\"tok_per_s.*//" "$1"); b=$(sed "s/,\"tok_per_s.*//" "$2"); [ "$a" = "$b" ]' sh "$TMP/t1/metrics.jsonl" "$TMP/auto/metrics.jsonl"

# --- sampling: one stream and a batch
S="$TMP/t1 --prompt ROMEO: --tokens 150 --seed 5 --temperature 0.9"
run $NG sample $S --threads 1; cp "$OUT" "$TMP/s1"
run $NG sample $S --threads 2; cp "$OUT" "$TMP/s2"
run env NANOGEN_TEST_OTHERS=$LOAD $NG sample $S; cp "$OUT" "$TMP/sa"
check "sample: 1 and 2 threads write the same text" cmp -s "$TMP/s1" "$TMP/s2"
check "sample: a count that changes every token writes it too" cmp -s "$TMP/s1" "$TMP/sa"
check "sample: the text is there" test "$(wc -c < "$TMP/s1")" -gt 150
run $NG sample $S --num-samples 3 --batch --threads 1; cp "$OUT" "$TMP/b1"
run env NANOGEN_TEST_OTHERS=$LOAD $NG sample $S --num-samples 3 --batch; cp "$OUT" "$TMP/ba"
check "sample --batch: the same streams whatever the count" cmp -s "$TMP/b1" "$TMP/ba"

# --- make demo THREADS=N passes the count to the training and the sampling (a copy of the demo
# script in a tree whose ./nanogen only records its arguments)
D=$TMP/demo
mkdir -p "$D/scripts" "$D/data"
cp scripts/demo.sh scripts/corpus.sh "$D/scripts/"
head -c 2000 "$SH" > "$D/data/tinyshakespeare.txt"
printf '#!/bin/sh\necho "$*" >> "%s/args"\n' "$D" > "$D/nanogen"
chmod +x "$D/nanogen"
if expect_ok "make demo THREADS=1: the demo script runs" env THREADS=1 sh "$D/scripts/demo.sh"; then
    check "... trains with --threads 1" grep -q "^train gpt .*--threads 1" "$D/args"
    check "... samples with --threads 1" grep -q "^sample .*--threads 1" "$D/args"
fi
rm -f "$D/args"
expect_ok "make demo: without THREADS, no --threads" sh "$D/scripts/demo.sh"
check "... the default count" sh -c '! grep -q -- "--threads" "$1"' sh "$D/args"

# --- image models
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    for kind in vae gan; do
        I="$kind --data fashion-mnist --epochs 1 --max-batches 8 --batch-size 32"
        expect_ok "$kind: 1 thread" $NG train $I --out "$TMP/$kind-1" --threads 1
        expect_ok "$kind: default threads, other programs coming and going" env NANOGEN_TEST_OTHERS=$LOAD $NG train $I --out "$TMP/$kind-a"
        check "$kind: the same weights" same_tensors "$TMP/$kind-1/model.safetensors" "$TMP/$kind-a/model.safetensors"
    done
else
    skip "dataset-fashion-mnist is not installed" "image models" 6
fi
finish
