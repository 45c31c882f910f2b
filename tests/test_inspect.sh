#!/bin/sh
# tests/test_inspect.sh - looking inside text models from the command line: `nanogen next`
# (table, --json whose probabilities sum to 1 at every temperature, temperature 0 = argmax,
# entropy growing with the temperature, a prompt longer than the context cropped), `nanogen
# embeddings` (a well-formed SVG with a labelled point per token, char and word models,
# --tokens, --data), `nanogen attention` (a PNG of the expected size, a summary line per head,
# --layer / --head / all) and `nanogen sample --show-probs` (token[0.42] when piped, ANSI on a
# terminal), and `sample` on a word model saying, as next does, how many prompt words were read as
# <unk>. Bad input: a missing checkpoint, a prompt with a character the vocabulary lacks
# (named), --top 0, a negative temperature, a layer or head out of range, a bigram's attention,
# a wrong --out: a clear "nanogen: ..." error, exit 2 for usage errors, never a crash.
# Tiny models (a few steps, --threads 1). Run from anywhere: sh tests/test_inspect.sh.
NAME=tests/test_inspect.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

need_corpus

# expect_code CODE "description" "expected substring in stderr" cmd...: exits with CODE exactly
expect_code() {
    _c=$1; _d=$2; _s=$3; shift 3
    run "$@"; _rc=$?
    if crashed "$_rc"; then bad "$_d" "crashed (exit $_rc): $*"
    elif [ "$_rc" -ne "$_c" ]; then bad "$_d" "exit $_rc, expected $_c: $*"
    elif ! err_has "$_s"; then bad "$_d" "exit $_rc but stderr does not say '$_s': $*"
    else ok "$_d"; fi
}
# pyjson 'python expression over d (the JSON of $OUT)': true?
pyjson() { "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT" "$1"; }
well_formed() { "$PY" -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null; }
# svg_text FILE STRING: some <text> of FILE reads exactly STRING
svg_text() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
texts = ["".join(c.data for c in t.childNodes if c.nodeType == c.TEXT_NODE) for t in d.getElementsByTagName("text")]
sys.exit(0 if sys.argv[2] in texts else 1)' "$1" "$2"
}

COMMON="--steps 30 --eval-every 30 --eval-iters 2 --threads 1"
M=$TMP/char; W=$TMP/word; B=$TMP/bigram
run $NG train gpt --data "$SH" --out "$M" --n-layer 2 --n-head 2 --n-embd 32 --block-size 16 --batch-size 8 $COMMON
check "setup: a tiny char GPT (2 layers, 2 heads, block 16)" test -s "$M/model.safetensors"
head -c 60000 "$SH" > "$TMP/small.txt"
run $NG train gpt --data "$TMP/small.txt" --out "$W" --tokenizer word --vocab-size 300 --n-layer 1 --n-head 2 --n-embd 32 --block-size 16 --batch-size 8 $COMMON
check "setup: a tiny word GPT" test -s "$W/model.safetensors"
run $NG train bigram --data "$SH" --out "$B" $COMMON
check "setup: a bigram" test -s "$B/model.safetensors"
V=$("$PY" -c 'import sys; print(len(set(open(sys.argv[1], encoding="utf-8").read())))' "$SH")

# ------------------------------------------------------------------ next
if expect_ok "next: a table at three temperatures" $NG next "$M" --prompt "the king" --temperature 0.5 1 2 --top 5; then
    check "next: one column per temperature" grep -q "T=0.5 *T=1 *T=2" "$OUT"
    check "next: 5 ranked rows" test "$(grep -cE '^ +[1-5]  ' "$OUT")" -eq 5
    check "next: entropy row" grep -q "^entropy (bits)" "$OUT"
