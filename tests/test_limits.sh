#!/bin/sh
# tests/test_limits.sh - absurd or hostile sizes are refused up front with a clear message
# naming the flag (or what the job would need and what the machine has), a non-zero exit below
# 128, nothing written and no existing checkpoint touched: zero, negative and huge sizes,
# n_embd not divisible by n_head, a block size over the trained one, models, batches,
# evaluations, sample streams and picture grids that cannot fit, and checkpoints whose config
# asks for far more than their tensors hold. Memory limits are made deterministic with
# ulimit -v (nanogen's memory probe honours it).
NAME=tests/test_limits.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
X=$TMP/never   # no refused command may create it
nothing_written() { check "$1: ... nothing written" test ! -e "$X"; }
# $LIM KB cmd...: run cmd under an address-space limit of KB kilobytes. Sanitized runs (make test
# SANITIZE=1) cannot take one (ASan reserves terabytes of shadow address space at start): there the
# limit is a safety net dropped, and the checks that need it to fire are skipped (limit_needed).
LIM=$TMP/limited
if [ "${NANOGEN_SANITIZE:-}" = 1 ]; then
    printf '#!/bin/sh\nshift && exec "$@"\n' > "$LIM"
else
    printf '#!/bin/sh\nulimit -v "$1" && shift && exec "$@"\n' > "$LIM"
fi
chmod +x "$LIM"
limit_needed() { [ "${NANOGEN_SANITIZE:-}" != 1 ] || { skip "no address-space limit (ulimit -v) under SANITIZE=1: ASan reserves terabytes" "$1"; return 1; }; }

# ------------------------------------------------------------------ train gpt / bigram: flags
TINY="--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8"
for f in "--n-layer 0" "--n-layer -3" "--n-layer 1000000" "--n-head 0" "--n-embd 0" "--n-embd -64" "--n-embd 1000000" \
         "--block-size 0" "--block-size 2000000000" "--batch-size 0" "--batch-size -1" "--batch-size 1000000000" \
         "--steps -1" "--eval-iters 0" "--log-every 0" "--vocab-size 1" "--threads -1" "--warmup -5" "--eval-every -1"; do
    expect_fail "train gpt $f" "${f%% *}" $NG train gpt --data "$SH" --out "$X" $f
done
nothing_written "train gpt: bad flags"
expect_fail "train gpt: --n-embd 48 --n-head 5 (not divisible)" "divisible" $NG train gpt --data "$SH" --out "$X" --n-embd 48 --n-head 5
expect_fail "train gpt: --n-head 64 over --n-embd 32" "divisible" $NG train gpt --data "$SH" --out "$X" --n-embd 32 --n-head 64
expect_fail "train bigram: --block-size 0" "--block-size" $NG train bigram --data "$SH" --out "$X" --block-size 0
# sizes within each flag's range, but a model that cannot fit in this machine
expect_fail "train gpt: --n-layer 64 --n-embd 8192 (51G parameters)" "memory" $NG train gpt --data "$SH" --out "$X" --n-layer 64 --n-embd 8192 --n-head 8
check "train gpt: ... says how much it needs and how much there is" sh -c 'grep -q "needs about .* GiB.* only .* GiB" "$1"' sh "$ERR"
check "train gpt: ... before any step" sh -c '! grep -q "^step " "$1"' sh "$OUT"
expect_fail "train gpt: batch 1000000 x block 256 (activations)" "memory" $NG train gpt --data "$SH" --out "$X" --batch-size 1000000 --block-size 256
nothing_written "train gpt: too big"
limit_needed "train gpt under ulimit -v" && expect_fail "train gpt: tiny model, batch 20000, under ulimit -v 1.5 GB" "memory" "$LIM" 1500000 $NG train gpt --data "$SH" --out "$X" $TINY --batch-size 20000 --threads 1
nothing_written "train gpt: over the address-space limit"

