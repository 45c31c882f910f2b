#!/bin/sh
# tests/test_images_resume.sh - image models stopped by Ctrl-C inside an epoch resume exactly:
# the same metrics and bit-identical weights as an uninterrupted run (VAE and GAN).
NAME=tests/test_images_resume.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then bad "data" "dataset-fashion-mnist is not installed"; finish; fi
for kind in vae gan; do
    args="--data fashion-mnist --epochs 2 --max-batches 12 --batch-size 32 --threads 1"
    expect_ok "$kind: 2 short epochs in one run" $NG train $kind $args --out "$TMP/$kind-a"
    run env NANOGEN_TEST_STOP_AT=5 $NG train $kind $args --out "$TMP/$kind-b"; rc=$?
    check "$kind: Ctrl-C inside epoch 1 exits 130" test "$rc" -eq 130
    check "$kind: ... and says where it stopped" grep -q "interrupted in epoch 1 after batch 5" "$OUT"
    expect_ok "$kind: --resume continues" $NG train --resume "$TMP/$kind-b" --threads 1
    check "$kind: ... from the next batch" grep -q "at batch 6" "$OUT"
    check "$kind: ... same metrics as the uninterrupted run" sh -c 'a=$(sed "s/,\"epoch_s.*//" "$1"); b=$(sed "s/,\"epoch_s.*//" "$2"); [ "$a" = "$b" ]' sh "$TMP/$kind-a/metrics.jsonl" "$TMP/$kind-b/metrics.jsonl"
    check "$kind: ... bit-identical weights" same_tensors "$TMP/$kind-a/model.safetensors" "$TMP/$kind-b/model.safetensors"
done
finish
