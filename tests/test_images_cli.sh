#!/bin/sh
# tests/test_images_cli.sh - the commands on trained image models, end to end:
#   nanogen sample DIR --out grid.png | --manifold | --scatter, nanogen interpolate, nanogen eval.
# Trains tiny models (a VAE with a 2-D latent, an AE, a DAE, a GAN: a few batches each, one
# thread), then checks every picture's size (PNG IHDR) against the grid layout
# (cols * (28 * zoom + 2) + 2), the SVG scatter, the eval lines, that the same seed gives the
# same file, and the error cases (a clear "nanogen: ..." line, exit code below 128, no file).
# Needs Fashion-MNIST (/usr/share/datasets/fashion-mnist, or $NG_FASHION: a folder of IDX files).
NAME=tests/test_images_cli.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

DATA=${NG_FASHION:-fashion-mnist}
if [ -z "$NG_FASHION" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "all of it (or set NG_FASHION)"; finish
fi

# cells N ZOOM: pixels of N 28x28 cells with a 2-pixel border
cells() { echo $(($1 * (28 * $2 + 2) + 2)); }
# first_test_images GRID IDX_DIR: the top row of a per-epoch reconstruction picture (8 columns at
# zoom 2) shows the first 8 test images of the IDX folder (t10k-images-idx3-ubyte[.gz]), pixel for pixel
first_test_images() {
    "$PY" - "$1" "$2" <<'PYEOF'
import gzip, os, struct, sys, zlib
def png_pixels(path):   # grey or RGB 8-bit PNG -> w, h, channels, rows of bytes (filters undone)
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(b):
        n, t = struct.unpack(">I4s", b[pos:pos + 8]); d = b[pos + 8:pos + 8 + n]; pos += 12 + n
        if t == b"IHDR": w, h, depth, ct = struct.unpack(">IIBB", d[:10])
        elif t == b"IDAT": idat += d
    c = {0: 1, 2: 3}[ct]; raw = zlib.decompress(idat); stride = w * c; rows = []; prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]; line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - c] if i >= c else 0; up = prev[i]; ul = prev[i - c] if i >= c else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + up) & 255
            elif f == 3: line[i] = (line[i] + (a + up) // 2) & 255
            elif f == 4:
                p = a + up - ul; pa, pb, pc = abs(p - a), abs(p - up), abs(p - ul)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        rows.append(line); prev = line
    return w, h, c, rows
w, h, c, rows = png_pixels(sys.argv[1])
f = os.path.join(sys.argv[2], "t10k-images-idx3-ubyte")
raw = gzip.open(f + ".gz").read() if os.path.exists(f + ".gz") else open(f, "rb").read()
n, H, W = struct.unpack(">III", raw[4:16])
assert w == 8 * (2 * W + 2) + 2, "%d px wide: not 8 columns" % w
for i in range(8):
    img = raw[16 + i * H * W:16 + (i + 1) * H * W]
    x0 = 2 + i * (2 * W + 2)
    diff = max(abs(rows[2 + 2 * y][x0 + 2 * x] - img[y * W + x]) for y in range(H) for x in range(W))
    assert diff <= 1, "column %d is not test image %d (max difference %d)" % (i, i, diff)
PYEOF
}

V=$TMP/vae; A=$TMP/ae; D=$TMP/dae; G=$TMP/gan; X=$TMP/text
T1="--threads 1"
expect_ok "train vae --latent 2 (20 batches)" $NG train vae --data "$DATA" --out "$V" --epochs 1 --max-batches 20 --latent 2 $T1
expect_ok "train ae (20 batches)" $NG train ae --data "$DATA" --out "$A" --epochs 1 --max-batches 20 $T1
# 10000 test images go through the evaluation in batches of 1000: the picture shows the first
# batch's first 8 (it showed the last batch's, images 9000 to 9007)
check "train ae: the per-epoch reconstructions show the first 8 test images" \
    first_test_images "$A/samples/reconstructions_001.png" "${NG_FASHION:-/usr/share/datasets/fashion-mnist}"