fi
if expect_ok "next --json: every token, temperatures 0, 0.7, 2" $NG next "$M" --prompt "the king" --temperature 0,0.7 --temperature 2 --top 100000 --json; then
    check "next --json: parses, the top list holds the whole vocabulary ($V)" pyjson "len(d['top']) == $V == d['vocab_size']"
    check "next --json: probabilities sum to 1 at every temperature" pyjson "all(abs(sum(t['probs'][k] for t in d['top']) - 1) < 1e-4 for k in range(3))"
    check "next --json: temperature 0 puts all the mass on the argmax" pyjson "d['top'][0]['probs'][0] == 1 and all(t['probs'][0] == 0 for t in d['top'][1:])"
    check "next --json: entropy 0 at temperature 0, growing with the temperature" pyjson "d['entropy_bits'][0] == 0 < d['entropy_bits'][1] < d['entropy_bits'][2]"
    check "next --json: ranked by logit, probabilities in the same order" pyjson "all(a['logit'] >= b['logit'] and a['probs'][1] >= b['probs'][1] for a, b in zip(d['top'], d['top'][1:]))"
    check "next --json: the argmax of T=0 is rank 1" pyjson "d['top'][0]['rank'] == 1 and d['temperatures'] == [0, 0.7, 2]"
fi
if expect_ok "next: temperature 0 in the table" $NG next "$M" --prompt "the king" --temperature 0 --top 3; then
    check "next: 100.0% on the most likely token" grep -qE '^ +1  .*100\.0%' "$OUT"
fi
LONG="First Citizen: Before we proceed any further, hear me speak."
if expect_ok "next: a prompt longer than block_size" $NG next "$M" --prompt "$LONG" --json; then
    check "next: cropped to the last 16 tokens, and said so" sh -c 'grep -q "block_size" "$1"' sh "$ERR"
    check "next --json: context_tokens 16" pyjson "d['context_tokens'] == 16 and d['prompt_tokens'] == ${#LONG}"
fi
printf 'the king' > "$TMP/prompt.txt"
expect_ok "next: --prompt-file" $NG next "$M" --prompt-file "$TMP/prompt.txt" --top 3
if expect_ok "next: a word model" $NG next "$W" --prompt "the king" --json --top 10; then
    check "next --json: word tokenizer, 10 words" pyjson "d['tokenizer'] == 'word' and len(d['top']) == 10"
fi
if expect_ok "next: a bigram" $NG next "$B" --prompt "the king" --temperature 1 2; then
    check "next: a bigram sees only the last token" grep -q "bigram sees only the last token" "$OUT"
fi
expect_code 1 "next: a missing checkpoint" "$TMP/none" $NG next "$TMP/none" --prompt "a"
expect_code 1 "next: a prompt character the vocabulary lacks is named" "U+20AC" $NG next "$M" --prompt "the €uro"
expect_code 2 "next: --top 0" "--top" $NG next "$M" --prompt "a" --top 0
expect_code 2 "next: a negative temperature" "--temperature" $NG next "$M" --prompt "a" --temperature -0.5
expect_code 2 "next: a negative temperature after others" "--temperature" $NG next "$M" --prompt "a" --temperature 1 -2
expect_code 2 "next: a temperature that is not a number" "not a number" $NG next "$M" --prompt "a" --temperature warm
expect_code 2 "next: no prompt" "--prompt" $NG next "$M"
expect_code 2 "next: an empty prompt" "empty" $NG next "$M" --prompt ""
expect_code 2 "next: an unknown flag" "--colour" $NG next "$M" --prompt "a" --colour

# ------------------------------------------------------------------ embeddings
if expect_ok "embeddings: char model" $NG embeddings "$M" --out "$TMP/e.svg"; then
    check "embeddings: well-formed SVG" well_formed "$TMP/e.svg"
    check "embeddings: tokens as labels (e)" svg_text "$TMP/e.svg" e
    check "embeddings: the space token labelled ␣" svg_text "$TMP/e.svg" "␣"
    check "embeddings: every token of the vocabulary ($V)" grep -q "$V of $V char-level tokens" "$TMP/e.svg"
    check "embeddings: axes say the variance explained" grep -q "PC1 ([0-9.]*% of the variance)" "$TMP/e.svg"
    check "embeddings: coloured by kind, with a legend" svg_text "$TMP/e.svg" "vowels"
