#!/bin/sh
# tests/test_numerics.sh - numerical faults end to end. A run that diverges (NaN/Inf in the loss
# or a gradient) stops with a message naming the step and the tensor, exits 1, and leaves the
# last checkpoint byte for byte as it was (and loadable); --detect-anomaly names the first op
# whose output or gradient went bad, e.g. the first op to use a weight poisoned with a NaN;
# with healthy numbers it changes nothing. GPT (char), VAE and GAN (Fashion-MNIST).
NAME=tests/test_numerics.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
head -c 100000 "$SH" > "$TMP/text.txt"
T=$TMP/text.txt
sums() { sha256sum "$1"/model.safetensors "$1"/optim.safetensors 2>/dev/null | cut -d' ' -f1 | tr '\n' ' '; }
# poison FILE TENSOR INDEX: write a NaN into element INDEX (flat) of a tensor of a safetensors file
poison() {
    "$PY" - "$@" <<'EOF'
import json, struct, sys
path, name, idx = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])[name]
assert t["dtype"] == "F32"
off = 8 + n + t["data_offsets"][0] + 4 * idx
b[off:off + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(b)
EOF
}
# the tensor data of two safetensors files are the same bytes (their metadata aside)
same_data() {
    "$PY" -c 'import struct, sys
def data(p):
    b = open(p, "rb").read(); return b[8 + struct.unpack("<Q", b[:8])[0]:]
sys.exit(0 if data(sys.argv[1]) == data(sys.argv[2]) else 1)' "$1" "$2"
}

G="--n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 4 --eval-iters 1 --threads 1 --no-final-eval --warmup 0"
# ---- a diverging GPT: --lr 10 with --weight-decay 10 multiplies the weights by -99 a step
D=$TMP/div
expect_ok "gpt: 5 steps at --lr 10 --weight-decay 10, checkpoint at step 5" \
    $NG train gpt --data "$T" --out "$D" $G --steps 5 --eval-every 5 --lr 10 --weight-decay 10
before=$(sums "$D")
expect_fail "gpt: resumed, it diverges and stops" "of 60: the gradient of|of 60: the loss is" \
    $NG train --resume "$D" --steps 60
check "gpt: the message names a step after 5 and a tensor" \
    grep -qE "^nanogen: step ([6-9]|[1-5][0-9]) of 60: (the gradient of [a-z_.0-9]+ has [0-9]+ (NaN|Inf)|the loss is (nan|inf))" "$ERR"
check "gpt: the message says the checkpoint of step 5 is kept" grep -qF "the checkpoint in $D (step 5) is kept" "$ERR"
after=$(sums "$D")
check "gpt: model and optimizer files unchanged (sha256)" [ -n "$before" ] && [ "$before" = "$after" ]
expect_ok "gpt: the kept checkpoint loads (info)" $NG info "$D"
check "gpt: it is the step-5 checkpoint" grep -qE "step +5 of" "$OUT"
expect_ok "gpt: the kept checkpoint samples" $NG sample "$D" --tokens 5 --seed 1
# the same run from scratch without evaluations: nothing saved before the fault
expect_fail "gpt: diverging from scratch" "no checkpoint was saved yet" \
    $NG train gpt --data "$T" --out "$TMP/div0" $G --steps 60 --eval-every 0 --lr 10 --weight-decay 10
check "gpt: no checkpoint written by the failed run" [ ! -e "$TMP/div0/model.safetensors" ]
# --detect-anomaly on the diverging run: an op is named, no later than the plain check
plain_step=$(sed -n 's/^nanogen: step \([0-9]*\) of.*/\1/p' "$ERR")
expect_fail "gpt: --detect-anomaly on the diverging run" "anomaly (--detect-anomaly) in the" \
    $NG train gpt --data "$T" --out "$TMP/div1" $G --steps 60 --eval-every 0 --lr 10 --weight-decay 10 --detect-anomaly
check "gpt: it names the pass and an op" grep -qE "in the (forward|backward) pass: op [0-9]+ of [0-9]+ \([a-z_]+" "$ERR"
anom_step=$(sed -n 's/^nanogen: step \([0-9]*\) of.*/\1/p' "$ERR")
check "gpt: caught at step $anom_step, not after the plain check's $plain_step" [ -n "$anom_step" ] && [ -n "$plain_step" ] && [ "$anom_step" -le "$plain_step" ]

# ---- a weight poisoned with one NaN
H=$TMP/healthy
expect_ok "gpt: a healthy 3-step model" $NG train gpt --data "$T" --out "$H" $G --steps 3 --eval-every 3
cp -r "$H" "$TMP/poisoned"
poison "$TMP/poisoned/model.safetensors" h.0.c_attn.weight 70   # row 2, column 6 of (96, 32)
expect_fail "gpt: --detect-anomaly with a NaN in h.0.c_attn.weight" "forward pass: op" \
    $NG train gpt --init-from "$TMP/poisoned" --data "$T" --out "$TMP/p1" $G --steps 3 --eval-every 3 --detect-anomaly
check "gpt: it names step 0, the first op using the weight, and the weight" \
    grep -qF "step 0 of 3: anomaly (--detect-anomaly) in the forward pass: op 5 of " "$ERR"
