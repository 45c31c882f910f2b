#!/bin/sh
# tests/test_bpe_cli.sh - byte-level BPE through the command: train gpt --tokenizer bpe, sample
# (streamed whole characters), resume (exact), eval (bits per byte for bpe, char and word), a
# corpus that is not UTF-8, and `nanogen tokenize` (the readable view, --ids, --decode, its
# errors). GPT-2's own files: tests/test_gpt2_tokenizer.sh.
NAME=tests/test_bpe_cli.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
if [ ! -x "$NG" ]; then bad "binary" "$NG not found: run make first"; finish; fi
need_corpus
TINY="--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8 --threads 1 --eval-iters 2 --no-final-eval"
head -c 30000 "$SH" > "$TMP/small.txt"   # what eval reads (the whole corpus would take long)

# ---- train, sample, resume, eval
B0=$TMP/baby; B1=$TMP/bpe1; B2=$TMP/bpe2
expect_ok "train gpt --preset baby --tokenizer bpe --vocab-size 512" $NG train gpt --preset baby --tokenizer bpe --vocab-size 512 --data "$SH" --steps 20 --out "$B0" --threads 1 --eval-every 10 --eval-iters 2 --no-final-eval
check "train: the run says bpe and vocab 512" grep -q "vocab 512 (bpe)" "$OUT"
expect_ok "sample a bpe model" $NG sample "$B0" --tokens 200 --prompt "ROMEO:" --seed 3
"$PY" - "$OUT" <<'EOF' && ok "sample: the streamed text is valid UTF-8" || bad "sample" "output is not UTF-8"
import sys
open(sys.argv[1], "rb").read().decode("utf-8")
EOF
check "sample: starts with the prompt" grep -q "^ROMEO:" "$OUT"
expect_ok "sample --show-probs" $NG sample "$B0" --tokens 20 --show-probs
BPE="--tokenizer bpe --vocab-size 512 --data $SH $TINY --eval-every 10"
expect_ok "train a small bpe run to 20 steps" $NG train gpt $BPE --steps 20 --out "$B1"
cp -r "$B1" "$B2"
expect_ok "train --resume a bpe run to 40 steps" $NG train --resume "$B1" --steps 40 --threads 1
run env NANOGEN_TEST_STOP_AT=10 $NG train --resume "$B2" --steps 40 --threads 1
expect_ok "train --resume a bpe run stopped at step 30" $NG train --resume "$B2" --steps 40 --threads 1
check "train --resume: a stopped bpe run ends with the same weights" same_tensors "$B1/model.safetensors" "$B2/model.safetensors"
expect_ok "eval a bpe model" $NG eval "$B1" --data "$TMP/small.txt"
check "eval: bits per byte for train and val" test "$(grep -c 'bits per byte' "$OUT")" -eq 2
C1=$TMP/char1
expect_ok "train a char model" $NG train gpt --data "$SH" --out "$C1" --steps 5 $TINY --eval-every 0
expect_ok "eval a char model" $NG eval "$C1" --data "$TMP/small.txt"
check "eval: a char model reports bits per byte too" test "$(grep -c 'bits per byte' "$OUT")" -eq 2
W1=$TMP/word1
expect_ok "train a word model" $NG train gpt --tokenizer word --vocab-size 300 --data "$SH" --out "$W1" --steps 5 $TINY --eval-every 0
expect_ok "eval a word model" $NG eval "$W1" --data "$TMP/small.txt"
check "eval: a word model reports bits per byte too" test "$(grep -c 'bits per byte' "$OUT")" -eq 2

# ---- any bytes: a Latin-1 corpus trains with bpe (char refuses it, naming the offset)
"$PY" -c 'import sys; sys.stdout.buffer.write(("Ol\xe1, cora\xe7\xe3o! " * 400).encode("latin-1"))' > "$TMP/latin1.txt"
expect_fail "train --tokenizer char on Latin-1: refused" "byte offset 2" $NG train gpt --data "$TMP/latin1.txt" --out "$TMP/l1" --steps 2 $TINY
expect_ok "train --tokenizer bpe on Latin-1 text" $NG train gpt --tokenizer bpe --vocab-size 300 --data "$TMP/latin1.txt" --out "$TMP/l2" --steps 2 $TINY --eval-every 0
expect_fail "train --tokenizer bpe --vocab-size 100: out of range" "257" $NG train gpt --tokenizer bpe --vocab-size 100 --data "$SH" --out "$TMP/l3" --steps 2 $TINY
expect_fail "train --tokenizer sentencepiece: refused" "is not char, word or bpe" $NG train gpt --tokenizer sentencepiece --data "$SH" --out "$TMP/l4"