# an existing checkpoint is never touched by a refused run, --force or --resume included
M=$TMP/m
expect_ok "train gpt: a tiny checkpoint" $NG train gpt --data "$SH" --out "$M" $TINY --steps 4 --eval-every 0 --eval-iters 1 --threads 1
cp -r "$M" "$TMP/m.bak"
expect_fail "train gpt --force over it: a model too big" "memory" $NG train gpt --data "$SH" --out "$M" --force --n-layer 64 --n-embd 8192 --n-head 8
limit_needed "train --resume under ulimit -v" && expect_fail "train --resume with --batch-size 20000 under ulimit -v 1.5 GB" "memory" "$LIM" 1500000 $NG train --resume "$M" --batch-size 20000 --steps 8 --threads 1
expect_fail "train --resume --batch-size 0" "--batch-size" $NG train --resume "$M" --batch-size 0
check "train: ... the checkpoint, optimizer and metrics are unchanged" diff -r "$M" "$TMP/m.bak"
# edit_state SRC DST JSON: a copy of checkpoint SRC whose saved training state has JSON's keys changed
edit_state() {
    rm -rf "$2"; cp -r "$1" "$2"
    "$PY" - "$2/model.safetensors" "$3" <<'EOF'
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
t = json.loads(h["__metadata__"]["train"]); t.update(json.loads(sys.argv[2])); h["__metadata__"]["train"] = json.dumps(t)
hj = json.dumps(h).encode(); hj += b" " * (-len(hj) % 8)
open(p, "wb").write(struct.pack("<Q", len(hj)) + hj + b[8 + n:])
EOF
}
# a saved training state is checked as the flags are (an edited or damaged file is not trusted)
for st in '{"warmup": -5}' '{"lr": 50}' '{"grad_clip": -1}' '{"log_every": 0}'; do
    edit_state "$M" "$TMP/ms" "$st"
    cp -r "$TMP/ms" "$TMP/ms.bak"
    k=${st#*\"}; k=${k%%\"*}
    expect_fail "train --resume: a training state with $st is refused" "$k =" $NG train --resume "$TMP/ms" --steps 8 --threads 1
    check "train --resume: ... the checkpoint is unchanged" diff -r "$TMP/ms" "$TMP/ms.bak"
    rm -rf "$TMP/ms.bak"
done

# ------------------------------------------------------------------ sample / eval
expect_fail "eval: --block-size 64 over the trained 32" "exceeds" $NG eval "$M" --data "$SH" --block-size 64
expect_fail "eval: --block-size 0" "--block-size" $NG eval "$M" --data "$SH" --block-size 0
expect_fail "eval: --batch-size 0" "--batch-size" $NG eval "$M" --data "$SH" --batch-size 0
expect_fail "eval: --batch-size 1000000" "--batch-size" $NG eval "$M" --data "$SH" --batch-size 1000000
expect_fail "sample: --tokens -1" "--tokens" $NG sample "$M" --tokens -1
expect_fail "sample: --num-samples 1000000" "--num-samples" $NG sample "$M" --num-samples 1000000
expect_fail "sample: --top-k -1" "--top-k" $NG sample "$M" --top-k -1
expect_fail "sample: --threads -2" "--threads" $NG sample "$M" --threads -2
# hand-made checkpoints: a GPT with a block size of 65536 (legal, 8 MB), and configs asking for
# far more parameters than the file's tensors hold
mkdir -p "$TMP/long" "$TMP/h1" "$TMP/h2"
"$PY" - "$M/model.safetensors" "$TMP" <<'EOF'
import json, struct, sys
src, d = sys.argv[1], sys.argv[2]
b = open(src, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); data = b[8 + n:]
def write(path, header, data):
    hj = json.dumps(header).encode(); hj += b" " * (-len(hj) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hj)) + hj + data)
def with_config(**kw):
    x = json.loads(json.dumps(h)); c = json.loads(x["__metadata__"]["config"]); c.update(kw)
    x["__metadata__"]["config"] = json.dumps(c); x["__metadata__"].pop("train", None); return x
write(d + "/h1/model.safetensors", with_config(n_layer=1024, n_embd=65536, n_head=1024), data)
write(d + "/h2/model.safetensors", with_config(n_layer=8, n_embd=4096, n_head=32), data)   # 1.6G parameters
# block size 65536: wpe grows to 65536 x 32 (zeros after the trained rows)
T = 65536; x = with_config(block_size=T); e = x["wpe.weight"]; b0, b1 = e["data_offsets"]; grow = (T - e["shape"][0]) * e["shape"][1] * 4
e["shape"][0] = T; e["data_offsets"] = [b0, b1 + grow]
for k, v in x.items():
    if k != "__metadata__" and v["data_offsets"][0] >= b1: v["data_offsets"] = [v["data_offsets"][0] + grow, v["data_offsets"][1] + grow]
write(d + "/long/model.safetensors", x, data[:b1] + bytes(grow) + data[b1:])
EOF
for h in h1 h2; do
    expect_fail "info: a config asking for far more parameters than the file holds ($h)" "does not match" "$LIM" 3000000 $NG info "$TMP/$h"
    expect_fail "sample: ... ($h)" "does not match" "$LIM" 3000000 $NG sample "$TMP/$h" --tokens 5
