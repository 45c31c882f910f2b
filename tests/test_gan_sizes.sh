#!/bin/sh
# tests/test_gan_sizes.sh - the DCGAN at every size it supports, on a folder of pictures:
# 30 small PNGs of coloured shapes (written here with python3's zlib/struct) train
#   --image-size 32 --channels 3 (base 8x8, two stages), --image-size 64 --channels 1 (three
#   stages: G.up3, D.c3, D.bn3) and --image-size 28 (SPEC.md's net: its names and 910,658
#   parameters, G and D), one epoch of one batch each; then sample / interpolate / eval write
# grids of the right size and colour type; the checkpoint's tensor names and shapes are read
# from its safetensors header; other sizes and the 28x28-only FID fail with a clear message.
NAME=tests/test_gan_sizes.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh


# 30 pictures 40x40 RGB: a disc or a square of one of 5 colours on a dark background
PICS=$TMP/pics
mkdir -p "$PICS"
"$PY" - "$PICS" <<'PYEOF' || bad "pictures" "python3 could not write the PNGs"
import sys
sys.path.insert(0, "tests")
from pngwrite import png
cols = [(230, 40, 40), (40, 200, 60), (50, 80, 230), (240, 220, 40), (200, 60, 220)]
for i in range(30):
    W = 40; cx, cy, r = 12 + (i * 7) % 16, 12 + (i * 11) % 16, 6 + i % 5
    col = cols[i % 5]
    rows = []
    for y in range(W):
        row = []
        for x in range(W):
            inside = (x - cx) ** 2 + (y - cy) ** 2 <= r * r if i % 2 else abs(x - cx) <= r and abs(y - cy) <= r
            row += col if inside else (20, 20, 30)
        rows.append(row)
    png("%s/pic%02d.png" % (sys.argv[1], i), W, W, rows, rgb=True)
PYEOF

# png_info FILE -> "W H COLOURTYPE" from the IHDR chunk (empty if not a PNG)
png_info() {
    "$PY" -c 'import struct, sys
b = open(sys.argv[1], "rb").read(26)
assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
print("%d %d %d" % (struct.unpack(">II", b[16:24]) + (b[25],)))' "$1" 2>/dev/null
}
# info_is FILE W H TYPE (PNG colour type 0 grey, 2 RGB)
info_is() { [ "$(png_info "$1")" = "$2 $3 $4" ]; }
# numel_is DIR G D: the generator and discriminator parameter counts
numel_is() { [ "$(numel "$1" G.)" = "$2" ] && [ "$(numel "$1" D.)" = "$3" ]; }
# cells N SIZE ZOOM: pixels of N cells of SIZE px with a 2-pixel border
cells() { echo $(($1 * ($2 * $3 + 2) + 2)); }
# names DIR: "name shape" per tensor of DIR/model.safetensors, sorted
names() {
    "$PY" -c 'import json, struct, sys
f = open(sys.argv[1] + "/model.safetensors", "rb")
n = struct.unpack("<Q", f.read(8))[0]
h = json.loads(f.read(n))
for k in sorted(h):
    if k != "__metadata__": print(k, "x".join(str(d) for d in h[k]["shape"]))' "$1"
}
# names_are DIR "EXPECTED": the sorted "name shape" list, joined by spaces
names_are() { [ "$(names "$1" | tr '\n' ' ')" = "$2" ]; }
# numel DIR PREFIX: elements of the tensors whose names start with PREFIX, running statistics excluded
numel() {
    "$PY" -c 'import json, struct, sys
f = open(sys.argv[1] + "/model.safetensors", "rb")
h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
t = 0
for k, v in h.items():
    if k != "__metadata__" and k.startswith(sys.argv[2]) and "running_" not in k:
        p = 1
        for d in v["shape"]: p *= d
        t += p
print(t)' "$1" "$2"
}

T1="--threads 1"
G32=$TMP/g32; G64=$TMP/g64; G28=$TMP/g28

# ------------------------------------------------------------------ 32x32 RGB
if expect_ok "train gan --image-size 32 --channels 3 (one epoch)" $NG train gan --data "$PICS" --out "$G32" --image-size 32 --channels 3 --epochs 1 $T1; then
    check "train gan 32x32x3: 27 train / 3 test pictures of 3x32x32" grep -q "27 train / 3 test images 3x32x32" "$OUT"
    check "train gan 32x32x3: 1,112,516 parameters (G and D)" grep -q "^gan: 1112516 parameters" "$OUT"
    check "train gan 32x32x3: '1 thread', not '1 threads', in its summary line" grep -q "^gan: .*, 1 thread\$" "$OUT"
    check "train gan 32x32x3: an RGB sample grid per epoch (8x8 of 32 px)" info_is "$G32/samples/samples_001.png" "$(cells 8 32 2)" "$(cells 8 32 2)" 2
fi
if expect_ok "sample gan 32x32x3: 6 samples, 3 columns" $NG sample "$G32" --out "$TMP/s32.png" --n 6 --ncol 3 --zoom 1 --seed 1 $T1; then
    check "sample gan 32x32x3: a 3x2 RGB grid of 32 px cells" info_is "$TMP/s32.png" "$(cells 3 32 1)" "$(cells 2 32 1)" 2
fi
if expect_ok "interpolate gan 32x32x3: 2 walks of 4 frames" $NG interpolate "$G32" --out "$TMP/w32.png" --frames 4 --rows 2 --zoom 1 $T1; then
    check "interpolate gan 32x32x3: a 4x2 RGB grid" info_is "$TMP/w32.png" "$(cells 4 32 1)" "$(cells 2 32 1)" 2