check "gpt: ... the linear of h.0.c_attn.weight, its NaNs, and the poisoned element" \
    grep -qE "\(linear of h\.0\.c_attn\.weight, h\.0\.c_attn\.bias\) produced [0-9]+ NaN values \(first at \[0, 0, 2\]\).*its operand h\.0\.c_attn\.weight already has 1 NaN value \(first at \[2, 6\]\)" "$ERR"
check "gpt: nothing saved" [ ! -e "$TMP/p1/model.safetensors" ]
expect_fail "gpt: without --detect-anomaly the NaN loss names the same op" "the evaluation's train loss is nan" \
    $NG train gpt --init-from "$TMP/poisoned" --data "$T" --out "$TMP/p2" $G --steps 3 --eval-every 3
check "gpt: ... op 5, the linear of h.0.c_attn.weight" grep -qF "forward pass: op 5 of" "$ERR"
cp -r "$H" "$TMP/poisoned2"
poison "$TMP/poisoned2/model.safetensors" ln_f.weight 3
expect_fail "gpt: a NaN in ln_f.weight: the final layernorm is named" "(layernorm of ln_f.weight, ln_f.bias) produced" \
    $NG train gpt --init-from "$TMP/poisoned2" --data "$T" --out "$TMP/p3" $G --steps 3 --eval-every 0 --detect-anomaly
check "gpt: ... at step 1 (no evaluation at step 0)" grep -qF "step 1 of 3: anomaly" "$ERR"
# healthy numbers: --detect-anomaly changes nothing
expect_ok "gpt: healthy run with --detect-anomaly" $NG train gpt --data "$T" --out "$TMP/a1" $G --steps 3 --eval-every 3 --detect-anomaly
check "gpt: the same weights as without it" same_data "$TMP/a1/model.safetensors" "$H/model.safetensors"
expect_ok "bigram: healthy run with --detect-anomaly" $NG train bigram --data "$T" --out "$TMP/b1" --steps 3 --eval-every 3 \
    --eval-iters 1 --batch-size 4 --threads 1 --no-final-eval --detect-anomaly

# ---- image models (Fashion-MNIST)
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then bad "data" "dataset-fashion-mnist is not installed"; finish; fi
V=$TMP/vae
I="--data fashion-mnist --epochs 1 --max-batches 20 --batch-size 16 --threads 1"
NANOGEN_TEST_STOP_AT=1 run $NG train vae $I --out "$V" --lr 10
check "vae: one batch at --lr 10, checkpoint saved (Ctrl-C hook)" [ -s "$V/model.safetensors" ]
before=$(sums "$V")
expect_fail "vae: resumed, it diverges and stops" "epoch 1 of 1, batch 2 of 20: the loss is nan" $NG train --resume "$V"
check "vae: names the first op with a non-finite output" grep -qE "first non-finite value, in the forward pass: op [0-9]+ of [0-9]+ \(reparam\)" "$ERR"
check "vae: the last checkpoint is kept" grep -qF "the last checkpoint in $V is kept" "$ERR"
after=$(sums "$V")
check "vae: model and optimizer files unchanged (sha256)" [ -n "$before" ] && [ "$before" = "$after" ]
expect_ok "vae: the kept checkpoint loads (sample)" $NG sample "$V" --out "$TMP/vae.png"
expect_fail "vae: --detect-anomaly names the reparam op" "in the forward pass: op" $NG train --resume "$V" --detect-anomaly
check "vae: ... reparam, from finite operands" grep -qE "anomaly \(--detect-anomaly\) in the forward pass: op [0-9]+ of [0-9]+ \(reparam\) produced [0-9]+ Inf values.* from finite operands" "$ERR"
check "vae: still unchanged" [ "$before" = "$(sums "$V")" ]
# healthy numbers: --detect-anomaly changes nothing (2 batches, the test loss, the sample grid)
expect_ok "vae: healthy 2 batches" $NG train vae $I --max-batches 2 --out "$TMP/vh1"
expect_ok "vae: the same with --detect-anomaly" $NG train vae $I --max-batches 2 --out "$TMP/vh2" --detect-anomaly
check "vae: the same weights with and without it" same_data "$TMP/vh1/model.safetensors" "$TMP/vh2/model.safetensors"
NANOGEN_TEST_STOP_AT=1 run $NG train gan $I --out "$TMP/gan"
cp -r "$TMP/gan" "$TMP/ganp"
poison "$TMP/ganp/model.safetensors" D.fc.weight 5
expect_fail "gan: --detect-anomaly with a NaN in a discriminator weight" "in the forward pass: op" \
    $NG train --resume "$TMP/ganp" --detect-anomaly
check "gan: names the discriminator's last linear and the weight" \
    grep -qE "epoch 1 of 1, batch 2 of 20: anomaly \(--detect-anomaly\) in the forward pass: op [0-9]+ of [0-9]+ \(linear of D\.fc\.weight, D\.fc\.bias\) produced .*its operand D\.fc\.weight already has 1 NaN value \(first at \[0, 5\]\)" "$ERR"
finish
