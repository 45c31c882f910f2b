#!/bin/sh
# tests/test_images_train.sh - what image training writes besides its checkpoint, on a folder of
# 30 small grey PNGs of two classes (written here with python3's zlib/struct; every 10th is a test
# picture, so the test split has 3): a readable line per epoch on stdout (AE, GAN, classifier),
# metrics.jsonl's JSON unchanged; on a terminal, a progress line per batch with the ETA; the per-epoch reconstruction picture of an AE and a DAE has one
# column per test image when there are fewer than 8 (its other columns were uninitialised
# memory), and two identical runs write identical pictures.
# Run from anywhere: sh tests/test_images_train.sh (uses ./nanogen). One thread, one epoch.
NAME=tests/test_images_train.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

# 30 pictures 20x20 grey: a bright square or disc of varying size and place on a dark background,
# in a subfolder per class (square/, disc/)
PICS=$TMP/pics
mkdir -p "$PICS/square" "$PICS/disc"
"$PY" - "$PICS" <<'PYEOF' || bad "pictures" "python3 could not write the PNGs"
import sys
sys.path.insert(0, "tests")
from pngwrite import png
for i in range(30):
    W = 20; cx, cy, r = 6 + (i * 7) % 8, 6 + (i * 11) % 8, 3 + i % 4
    inside = lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r * r if i % 2 else abs(x - cx) <= r and abs(y - cy) <= r
    png("%s/%s/pic%02d.png" % (sys.argv[1], "disc" if i % 2 else "square", i), W, W, [[200 + i if inside(x, y) else 20 for x in range(W)] for y in range(W)])
PYEOF

# cells N: pixels of N 16x16 cells at zoom 2 with a 2-pixel border
cells() { echo $(($1 * (16 * 2 + 2) + 2)); }

T1="--threads 1"
SMALL="--image-size 16 --channels 1 --epochs 1 --hidden 32 --latent 4 --batch-size 9"

# metrics_keys FILE KEY...: every line of FILE is a JSON object with exactly these keys
metrics_keys() {
    "$PY" -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines and all(sorted(json.loads(l)) == sorted(sys.argv[2:]) for l in lines), lines' "$@"
}
NUM='[0-9][0-9.e+-]*'

# ------------------------------------------------------------------ reconstructions of 3 test images
A=$TMP/ae; A2=$TMP/ae2; D=$TMP/dae
if expect_ok "train ae on 30 pictures (27 train / 3 test), 2 epochs" $NG train ae --data "$PICS" --out "$A" $SMALL --epochs 2 $T1; then
    check "train ae: 27 train / 3 test images" grep -q "27 train / 3 test images 1x16x16" "$OUT"
    # a readable line per epoch on stdout (it printed metrics.jsonl's JSON object)
    check "train ae: a line per epoch: 'epoch E/2: train loss X, test loss Y (S s, N img/s)'" \
        test "$(grep -Ec "^epoch [12]/2: train loss $NUM, test loss $NUM \($NUM s, [0-9]+ img/s\)\$" "$OUT")" -eq 2
    check "train ae: no JSON on stdout" sh -c '! grep -q "^{" "$1"' sh "$OUT"
    check "train ae: metrics.jsonl keeps its JSON lines" metrics_keys "$A/metrics.jsonl" epoch train_loss test_loss epoch_s img_per_s
    check "train ae: the reconstructions show 3 columns (originals | outputs), not 8 ($(cells 3) x $(cells 2) px)" \
        size_is "$A/samples/reconstructions_001.png" "$(cells 3)" "$(cells 2)"
fi
expect_ok "train ae again, the same flags" $NG train ae --data "$PICS" --out "$A2" $SMALL --epochs 2 $T1
check "train ae: two runs write the same reconstruction picture" cmp -s "$A/samples/reconstructions_001.png" "$A2/samples/reconstructions_001.png"
if expect_ok "train dae on 30 pictures" $NG train dae --data "$PICS" --out "$D" $SMALL $T1; then
    check "train dae: the reconstructions show 3 columns (originals | noisy | outputs) ($(cells 3) x $(cells 3) px)" \
        size_is "$D/samples/reconstructions_001.png" "$(cells 3)" "$(cells 3)"
fi
# on a terminal, the progress line of each batch ends with the ETA of the run (the batches left,
# at the smoothed batch time of src/core/progress.h, whose numbers tests/test_progress.c checks)
if command -v script >/dev/null 2>&1; then
    script -qc "$NG train ae --data $PICS --out $TMP/tty $SMALL --epochs 2 $T1" /dev/null > "$TMP/tty.txt" 2>&1
    check "train ae on a terminal: 'epoch E/2 | batch B/3 | N img/s | ETA T' after every batch" \
        test "$(tr '\r' '\n' < "$TMP/tty.txt" | grep -Ec 'epoch [12]/2 \| batch [123]/3 \| [0-9]+ img/s \| ETA [0-9]+s')" -eq 6
else
    echo "skip: no script(1) to give the trainer a terminal"
fi

# ------------------------------------------------------------------ the per-epoch line of a GAN and a classifier
if expect_ok "train gan on 30 pictures (28x28, one epoch)" $NG train gan --data "$PICS" --out "$TMP/gan" --image-size 28 --channels 1 --epochs 1 --batch-size 9 $T1; then
    check "train gan: 'epoch 1/1: D loss X, G loss Y, D(x) P, D(G(z)) Q (S s, N img/s)'" \
        grep -Eq "^epoch 1/1: D loss $NUM, G loss $NUM, D\(x\) $NUM, D\(G\(z\)\) $NUM \($NUM s, [0-9]+ img/s\)\$" "$OUT"
    check "train gan: no JSON on stdout" sh -c '! grep -q "^{" "$1"' sh "$OUT"
fi
if expect_ok "train classifier on 30 pictures of 2 classes" $NG train classifier --data "$PICS" --out "$TMP/clf" --image-size 16 --channels 1 --epochs 1 --batch-size 9 $T1; then
    check "train classifier: 'epoch 1/1: train loss X, test loss Y, test accuracy Z% (...)'" \
        grep -Eq "^epoch 1/1: train loss $NUM, test loss $NUM, test accuracy [0-9.]+% \($NUM s, [0-9]+ img/s\)\$" "$OUT"
fi
finish