fi
if expect_ok "embeddings: word model, --points 20" $NG embeddings "$W" --out "$TMP/w.svg" --points 20; then
    check "embeddings: 20 most frequent words" grep -q "20 of [0-9]* word-level tokens (the most frequent words)" "$TMP/w.svg"
    check "embeddings: word SVG well-formed" well_formed "$TMP/w.svg"
fi
if expect_ok "embeddings: --data picks the most frequent tokens" $NG embeddings "$M" --out "$TMP/d.svg" --points 10 --data "$TMP/small.txt"; then
    check "embeddings: 10 tokens, the most frequent in the data" grep -q "10 of $V char-level tokens (the most frequent in the data)" "$TMP/d.svg"
fi
expect_ok "embeddings: a bigram's table" $NG embeddings "$B" --out "$TMP/b.svg"
expect_code 2 "embeddings: no --out" "--out" $NG embeddings "$M"
expect_code 2 "embeddings: --out not .svg" ".svg" $NG embeddings "$M" --out "$TMP/e.png"
expect_code 2 "embeddings: --points 1" "--points" $NG embeddings "$M" --out "$TMP/e.svg" --points 1
expect_code 1 "embeddings: a missing checkpoint" "$TMP/none" $NG embeddings "$TMP/none" --out "$TMP/e.svg"

# ------------------------------------------------------------------ attention
if expect_ok "attention: every head of layer 0" $NG attention "$M" --prompt "the king is dead" --out "$TMP/a.png"; then
    check "attention: a PNG" test -n "$(png_size "$TMP/a.png")"
    check "attention: a summary line per head of layer 0" test "$(grep -c '^  layer 0 head [01]: self' "$OUT")" -eq 2
fi
if expect_ok "attention: --layer all" $NG attention "$M" --prompt "the king is dead" --out "$TMP/all.png" --layer all; then
    check "attention: 2 layers x 2 heads" test "$(grep -c '^  layer [01] head [01]: self' "$OUT")" -eq 4
    set -- $(png_size "$TMP/a.png"); h1=${2:-0}; set -- $(png_size "$TMP/all.png"); h2=${2:-0}
    check "attention: the grid of 2 layers is taller than the row of one ($h2 > $h1 px)" test "$h1" -gt 0 -a "$h2" -gt "$h1"
fi
if expect_ok "attention: --layer 1 --head 1" $NG attention "$M" --prompt "the king" --out "$TMP/one.png" --layer 1 --head 1; then
    check "attention: one head" test "$(grep -c ': self' "$OUT")" -eq 1
    check "attention: layer 1 head 1" grep -q "layer 1 head 1" "$OUT"
fi
if expect_ok "attention: a prompt longer than block_size" $NG attention "$M" --prompt "$LONG" --out "$TMP/long.png"; then
    check "attention: cropped to 16 tokens, and said so" sh -c 'grep -q "16 tokens" "$1" && grep -q "block_size" "$2"' sh "$OUT" "$ERR"
fi
expect_ok "attention: a word model (rotated labels)" $NG attention "$W" --prompt "the king is dead , long live the king" --out "$TMP/w.png"
expect_code 1 "attention: a bigram has none" "no attention" $NG attention "$B" --prompt "ab" --out "$TMP/x.png"
expect_code 2 "attention: --layer out of range" "--layer 2" $NG attention "$M" --prompt "ab" --out "$TMP/x.png" --layer 2
expect_code 2 "attention: --head out of range" "--head 5" $NG attention "$M" --prompt "ab" --out "$TMP/x.png" --head 5
expect_code 2 "attention: --layer not a number" "--layer" $NG attention "$M" --prompt "ab" --out "$TMP/x.png" --layer top
expect_code 2 "attention: --head negative" "--head" $NG attention "$M" --prompt "ab" --out "$TMP/x.png" --head -1
expect_code 2 "attention: --out not .png" ".png" $NG attention "$M" --prompt "ab" --out "$TMP/x.svg"
expect_code 2 "attention: no prompt" "--prompt" $NG attention "$M" --out "$TMP/x.png"
expect_code 1 "attention: a prompt character the vocabulary lacks is named" "U+20AC" $NG attention "$M" --prompt "€" --out "$TMP/x.png"
expect_code 1 "attention: a missing checkpoint" "$TMP/none" $NG attention "$TMP/none" --prompt "ab" --out "$TMP/x.png"
check "attention: nothing written on errors" test ! -e "$TMP/x.png"