expect_ok "train dae, mask noise (20 batches)" $NG train dae --data "$DATA" --out "$D" --epochs 1 --max-batches 20 --noise mask:0.5 $T1
expect_ok "train gan (5 batches)" $NG train gan --data "$DATA" --out "$G" --epochs 1 --max-batches 5 $T1
head -c 20000 include/nanogen.h > "$TMP/text.txt"
# every character a temporary path can hold, so that a path used as a prompt below is in the vocabulary
echo "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 /._-" >> "$TMP/text.txt"
expect_ok "train bigram (a text model for the error cases)" $NG train bigram --data "$TMP/text.txt" --out "$X" --steps 2 --eval-every 1 --eval-iters 1 $T1

# ------------------------------------------------------------------ info
if expect_ok "info vae" $NG info "$V"; then
    check "info vae: kind, pictures, latent" grep -q "^config      pictures 1x28x28, hidden 400, latent 2, beta 1" "$OUT"
    check "info vae: parameters" grep -q "^parameters  [0-9]" "$OUT"
    check "info vae: epoch 1 of 1 on the data" grep -q "^training    epoch 1 of 1, data $DATA" "$OUT"
    check "info vae: the history of its losses" sh -c 'grep -q "^history     epoch .*train_loss .*test_loss" "$1" && grep -Eq "^ +1 +[0-9.]+ +[0-9.]+$" "$1"' sh "$OUT"
fi
if expect_ok "info gan" $NG info "$G"; then
    check "info gan: generator and discriminator sizes" grep -q "^parameters  [0-9]* (generator [0-9]*, discriminator [0-9]*)" "$OUT"
    check "info gan: d_loss and g_loss history" grep -q "^history     epoch .*d_loss .*g_loss" "$OUT"
fi

# ------------------------------------------------------------------ sample
if expect_ok "sample vae: 16 samples from the prior" $NG sample "$V" --out "$TMP/v.png" --n 16 --ncol 4 --zoom 1 --seed 5 $T1; then
    check "sample vae: 4x4 grid of 28x28 ($(cells 4 1) px square)" size_is "$TMP/v.png" "$(cells 4 1)" "$(cells 4 1)"
fi
run $NG sample "$V" --out "$TMP/v2.png" --n 16 --ncol 4 --zoom 1 --seed 5 $T1
check "sample vae: the same seed gives the same picture" cmp -s "$TMP/v.png" "$TMP/v2.png"
run $NG sample "$V" --out "$TMP/v3.png" --n 16 --ncol 4 --zoom 1 --seed 6 $T1
check "sample vae: another seed, another picture" sh -c '! cmp -s "$1" "$2"' sh "$TMP/v.png" "$TMP/v3.png"
if expect_ok "sample gan: 6 samples, 3 columns, zoom 2" $NG sample "$G" --out "$TMP/g.png" --n 6 --ncol 3 --seed 1 $T1; then
    check "sample gan: 3x2 grid at zoom 2" size_is "$TMP/g.png" "$(cells 3 2)" "$(cells 2 2)"
fi
if expect_ok "sample ae: reconstructions of 8 test images" $NG sample "$A" --out "$TMP/a.png" --n 8 --ncol 4 --zoom 1 $T1; then
    check "sample ae: 2 groups of originals | reconstructions (4 rows)" size_is "$TMP/a.png" "$(cells 4 1)" "$(cells 4 1)"
fi
if expect_ok "sample dae: reconstructions with the noisy inputs" $NG sample "$D" --out "$TMP/d.png" --n 8 --ncol 4 --zoom 1 --seed 3 $T1; then
    check "sample dae: 2 groups of originals | noisy | reconstructions (6 rows)" size_is "$TMP/d.png" "$(cells 4 1)" "$(cells 6 1)"