done
expect_ok "sample: a model with block size 65536 (short prompt)" $NG sample "$TMP/long" --tokens 5 --threads 1
expect_fail "eval: block 65536 x batch 16 does not fit (attention maps)" "memory" $NG eval "$TMP/long" --data "$SH"
check "eval: ... says how much it needs" grep -q "needs about" "$ERR"
expect_ok "eval: ... with --block-size 64 it runs" $NG eval "$TMP/long" --data "$SH" --block-size 64 --threads 1
expect_fail "sample --batch: 65536 streams of a 65536-token cache do not fit" "available" $NG sample "$TMP/long" --batch --num-samples 65536 --tokens 1

# ------------------------------------------------------------------ image models
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    for f in "--hidden 0" "--hidden 1000000" "--latent 0" "--latent -2" "--batch-size 0" "--batch-size 100000000" \
             "--epochs -1" "--image-size 3" "--channels 2" "--lr -1" "--max-batches -1"; do
        expect_fail "train vae $f" "${f%% *}" $NG train vae --data fashion-mnist --out "$X" $f
    done
    expect_fail "train vae: --hidden 30000 --latent 30000 (2.7G parameters)" "memory" $NG train vae --data fashion-mnist --out "$X" --hidden 30000 --latent 30000
    check "train vae: ... says how much it needs and how much there is" sh -c 'grep -q "needs about .* GiB.* only .* GiB" "$1"' sh "$ERR"
    limit_needed "train gan under ulimit -v" && expect_fail "train gan: --batch-size 60000 under ulimit -v 1.5 GB" "memory" "$LIM" 1500000 $NG train gan --data fashion-mnist --out "$X" --batch-size 60000 --threads 1
    nothing_written "train vae/gan: too big"
    V=$TMP/v
    expect_ok "train vae: a tiny checkpoint" $NG train vae --data fashion-mnist --out "$V" --epochs 1 --max-batches 2 --batch-size 16 --threads 1
    expect_fail "sample vae: --n 0" "--n" $NG sample "$V" --out "$TMP/s.png" --n 0
    expect_fail "sample vae: --zoom 0" "--zoom" $NG sample "$V" --out "$TMP/s.png" --zoom 0
    expect_fail "sample vae: 100000 pictures at zoom 32: refused before decoding" "pixels" $NG sample "$V" --out "$TMP/s.png" --n 100000 --zoom 32
    expect_fail "interpolate: --frames 1" "--frames" $NG interpolate "$V" --out "$TMP/s.png" --frames 1
    expect_fail "interpolate: --rows 0" "--rows" $NG interpolate "$V" --out "$TMP/s.png" --rows 0
    expect_fail "interpolate: 1000 x 1000 walks: refused before decoding" "pixels" "$LIM" 3000000 $NG interpolate "$V" --out "$TMP/s.png" --frames 1000 --rows 1000
    check "sample / interpolate: no picture written" test ! -e "$TMP/s.png"
    mkdir -p "$TMP/vh"
    "$PY" - "$V/model.safetensors" "$TMP/vh/model.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
c = json.loads(h["__metadata__"]["image_config"]); c["hidden"] = 60000; c["latent"] = 60000
h["__metadata__"]["image_config"] = json.dumps(c)
hj = json.dumps(h).encode(); hj += b" " * (-len(hj) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hj)) + hj + b[8 + n:])
EOF
    expect_fail "sample vae: an image config asking for far more than the file holds" "does not match" "$LIM" 3000000 $NG sample "$TMP/vh" --out "$TMP/s.png"
    for st in '{"beta2": 1.0}' '{"image_size": -5}' '{"noise_mask": 7}' '{"batch": 3, "seen": -1, "sums": [0, 0, 0, 0, 0, 0], "rng_epoch": ["1", "2", "3", "4"]}'; do
        edit_state "$V" "$TMP/vs" "$st"
        cp -r "$TMP/vs" "$TMP/vs.bak"
        expect_fail "train --resume vae: a training state with $st is refused" "training state is invalid" $NG train --resume "$TMP/vs" --epochs 2 --threads 1
        check "train --resume vae: ... the checkpoint is unchanged" diff -r "$TMP/vs" "$TMP/vs.bak"
        rm -rf "$TMP/vs.bak"
    done
    edit_state "$V" "$TMP/vs" '{"epoch": 0, "batch": 50, "seen": 800, "sums": [0, 0, 0, 0, 0, 0], "rng_epoch": ["1", "2", "3", "4"]}'
    cp -r "$TMP/vs" "$TMP/vs.bak"
    expect_fail "train --resume vae: stopped at batch 51 of an epoch of 2 batches" "an epoch has 2 batches" $NG train --resume "$TMP/vs" --threads 1
    check "train --resume vae: ... the checkpoint is unchanged" diff -r "$TMP/vs" "$TMP/vs.bak"
else
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "image models"
fi
finish