# ---- tokenize
printf 'To be, or not to be: that is the question.\nOl\303\241 \344\275\240\345\245\275 \360\237\230\200\n' > "$TMP/in.txt"
expect_ok "tokenize DIR: the readable view" sh -c "$NG tokenize '$B1' < '$TMP/in.txt'"
check "tokenize: vocabulary size" grep -q "^tokenizer: bpe, 512 tokens" "$OUT"
check "tokenize: tokens separated by |" grep -q "To| be|," "$OUT"
check "tokenize: count and bytes per token" grep -qE "^[0-9]+ tokens, 60 bytes: [0-9.]+ bytes per token" "$OUT"
expect_ok "tokenize --ids" sh -c "$NG tokenize '$B1' --ids < '$TMP/in.txt'"
cp "$OUT" "$TMP/ids.txt"
check "tokenize --ids: one line of numbers" grep -qE '^[0-9]+( [0-9]+)*$' "$TMP/ids.txt"
expect_ok "tokenize --decode" sh -c "$NG tokenize '$B1' --decode < '$TMP/ids.txt'"
check "tokenize --decode: the text back, byte for byte" cmp -s "$OUT" "$TMP/in.txt"
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 3)' > "$TMP/bytes.bin"
run sh -c "$NG tokenize --tokenizer bpe --data '$SH' --vocab-size 300 --ids < '$TMP/bytes.bin' > '$TMP/ids2.txt' && $NG tokenize --tokenizer bpe --data '$SH' --vocab-size 300 --decode < '$TMP/ids2.txt'"
check "tokenize --tokenizer bpe --data: any bytes round-trip" cmp -s "$OUT" "$TMP/bytes.bin"
expect_ok "tokenize --tokenizer char --data" sh -c "$NG tokenize --tokenizer char --data '$SH' --ids < '$SH'"
expect_ok "tokenize --tokenizer word --data" sh -c "echo 'the king is here' | $NG tokenize --tokenizer word --data '$SH'"
check "tokenize word: its tokens" grep -q "the|king|is|here" "$OUT"
expect_fail "tokenize --decode: an id out of range is named" "id 512 (token 2) is not in the vocabulary" sh -c "echo '1 512 3' | $NG tokenize '$B1' --decode"
expect_fail "tokenize --decode: a word that is no id" "'abc' (token 2) is not a token id" sh -c "echo '1 abc' | $NG tokenize '$B1' --decode"
expect_fail "tokenize --decode: a negative id" "id -4 (token 1)" sh -c "echo '-4' | $NG tokenize '$B1' --decode"
expect_fail "tokenize: no tokenizer" "which tokenizer?" sh -c "echo x | $NG tokenize"
expect_fail "tokenize: DIR and --tokenizer" "not both" sh -c "echo x | $NG tokenize '$B1' --tokenizer bpe --data '$SH'"
expect_fail "tokenize gpt2 without --merges" "needs --vocab FILE and --merges FILE" sh -c "echo x | $NG tokenize --tokenizer gpt2 --vocab x.json"
expect_fail "tokenize bpe without --data" "needs --data FILE" sh -c "echo x | $NG tokenize --tokenizer bpe"
expect_fail "tokenize --ids --decode" "exclude each other" sh -c "echo x | $NG tokenize '$B1' --ids --decode"
expect_fail "tokenize --tokenizer xyz" "is not gpt2, bpe, char or word" sh -c "echo x | $NG tokenize --tokenizer xyz"
expect_fail "tokenize a missing checkpoint" "nonexistent" sh -c "echo x | $NG tokenize '$TMP/nonexistent'"
expect_fail "tokenize gpt2: a missing vocabulary file" "nope.json" sh -c "echo x | $NG tokenize --tokenizer gpt2 --vocab '$TMP/nope.json' --merges '$TMP/nope.txt'"
expect_fail "tokenize char: a character the vocabulary lacks" "is not in the model's vocabulary" sh -c "printf '\344\275\240' | $NG tokenize --tokenizer char --data '$SH'"
expect_ok "tokenize --help" $NG tokenize --help
check "tokenize --help: the usage" grep -q "usage: nanogen tokenize" "$OUT"
finish
