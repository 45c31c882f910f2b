#!/bin/sh
# tests/test_portuguese.sh - non-ASCII text end to end: a char-level and a word-level GPT
# trained on tests/data/portugues.txt must learn (val loss goes down), keep 'ç', 'ã', ...
# as single tokens, accept accented prompts and sample valid UTF-8 with accents; a
# Shakespeare model (or one of nanogen's sources, the ASCII corpus scripts/corpus.sh falls back
# to) fine-tuned on it (--init-from) must extend its vocabulary with the accented characters,
# and --unknown error must refuse, naming one.
#
# Run from anywhere: sh tests/test_portuguese.sh (uses ./nanogen of the repository root).
# Everything it writes goes to a temporary directory under ${TMPDIR:-/tmp}. Trainings run
# with --threads 1 so that the timings hold on a busy machine.
NAME=tests/test_portuguese.sh
cd "$(dirname "$0")/.." || exit 1
PT=tests/data/portugues.txt
. tests/lib.sh
# valid UTF-8 with at least one accented Portuguese letter
accented_utf8() {
    "$PY" -c 'import sys
t = open(sys.argv[1], "rb").read().decode("utf-8")   # strict: raises on invalid UTF-8
sys.exit(0 if any(c in t for c in "çãõáéíóúâêôàÇÃÕÁÉÍÓÚÂÊÔÀ") else 1)' "$1" 2>/dev/null
}
valid_utf8() { "$PY" -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" 2>/dev/null; }
# last val_loss of metrics.jsonl lower than the one of step 0
loss_went_down() {
    "$PY" -c 'import json, sys
ev = [d for d in map(json.loads, open(sys.argv[1], encoding="utf-8")) if "val_loss" in d]
first = [d["val_loss"] for d in ev if d["step"] == 0]
print("     val loss: step 0 %.4f, step %d %.4f" % (first[0], ev[-1]["step"], ev[-1]["val_loss"]))
sys.exit(0 if ev[-1]["step"] > 0 and ev[-1]["val_loss"] < first[0] else 1)' "$1"
}
# val tokens from the "..., N train / M val tokens, ..." line of train's output
val_tokens() { _v=$(sed -n 's|.* train / \([0-9][0-9]*\) val tokens.*|\1|p' "$OUT"); echo "${_v:-0}"; }
# the tokenizer saved in a checkpoint has every argument as one token
vocab_has() {
    _f=$1; shift
    "$PY" -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
vocab = json.loads(json.loads(b[8:8 + n])["__metadata__"]["tokenizer"])["vocab"]
sys.exit(0 if all(c in vocab for c in sys.argv[2:]) else 1)' "$_f" "$@"
}

if [ ! -x "$NG" ]; then bad "binary" "$NG not found: run make first"; finish; fi
if [ -z "$PY" ]; then bad "python" "python3 not found"; finish; fi
if [ ! -s "$PT" ]; then bad "data" "$PT not found"; finish; fi

COMMON="--block-size 32 --batch-size 16 --eval-every 50 --eval-iters 5 --warmup 20 --threads 1"
# ------------------------------------------------------------------ char-level GPT
C=$TMP/char
if expect_ok "char GPT: trains on portugues.txt" $NG train gpt --data "$PT" --out "$C" \
        --n-layer 1 --n-embd 48 --n-head 4 --lr 3e-3 --steps 250 $COMMON; then
    check "char GPT: the val split holds at least 4 blocks" test "$(val_tokens)" -ge 128
fi
check "char GPT: val loss went down" loss_went_down "$C/metrics.jsonl"
check "char GPT: 'ç', 'ã', 'õ', 'é' are single tokens of the saved vocabulary" vocab_has "$C/model.safetensors" ç ã õ é
if expect_ok "char GPT: nanogen info" $NG info "$C"; then
    check "char GPT: nanogen info shows 'ç' and 'ã' as tokens of the vocabulary" \
        sh -c 'grep "^tokenizer" "$1" | grep -q " ç" && grep "^tokenizer" "$1" | grep -q " ã"' sh "$OUT"
fi
if expect_ok "char GPT: samples 300 tokens" $NG sample "$C" --tokens 300 --seed 1; then
    check "char GPT: the sample is valid UTF-8 with accented characters" accented_utf8 "$OUT"
fi
if expect_ok "char GPT: accepts the prompt 'A menina disse: coração'" $NG sample "$C" --prompt "A menina disse: coração" --tokens 50 --seed 1; then
    check "char GPT: the output starts with the prompt" sh -c 'head -n 1 "$1" | grep -q "^A menina disse: coração"' sh "$OUT"
    check "char GPT: ... and is valid UTF-8" valid_utf8 "$OUT"
fi
if expect_ok "char GPT: nanogen eval" $NG eval "$C" --data "$PT" --threads 1; then
    check "char GPT: eval prints bits per character" grep -q "bits per character" "$OUT"
fi

# ------------------------------------------------------------------ word-level GPT
W=$TMP/word
if expect_ok "word GPT: trains on portugues.txt (--tokenizer word)" $NG train gpt --data "$PT" --out "$W" --tokenizer word \
        --n-layer 1 --n-embd 32 --n-head 2 --lr 2e-3 --dropout 0.1 --steps 150 $COMMON; then
    check "word GPT: the val split holds at least 4 blocks" test "$(val_tokens)" -ge 128
fi
check "word GPT: val loss went down" loss_went_down "$W/metrics.jsonl"
run $NG info "$W"; check "word GPT: nanogen info says word tokenizer" grep -q "^tokenizer *word" "$OUT"
check "word GPT: accented words are tokens ('não', 'avô', 'Conceição')" vocab_has "$W/model.safetensors" não avô Conceição
if expect_ok "word GPT: samples 300 tokens" $NG sample "$W" --tokens 300 --seed 1; then
    check "word GPT: the sample is valid UTF-8 with accented characters" accented_utf8 "$OUT"
fi

# ------------------------------------------------------------------ fine-tuning Shakespeare
need_corpus fine-tuning
S=$TMP/shakespeare
expect_ok "Shakespeare: a tiny model for 30 steps" $NG train gpt --data "$SH" --out "$S" \
    --n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8 --steps 30 --eval-every 10 --eval-iters 2 --threads 1
F=$TMP/finetuned
if expect_ok "fine-tune: --init-from Shakespeare on portugues.txt, 20 steps" $NG train gpt --init-from "$S" --data "$PT" --out "$F" --steps 20 --threads 1; then
    check "fine-tune: says the vocabulary was extended" grep -qi "vocabulary extended" "$OUT"
    check "fine-tune: ... with 'ç' and 'ã'" sh -c 'grep -i "vocabulary extended" "$1" | grep -q "ç" && grep -i "vocabulary extended" "$1" | grep -q "ã"' sh "$OUT"
fi
check "fine-tune: 'ç' and 'ã' are tokens of the new checkpoint" vocab_has "$F/model.safetensors" ç ã
check "fine-tune: the Shakespeare characters are still there" vocab_has "$F/model.safetensors" A z ";"
if expect_ok "fine-tune: samples 300 tokens" $NG sample "$F" --tokens 300 --seed 1; then
    check "fine-tune: the sample is valid UTF-8 with accented characters" accented_utf8 "$OUT"
fi
expect_ok "fine-tune: accepts an accented prompt" $NG sample "$F" --prompt "coração" --tokens 20 --seed 1
expect_fail "fine-tune: --unknown error names a character" "'ç'" \
    $NG train gpt --init-from "$S" --data "$PT" --out "$TMP/refused" --steps 20 --unknown error --threads 1
check "fine-tune: ... and writes no checkpoint" test ! -e "$TMP/refused/model.safetensors"
if expect_ok "fine-tune: --unknown skip trains" $NG train gpt --init-from "$S" --data "$PT" --out "$TMP/skipped" --steps 5 --unknown skip --threads 1; then
    check "fine-tune: --unknown skip says what it skipped" grep -qi "skip" "$ERR"
fi

finish