fi
run $NG sample "$D" --out "$TMP/d2.png" --n 8 --ncol 4 --zoom 1 --seed 3 $T1
check "sample dae: the same seed gives the same noise and picture" cmp -s "$TMP/d.png" "$TMP/d2.png"
if expect_ok "sample --manifold: 2-D vae, 6x6" $NG sample "$V" --manifold --out "$TMP/m.png" --n 6 $T1; then
    check "sample --manifold: 6x6 grid at zoom 1" size_is "$TMP/m.png" "$(cells 6 1)" "$(cells 6 1)"
fi
if expect_ok "sample --scatter: 2-D latent means of 2000 test images" $NG sample "$V" --scatter --out "$TMP/v.svg" --n 2000 $T1; then
    check "sample --scatter: an SVG with the Fashion-MNIST class names" sh -c 'grep -q "<svg" "$1" && grep -q "Ankle boot" "$1" && grep -q "T-shirt/top" "$1"' sh "$TMP/v.svg"
    check "sample --scatter: no PCA for a 2-D latent" sh -c '! grep -q PCA "$1"' sh "$TMP/v.svg"
fi
if expect_ok "sample --scatter: 20-D ae codes" $NG sample "$A" --scatter --out "$TMP/a.svg" --n 1000 $T1; then
    check "sample --scatter: a 20-D latent is projected with PCA (said in the title)" grep -q "PCA of 20-D to 2-D" "$TMP/a.svg"
fi

# ------------------------------------------------------------------ interpolate
if expect_ok "interpolate vae: 3 walks of 5 frames" $NG interpolate "$V" --out "$TMP/w.png" --frames 5 --rows 3 --zoom 1 --seed 2 $T1; then
    check "interpolate vae: 5x3 grid" size_is "$TMP/w.png" "$(cells 5 1)" "$(cells 3 1)"
fi
run $NG interpolate "$V" --out "$TMP/w2.png" --frames 5 --rows 3 --zoom 1 --seed 2 $T1
check "interpolate: the same seed gives the same picture" cmp -s "$TMP/w.png" "$TMP/w2.png"
if expect_ok "interpolate vae --from-test" $NG interpolate "$V" --from-test --out "$TMP/wt.png" --frames 5 --rows 3 --zoom 1 $T1; then
    check "interpolate vae --from-test: the two test images at the ends (7 columns)" size_is "$TMP/wt.png" "$(cells 7 1)" "$(cells 3 1)"
fi
if expect_ok "interpolate ae: between test codes" $NG interpolate "$A" --out "$TMP/wa.png" --frames 4 --rows 2 --zoom 1 $T1; then
    check "interpolate ae: 6x2 grid" size_is "$TMP/wa.png" "$(cells 6 1)" "$(cells 2 1)"
fi
if expect_ok "interpolate gan: between random latents" $NG interpolate "$G" --out "$TMP/wg.png" --frames 4 --rows 2 --zoom 1 $T1; then
    check "interpolate gan: 4x2 grid" size_is "$TMP/wg.png" "$(cells 4 1)" "$(cells 2 1)"
fi

# ------------------------------------------------------------------ eval
if expect_ok "eval vae" $NG eval "$V" $T1; then
    cp "$OUT" "$TMP/e1"
    check "eval vae: negative ELBO in nats per image on the 10000 test images" \
        grep -Eq "^vae: test loss [0-9]+\.[0-9]+ nats per image \(negative ELBO\) on 10000 test images" "$OUT"
fi
if expect_ok "eval ae" $NG eval "$A" $T1; then
    check "eval ae: test loss per image" grep -Eq "^ae: test loss [0-9]+\.[0-9]+ nats per image" "$OUT"
fi
if expect_ok "eval dae" $NG eval "$D" $T1; then
    check "eval dae: test loss per image" grep -Eq "^dae: test loss [0-9]+\.[0-9]+ nats per image" "$OUT"
