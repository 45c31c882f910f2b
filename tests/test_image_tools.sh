#!/bin/sh
# tests/test_image_tools.sh - your own pictures through image models, latent files, anomaly
# scores and synthetic data sets, end to end (issue 18, items 1-3):
#   nanogen reconstruct DIR --in PIC... [--noise ...] --out rec.png
#   nanogen encode DIR --in PIC... --out z.lat, nanogen decode DIR --in z.lat --out pics.png
#   nanogen score DIR [--out worst.png] [--csv F] [--positive-class C], train --exclude-class C
#   nanogen sample DIR --n N --out-dir D | --idx PREFIX (read back by training on it)
# Its data is made here (a labelled IDX folder of three kinds of 28x28 pictures, pictures of
# every format and channel count), so it needs no data set; with Fashion-MNIST installed it
# also checks --exclude-class / --positive-class by name. Bad pictures (truncated, not a
# picture, empty, 1x1, a header claiming 100000x100000 pixels, a folder, missing), bad latent
# files (truncated, trailing bytes, wrong magic and version, absurd counts, NaN, empty) and
# bad flags each get a clear "nanogen: ..." line, an exit code below 128 and no file.
NAME=tests/test_image_tools.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

T1="--threads 1"
I=$TMP/idx; P=$TMP/pics
mkdir -p "$I" "$P" "$TMP/idx32"
# the data: class 0 a bright square top left, class 1 bottom right, class 2 a bar across the
# middle, with noise; 200 train and 60 test pictures in IDX files with labels. Pictures: PNGs
# grey, grey + alpha, RGB, RGBA of odd sizes; broken ones.
"$PY" - "$I" "$P" <<'PYEOF' || { bad "data" "python could not write the test data"; finish; }
import os, random, struct, sys, zlib
idx, pics = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def picture(k):
    p = [[rnd.randint(0, 40) for x in range(28)] for y in range(28)]
    for y in range(28):
        for x in range(28):
            if (k == 0 and 3 <= x < 13 and 3 <= y < 13) or (k == 1 and 15 <= x < 25 and 15 <= y < 25) or (k == 2 and 11 <= y < 17):
                p[y][x] = rnd.randint(200, 255)
    return bytes(v for row in p for v in row)