fi
if expect_ok "eval gan 32x32x3: D on the 3 test pictures and 20 samples" $NG eval "$G32" --n 20 $T1; then
    check "eval gan 32x32x3: D's mean outputs" grep -Eq "^gan: mean D\(x\) [01]\.[0-9]+ on 3 real test images, mean D\(G\(z\)\) [01]\.[0-9]+ on 20 samples" "$OUT"
fi
expect_fail "eval gan 32x32x3 --classifier: the FID is for 28x28 grey GANs" "28x28 grey" $NG eval "$G32" --classifier "$G32" --n 20 $T1
check "names 32x32x3: SPEC.md's names, base 8x8, c = 3" names_are "$G32" \
    "D.bn2.bias 128 D.bn2.running_mean 128 D.bn2.running_var 128 D.bn2.weight 128 D.c1.bias 64 D.c1.weight 64x3x4x4 D.c2.weight 128x64x4x4 D.fc.bias 1 D.fc.weight 1x8192 G.bn0.bias 8192 G.bn0.running_mean 8192 G.bn0.running_var 8192 G.bn0.weight 8192 G.bn1.bias 64 G.bn1.running_mean 64 G.bn1.running_var 64 G.bn1.weight 64 G.fc.weight 8192x100 G.up1.weight 128x64x4x4 G.up2.bias 3 G.up2.weight 64x3x4x4 "

# ------------------------------------------------------------------ 64x64 grey
if expect_ok "train gan --image-size 64 --channels 1 (one epoch)" $NG train gan --data "$PICS" --out "$G64" --image-size 64 --channels 1 --epochs 1 $T1; then
    check "train gan 64x64x1: 1x64x64 pictures, 3,001,538 parameters" sh -c 'grep -q "^gan: 3001538 parameters" "$1" && grep -q "images 1x64x64" "$1"' sh "$OUT"
fi
if expect_ok "sample gan 64x64x1: 4 samples" $NG sample "$G64" --out "$TMP/s64.png" --n 4 --ncol 2 --zoom 1 $T1; then
    check "sample gan 64x64x1: a 2x2 grey grid of 64 px cells" info_is "$TMP/s64.png" "$(cells 2 64 1)" "$(cells 2 64 1)" 0
fi
check "names 64x64x1: three stages (G.up3, G.bn2, D.c3, D.bn3), base 8x8" names_are "$G64" \
    "D.bn2.bias 128 D.bn2.running_mean 128 D.bn2.running_var 128 D.bn2.weight 128 D.bn3.bias 256 D.bn3.running_mean 256 D.bn3.running_var 256 D.bn3.weight 256 D.c1.bias 64 D.c1.weight 64x1x4x4 D.c2.weight 128x64x4x4 D.c3.weight 256x128x4x4 D.fc.bias 1 D.fc.weight 1x16384 G.bn0.bias 16384 G.bn0.running_mean 16384 G.bn0.running_var 16384 G.bn0.weight 16384 G.bn1.bias 128 G.bn1.running_mean 128 G.bn1.running_var 128 G.bn1.weight 128 G.bn2.bias 64 G.bn2.running_mean 64 G.bn2.running_var 64 G.bn2.weight 64 G.fc.weight 16384x100 G.up1.weight 256x128x4x4 G.up2.weight 128x64x4x4 G.up3.bias 1 G.up3.weight 64x1x4x4 "
check "numel 64x64x1: G 2,327,937 + D 673,601 parameters" numel_is "$G64" 2327937 673601

# ------------------------------------------------------------------ 28x28 grey: SPEC.md's DCGAN, unchanged
if expect_ok "train gan --image-size 28 (SPEC.md's net, one epoch)" $NG train gan --data "$PICS" --out "$G28" --image-size 28 --channels 1 --epochs 1 $T1; then
    check "train gan 28x28x1: 910,658 parameters (G and D), as before" grep -q "^gan: 910658 parameters" "$OUT"
fi
check "names 28x28x1: SPEC.md's state_dict, base 7x7, two stages" names_are "$G28" \
    "D.bn2.bias 128 D.bn2.running_mean 128 D.bn2.running_var 128 D.bn2.weight 128 D.c1.bias 64 D.c1.weight 64x1x4x4 D.c2.weight 128x64x4x4 D.fc.bias 1 D.fc.weight 1x6272 G.bn0.bias 6272 G.bn0.running_mean 6272 G.bn0.running_var 6272 G.bn0.weight 6272 G.bn1.bias 64 G.bn1.running_mean 64 G.bn1.running_var 64 G.bn1.weight 64 G.fc.weight 6272x100 G.up1.weight 128x64x4x4 G.up2.bias 1 G.up2.weight 64x1x4x4 "
check "numel 28x28x1: G 771,969 + D 138,689 = 910,658" numel_is "$G28" 771969 138689

# ------------------------------------------------------------------ errors
expect_fail "train gan --image-size 48: names the supported sizes" "28, 32 or 64" $NG train gan --data "$PICS" --out "$TMP/g48" --image-size 48 --epochs 1 $T1
expect_fail "train gan --image-size 16: names the supported sizes" "28, 32 or 64" $NG train gan --data "$PICS" --out "$TMP/g16" --image-size 16 --channels 3 --epochs 1 $T1
check "errors: no checkpoint for an unsupported size" sh -c '! [ -e "$1/g48/model.safetensors" ] && ! [ -e "$1/g16/model.safetensors" ]' sh "$TMP"
finish