fi
if expect_ok "eval gan" $NG eval "$G" --n 200 $T1; then
    check "eval gan: D's mean output on real images and on samples" grep -Eq "^gan: mean D\(x\) 0\.[0-9]+ on 10000 real .* D\(G\(z\)\) [01]\.[0-9]+ on 200 samples" "$OUT"
fi
if run $NG train classifier --data "$DATA" --out "$TMP/clf" --epochs 1 --max-batches 3 $T1; then   # FID: src/cli/fid.c
    if expect_ok "eval gan --classifier: the classifier FID" $NG eval "$G" --classifier "$TMP/clf" --n 100 $T1; then
        check "eval gan --classifier: prints D's outputs and the FID" sh -c 'grep -q "D(x)" "$1" && grep -q "FID" "$1"' sh "$OUT"
    fi
fi
expect_fail "eval vae --classifier: FID is for a GAN" "GAN" $NG eval "$V" --classifier "$TMP/clf"
run $NG eval "$V" $T1
check "eval vae: the same seed gives the same loss" cmp -s "$OUT" "$TMP/e1"

# ------------------------------------------------------------------ errors
expect_fail "sample --manifold of a text checkpoint" "text model" $NG sample "$X" --manifold --out "$TMP/e.png"
expect_fail "sample --out of a text checkpoint" "text model" $NG sample "$X" --out "$TMP/e.png"
expect_fail "sample --manifold of a 100-D latent names --latent 2" "--latent 2" $NG sample "$G" --manifold --out "$TMP/e.png"
expect_fail "sample --manifold of an ae (no prior)" "prior" $NG sample "$A" --manifold --out "$TMP/e.png"
expect_fail "sample --scatter of a gan (no encoder)" "encoder" $NG sample "$G" --scatter --out "$TMP/e.svg"
expect_fail "interpolate gan --from-test (no encoder)" "encoder" $NG interpolate "$G" --from-test --out "$TMP/e.png"
expect_fail "sample: --out in a missing directory" "cannot write" $NG sample "$V" --out "$TMP/no/such/dir/e.png"
mkdir "$TMP/dir.png"
expect_fail "sample: --out is a directory" "is a directory" $NG sample "$V" --out "$TMP/dir.png"
expect_fail "sample: --scatter wants an .svg name" ".svg" $NG sample "$V" --scatter --out "$TMP/e.png"
expect_fail "interpolate: --out in a missing directory" "cannot write" $NG interpolate "$V" --out "$TMP/no/e.png"
expect_fail "sample: --n 0" "--n" $NG sample "$V" --out "$TMP/e.png" --n 0
expect_fail "interpolate: --frames 1" "--frames" $NG interpolate "$V" --out "$TMP/e.png" --frames 1
expect_fail "sample: missing checkpoint" "no checkpoint" $NG sample "$TMP/none" --out "$TMP/e.png"
expect_fail "interpolate: missing checkpoint" "no checkpoint" $NG interpolate "$TMP/none" --out "$TMP/e.png"
expect_fail "eval: missing checkpoint" "no checkpoint" $NG eval "$TMP/none"
expect_fail "eval: a text checkpoint without --data asks for it" "--data" $NG eval "$X"
expect_fail "sample: --out is required" "--out" $NG sample "$V" --n 4
check "errors: no picture was written" sh -c '! ls "$1"/e.png "$1"/e.svg 2>/dev/null | grep -q .' sh "$TMP"
if expect_ok "sample: a text model still samples text" $NG sample "$X" --tokens 20 --seed 1; then
    check "sample: text model prints text" test "$(wc -c < "$OUT")" -ge 10
fi
if expect_ok "sample: a text model with a prompt that names an image checkpoint" $NG sample "$X" --prompt "$V" --tokens 5 --seed 1; then
    check "sample: ... is text sampling" grep -qF "$V" "$OUT"
fi
finish