# ------------------------------------------------------------------ sample --show-probs
MARK='\[[01]\.[0-9][0-9][0-9]*\]'
if expect_ok "sample --show-probs: piped" $NG sample "$M" --prompt "the" --tokens 30 --seed 3 --show-probs; then
    check "sample --show-probs: one mark per generated token (30)" test "$(grep -o "$MARK" "$OUT" | wc -l)" -eq 30
    check "sample --show-probs: no terminal escapes when piped" sh -c '! grep -q "$(printf "\033")" "$1"' sh "$OUT"
    check "sample --show-probs: the prompt is not marked" grep -q "^the[^[]" "$OUT"
fi
run $NG sample "$M" --prompt "the" --tokens 30 --seed 3; cp "$OUT" "$TMP/plain"
check "sample: without --show-probs, no marks" sh -c '! grep -q "$1" "$2"' sh "$MARK" "$TMP/plain"
run $NG sample "$M" --prompt "the" --tokens 30 --seed 3 --show-probs
check "sample --show-probs: the same text once the marks are removed" sh -c 'sed "s/$1//g" "$2" | cmp -s - "$3"' sh "$MARK" "$OUT" "$TMP/plain"
if expect_ok "sample --show-probs --temperature 0" $NG sample --show-probs "$M" --prompt "the" --tokens 20 --temperature 0; then
    check "sample --show-probs: greedy tokens have probability 1" test "$(grep -o '\[1\.00\]' "$OUT" | wc -l)" -eq 20
fi
# a word model reads unknown prompt words as <unk>: sample says how many, with next's very words
UNK_PROMPT="the zqxv , flibbertigibbet"
if expect_ok "sample: a word model, a prompt with 2 unknown words" $NG sample "$W" --prompt "$UNK_PROMPT" --tokens 5 --seed 1; then
    check "sample: says on stderr that 2 words were read as <unk>" \
        grep -q "^nanogen: note: 2 words of the prompt are not in the vocabulary and read as <unk>" "$ERR"
    grep "<unk>" "$ERR" > "$TMP/unk_sample"
    run $NG next "$W" --prompt "$UNK_PROMPT"
    check "sample: ... the same note as next" sh -c 'grep "<unk>" "$1" | cmp -s - "$2"' sh "$ERR" "$TMP/unk_sample"
fi
if expect_ok "sample: a word model, every prompt word known" $NG sample "$W" --prompt "the" --tokens 5 --seed 1; then
    check "sample: no <unk> note" sh -c '! grep -q "<unk>" "$1"' sh "$ERR"
fi
expect_ok "sample --show-probs --batch" $NG sample "$M" --tokens 10 --num-samples 2 --batch --show-probs
if command -v script >/dev/null 2>&1; then
    script -qc "$NG sample $M --prompt the --tokens 30 --seed 3 --show-probs" /dev/null > "$TMP/tty" 2>&1
    check "sample --show-probs: ANSI dim/bold on a terminal, reset after" sh -c 'grep -q "$(printf "\033")\[[12]m" "$1" && grep -q "$(printf "\033")\[0m" "$1" && ! grep -q "$2" "$1"' sh "$TMP/tty" "$MARK"
fi
finish