for split, n in (("train", 200), ("t10k", 60)):
    labels = [i % 3 for i in range(n)]
    with open(os.path.join(idx, split + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + b"".join(picture(k) for k in labels))
    with open(os.path.join(idx, split + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
with open(os.path.join(idx + "32", "t10k-images-idx3-ubyte"), "wb") as f:   # pictures of another size
    f.write(struct.pack(">IIII", 0x803, 5, 32, 32) + bytes(5 * 32 * 32))
def png(path, w, h, ct, pix, claim=None):
    c = {0: 1, 4: 2, 2: 3, 6: 4}[ct]
    raw = b"".join(b"\0" + bytes(pix[(y * w + x) * c + k] for x in range(w) for k in range(c)) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    cw, ch = claim or (w, h)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cw, ch, 8, ct, 0, 0, 0)) +
                           chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
def noise(n): return [rnd.randint(0, 255) for _ in range(n)]
png(os.path.join(pics, "grey.png"), 40, 30, 0, noise(40 * 30))
png(os.path.join(pics, "grey_alpha.png"), 28, 28, 4, noise(28 * 28 * 2))
png(os.path.join(pics, "rgb.png"), 33, 50, 2, noise(33 * 50 * 3))
png(os.path.join(pics, "rgba.png"), 64, 64, 6, noise(64 * 64 * 4))
png(os.path.join(pics, "one_pixel.png"), 1, 1, 0, [128])
png(os.path.join(pics, "huge_header.png"), 2, 2, 0, [1, 2, 3, 4], claim=(100000, 100000))
b = open(os.path.join(pics, "rgb.png"), "rb").read()
open(os.path.join(pics, "truncated.png"), "wb").write(b[:len(b) // 2])
open(os.path.join(pics, "text.png"), "w").write("this is not a picture\n")
open(os.path.join(pics, "empty.png"), "wb").close()
PYEOF

# cells N ZOOM: pixels of N 28x28 cells with a 2-pixel border
cells() { echo $(($1 * (28 * $2 + 2) + 2)); }
# latent LAT_FILE OUT EDIT: a copy of a latent file changed by a python expression on b (a bytearray)
latent() { "$PY" -c 'import struct, sys; b = bytearray(open(sys.argv[1], "rb").read()); exec(sys.argv[3]); open(sys.argv[2], "wb").write(b)' "$@"; }

A=$TMP/ae; V=$TMP/vae; G=$TMP/gan
# ---------------------------------------------------------------- training without a class
expect_ok "train ae --exclude-class 2: the class is left out of the train split" \
    $NG train ae --data "$I" --out "$A" --epochs 1 --hidden 32 --latent 4 --batch-size 32 --exclude-class 2 $T1
check "ae: 134 train pictures (200 less class 2's 66), the 60 test ones all kept" grep -q "134 train / 60 test" "$OUT"
expect_ok "train vae --exclude-class 2" $NG train vae --data "$I" --out "$V" --epochs 1 --hidden 32 --latent 4 --batch-size 32 --exclude-class 2 $T1
expect_ok "train gan --exclude-class 0" $NG train gan --data "$I" --out "$G" --epochs 1 --batch-size 32 --max-batches 2 --exclude-class 0 $T1
check "gan: 133 train pictures (class 0's 67 left out)" grep -q "133 train / 60 test" "$OUT"
expect_ok "train --resume keeps the class left out" $NG train --resume "$A" --epochs 2 $T1
check "resumed: still 134 train pictures" grep -q "134 train / 60 test" "$OUT"
expect_fail "--exclude-class 3 of 3 classes" "0..2" $NG train ae --data "$I" --out "$TMP/x" --epochs 1 --exclude-class 3 $T1
expect_fail "--exclude-class by a name the data has not" "no class names" $NG train ae --data "$I" --out "$TMP/x" --epochs 1 --exclude-class Sneaker $T1
check "no checkpoint written after a bad --exclude-class" test ! -e "$TMP/x/model.safetensors"

# ---------------------------------------------------------------- score
expect_ok "score ae: --out, --csv, --n-worst" $NG score "$A" --out "$TMP/worst.png" --csv "$TMP/ae.csv" --n-worst 8 $T1
check "score ae names its score" grep -q "reconstruction error" "$OUT"
check "score ae: the ROC AUC of the class left out, by default" grep -q "ROC AUC [01]\.[0-9]*: finding class 2 .*left out of training" "$OUT"
check "score ae: mean score by class, the left-out class marked" grep -q "^    \* 2 " "$OUT"
check "the worst pictures: 8 in a row at zoom 2" size_is "$TMP/worst.png" "$(cells 8 2)" "$(cells 1 2)"
check "the CSV: a header and 60 rows of index,label,score" sh -c "[ \"\$(head -n 1 '$TMP/ae.csv')\" = index,label,score ] && [ \$(wc -l < '$TMP/ae.csv') -eq 61 ]"
auc=$(sed -n 's/^ROC AUC \([0-9.]*\):.*/\1/p' "$OUT")
check "the printed AUC is the exact one of the CSV's scores (pairs counted, ties one half)" "$PY" -c '
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1]).readlines()[1:]]
pos = [float(s) for i, l, s in rows if l == "2"]; neg = [float(s) for i, l, s in rows if l != "2"]
auc = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))
sys.exit(0 if abs(auc - float(sys.argv[2])) < 6e-5 else 1)' "$TMP/ae.csv" "$auc"
expect_ok "score ae --excess" $NG score "$A" --excess --csv "$TMP/aex.csv" $T1
check "it names the excess score" grep -q "reconstruction excess" "$OUT"
check "the excess is below the plain score for every picture (less the entropy)" "$PY" -c '
import sys
a = [float(l.split(",")[2]) for l in open(sys.argv[1]).readlines()[1:]]; b = [float(l.split(",")[2]) for l in open(sys.argv[2]).readlines()[1:]]
sys.exit(0 if len(a) == len(b) == 60 and all(y < x for x, y in zip(a, b)) else 1)' "$TMP/ae.csv" "$TMP/aex.csv"
expect_fail "score gan --excess" "reconstructs nothing" $NG score "$G" --excess $T1
expect_ok "score ae --positive-class 1" $NG score "$A" --positive-class 1 $T1
check "the AUC of finding class 1" grep -q "ROC AUC [01]\.[0-9]*: finding class 1 " "$OUT"
expect_ok "score vae" $NG score "$V" --csv "$TMP/vae.csv" $T1
check "score vae: the negative ELBO" grep -q "negative ELBO" "$OUT"
expect_ok "score gan" $NG score "$G" --out "$TMP/gworst.png" $T1
check "score gan: minus D's logit, AUC of class 0" sh -c "grep -q \"discriminator's logit\" '$OUT' && grep -q 'finding class 0' '$OUT'"
check "the worst pictures: 60 (all) in 8 columns" size_is "$TMP/gworst.png" "$(cells 8 2)" "$(cells 8 2)"
expect_ok "score twice: the same scores" $NG score "$A" --csv "$TMP/ae2.csv" $T1
check "the same CSV" cmp -s "$TMP/ae.csv" "$TMP/ae2.csv"
expect_fail "--positive-class 5 of 3 classes" "0..2" $NG score "$A" --positive-class 5 $T1
expect_fail "--positive-class by a name the data has not" "no class names" $NG score "$A" --positive-class Bag $T1
run $NG score "$A" --csv "$TMP/s.txt" $T1; rc=$?
check "--csv not ending in .csv: a usage error (exit 2), nothing written" sh -c "[ $rc -eq 2 ] && [ ! -e '$TMP/s.txt' ]"
expect_fail "score on pictures of another shape" "model was trained on" $NG score "$A" --data "$TMP/idx32" $T1

# ---------------------------------------------------------------- reconstruct
expect_ok "reconstruct ae: pictures of every channel count and size" \
    $NG reconstruct "$A" --in "$P/grey.png" "$P/grey_alpha.png" "$P/rgb.png" "$P/rgba.png" --out "$TMP/rec.png" $T1
check "4 rows of picture | reconstruction at zoom 4" size_is "$TMP/rec.png" "$(cells 2 4)" "$(cells 4 4)"
expect_ok "reconstruct vae --noise gaussian:0.3" $NG reconstruct "$V" --in "$P/rgb.png" --noise gaussian:0.3 --out "$TMP/recn.png" --zoom 1 $T1
check "picture | noisy copy | reconstruction" size_is "$TMP/recn.png" "$(cells 3 1)" "$(cells 1 1)"
check "it says so" grep -q "noisy copy" "$OUT"
expect_ok "the same seed again" $NG reconstruct "$V" --in "$P/rgb.png" --noise gaussian:0.3 --out "$TMP/recn2.png" --zoom 1 $T1
check "the same picture" cmp -s "$TMP/recn.png" "$TMP/recn2.png"
expect_ok "reconstruct --noise mask:0.5" $NG reconstruct "$A" --in "$P/grey.png" --noise mask:0.5 --out "$TMP/recm.png" $T1
check "it says masked" grep -q "masked copy" "$OUT"
for b in "truncated.png|truncated.png" "text.png|not a PNG, JPEG, BMP or GIF" "empty.png|empty file" \
         "one_pixel.png|too small" "huge_header.png|too large" "missing.png|cannot open"; do
    f=${b%%|*}; why=${b#*|}
    expect_fail "reconstruct a bad picture: $f" "$why" $NG reconstruct "$A" --in "$P/grey.png" "$P/$f" --out "$TMP/bad.png" $T1
    check "  ($f: the error names the file, nothing written)" sh -c "grep -q '$f' '$ERR' && [ ! -e '$TMP/bad.png' ]"
done
expect_fail "reconstruct a folder" "is a folder" $NG reconstruct "$A" --in "$P" --out "$TMP/bad.png" $T1
expect_fail "reconstruct with a GAN" "no encoder" $NG reconstruct "$G" --in "$P/grey.png" --out "$TMP/bad.png" $T1
run $NG reconstruct "$A" --in "$P/grey.png" --noise gaussian --out "$TMP/bad.png" $T1; rc=$?
check "--noise gaussian (no level): exit 2, named" sh -c "[ $rc -eq 2 ] && grep -q 'gaussian:STD' '$ERR'"
run $NG reconstruct "$A" --out "$TMP/bad.png" $T1; rc=$?
check "reconstruct without --in: exit 2" sh -c "[ $rc -eq 2 ] && grep -q -- '--in' '$ERR'"
run $NG reconstruct "$A" --in --out "$TMP/bad.png" $T1; rc=$?
check "--in without a picture: exit 2" sh -c "[ $rc -eq 2 ] && grep -q 'needs a value' '$ERR'"
run $NG reconstruct "$A" --in "$P/grey.png" --out "$TMP/bad.png" --in "$P/rgb.png" $T1; rc=$?
check "--in twice: exit 2" sh -c "[ $rc -eq 2 ] && grep -q 'given twice' '$ERR'"
run $NG reconstruct "$A" --in "$P/grey.png" --out "$TMP/bad.jpg" $T1; rc=$?
check "--out not .png: exit 2" sh -c "[ $rc -eq 2 ] && [ ! -e '$TMP/bad.jpg' ]"

# ---------------------------------------------------------------- encode / decode
expect_ok "encode ae: three pictures" $NG encode "$A" --in "$P/grey.png" "$P/rgb.png" "$P/rgba.png" --out "$TMP/z.lat" $T1
check "the compression ratio printed" grep -q "compression: 2352 bytes of pictures at 1x28x28 (8-bit pixels) / 80 bytes of latents = 29.4x" "$OUT"
check "the file: 32-byte header + 3 x 4 float32" sh -c "[ \$(wc -c < '$TMP/z.lat') -eq 80 ] && head -c 8 '$TMP/z.lat' | grep -q NGLATENT"
expect_ok "encode again" $NG encode "$A" --in "$P/grey.png" "$P/rgb.png" "$P/rgba.png" --out "$TMP/z2.lat" $T1
check "the same bytes" cmp -s "$TMP/z.lat" "$TMP/z2.lat"
expect_ok "decode ae" $NG decode "$A" --in "$TMP/z.lat" --out "$TMP/dec.png" $T1
check "3 pictures in a row" size_is "$TMP/dec.png" "$(cells 3 2)" "$(cells 1 2)"
expect_ok "decode with the vae (the same latent size)" $NG decode "$V" --in "$TMP/z.lat" --out "$TMP/dec2.png" --ncol 1 $T1
check "3 pictures in a column" size_is "$TMP/dec2.png" "$(cells 1 2)" "$(cells 3 2)"
expect_fail "decode with the gan (latent 100)" "latent has 100" $NG decode "$G" --in "$TMP/z.lat" --out "$TMP/bad.png" $T1
expect_fail "encode with the gan" "no encoder" $NG encode "$G" --in "$P/grey.png" --out "$TMP/bad.lat" $T1
expect_fail "encode a bad picture" "text.png" $NG encode "$A" --in "$P/grey.png" "$P/text.png" --out "$TMP/bad.lat" $T1
check "  nothing written" test ! -e "$TMP/bad.lat"
L=$TMP/l.lat
for b in "truncated|truncated|b = b[:-3]" "trailing|trailing bytes|b += b'1234'" "magic|not a latent file|b[0:8] = b'NGLATENX'" \
         "version|version 7|b[8] = 7" "count|count of 4294967295|b[12:16] = b'\xff\xff\xff\xff'" "zero count|count of 0|b[12:16] = bytes(4)" \
         "latent|latent size of 0|b[16:20] = bytes(4)" "channels|2 channels|b[20] = 2" "shape|picture size|b[24:28] = struct.pack('<I', 5000)" \
         "NaN|NaN|b[36:40] = struct.pack('<f', float('nan'))" "infinity|infinite|b[32:36] = struct.pack('<f', float('inf'))" \
         "empty|shorter than the 32-byte header|b = b''" "text|not a latent file|b = bytearray(b'hello, this is a text file and no latent file at all')"; do
    what=${b%%|*}; rest=${b#*|}; why=${rest%%|*}; edit=${rest#*|}
    latent "$TMP/z.lat" "$L" "$edit"
    expect_fail "decode a bad latent file: $what" "$why" $NG decode "$A" --in "$L" --out "$TMP/bad.png" $T1
done
check "  no picture written" test ! -e "$TMP/bad.png"
latent "$TMP/z.lat" "$L" "b[24:28] = struct.pack('<I', 32)"
expect_fail "latents of other pictures (32x32)" "encoded from 1x32x28 pictures" $NG decode "$A" --in "$L" --out "$TMP/bad.png" $T1
expect_fail "decode a missing file" "cannot open" $NG decode "$A" --in "$TMP/none.lat" --out "$TMP/bad.png" $T1
expect_fail "decode a folder" "not a file" $NG decode "$A" --in "$TMP" --out "$TMP/bad.png" $T1
run $NG encode "$A" --in "$P/grey.png" --out "$TMP/z.bin" $T1; rc=$?
check "encode --out not .lat: exit 2" sh -c "[ $rc -eq 2 ] && [ ! -e '$TMP/z.bin' ]"
expect_fail "encode from a missing checkpoint" "no checkpoint" $NG encode "$TMP/nothing" --in "$P/grey.png" --out "$TMP/bad.lat" $T1

# ---------------------------------------------------------------- sample: synthetic data sets
expect_ok "sample vae --n 30 --out-dir" $NG sample "$V" --n 30 --out-dir "$TMP/gen" $T1
check "30 PNGs 0000.png .. 0029.png" sh -c "[ \$(ls '$TMP/gen' | wc -l) -eq 30 ] && [ -f '$TMP/gen/0000.png' ] && [ -f '$TMP/gen/0029.png' ]"
check "each 28x28" size_is "$TMP/gen/0017.png" 28 28
expect_ok "sample gan --n 12 --idx" $NG sample "$G" --n 12 --idx "$TMP/g" --seed 3 $T1
check "gan: g-images-idx3-ubyte, 16 + 12 x 784 bytes" sh -c "[ \$(wc -c < '$TMP/g-images-idx3-ubyte') -eq 9424 ]"
expect_ok "sample vae --n 40 --idx" $NG sample "$V" --n 40 --idx "$TMP/v" $T1
mkdir -p "$TMP/gidx"
cp "$TMP/v-images-idx3-ubyte" "$TMP/gidx/train-images-idx3-ubyte"
cp "$TMP/g-images-idx3-ubyte" "$TMP/gidx/t10k-images-idx3-ubyte"
expect_ok "train on what sample wrote (IDX read back)" $NG train ae --data "$TMP/gidx" --out "$TMP/gae" --epochs 1 --hidden 16 --latent 2 $T1
check "  40 train / 12 test pictures" grep -q "40 train / 12 test" "$OUT"
expect_ok "score unlabelled pictures" $NG score "$TMP/gae" --csv "$TMP/u.csv" $T1
check "  CSV index,score" sh -c "[ \"\$(head -n 1 '$TMP/u.csv')\" = index,score ] && [ \$(wc -l < '$TMP/u.csv') -eq 13 ]"
expect_fail "--positive-class on unlabelled data" "has no labels" $NG score "$TMP/gae" --positive-class 1 $T1
expect_fail "--exclude-class on unlabelled data" "has no labels" $NG train ae --data "$TMP/gidx" --out "$TMP/x" --epochs 1 --exclude-class 1 $T1
expect_fail "sample ae --out-dir: no prior" "N(0,1) prior" $NG sample "$A" --n 3 --out-dir "$TMP/x" $T1
check "  nothing written" test ! -e "$TMP/x"
run $NG sample "$V" --n 3 --out-dir "$TMP/x" --out "$TMP/x.png" $T1; rc=$?
check "--out-dir with --out: exit 2" sh -c "[ $rc -eq 2 ] && [ ! -e '$TMP/x' ]"
run $NG sample "$V" --n 3 --out-dir "$TMP/x" --idx "$TMP/x" $T1; rc=$?
check "--out-dir with --idx: exit 2" test $rc -eq 2
expect_ok "an RGB model from a picture folder" $NG train vae --data "$TMP/gen" --channels 3 --out "$TMP/rgb" --epochs 1 --hidden 16 --latent 3 $T1
expect_fail "sample an RGB model --idx: IDX holds grey pictures" "3-channel" $NG sample "$TMP/rgb" --n 3 --idx "$TMP/x" $T1
expect_ok "reconstruct a grey picture with the RGB model (channels converted)" $NG reconstruct "$TMP/rgb" --in "$P/grey.png" --out "$TMP/rgbrec.png" $T1
check "  says 3x28x28" grep -q "at 3x28x28" "$OUT"
expect_ok "sample RGB --out-dir" $NG sample "$TMP/rgb" --n 2 --out-dir "$TMP/rgbgen" $T1
expect_fail "sample --out-dir from a missing checkpoint" "no checkpoint" $NG sample "$TMP/nothing" --n 2 --out-dir "$TMP/x" $T1

# ---------------------------------------------------------------- Fashion-MNIST: classes by name
if [ -d /usr/share/datasets/fashion-mnist ]; then
    expect_ok "train ae on Fashion-MNIST --exclude-class sneaker (any case)" \
        $NG train ae --data fashion-mnist --out "$TMP/fm" --epochs 1 --max-batches 2 --hidden 16 --latent 2 --exclude-class sneaker $T1
    check "  54000 train pictures" grep -q "54000 train / 10000 test" "$OUT"
    expect_ok "score it --positive-class Bag" $NG score "$TMP/fm" --positive-class Bag $T1
    check "  finding class 8 (Bag); Sneaker marked as left out" sh -c "grep -q 'finding class 8 (Bag)' '$OUT' && grep -q '\* 7   Sneaker' '$OUT'"
    expect_fail "--exclude-class Shoe" "7 Sneaker" $NG train ae --data fashion-mnist --out "$TMP/x" --epochs 1 --exclude-class Shoe $T1
else
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "class names" 5
fi
finish
