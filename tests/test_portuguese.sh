#!/bin/sh
# tests/test_portuguese.sh - non-ASCII text end to end: a char-level and a word-level GPT
# trained on tests/data/portugues.txt must learn (val loss goes down), keep 'ç', 'ã', ...
# as single tokens, accept accented prompts and sample valid UTF-8 with accents; `embeddings`
# must show the most frequent characters (accented ones included) and colour ã, é as vowels, ç
# as a consonant (Unicode's classes); a Shakespeare model (or one of nanogen's sources, the
# ASCII corpus scripts/corpus.sh falls back to) fine-tuned on it (--init-from) must extend its
# vocabulary with the accented characters, and --unknown error must refuse, naming one.
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

# svg_labels SVG LABEL...: each LABEL is the text of a point label of the SVG (an embeddings plot of
# a char model: its labels are 16 px, the axes' numbers smaller)
svg_labels() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
texts = {"".join(c.data for c in t.childNodes if c.nodeType == c.TEXT_NODE) for t in d.getElementsByTagName("text")
         if t.getAttribute("font-size") == "16"}   # the point labels, not the axes
sys.exit(0 if all(l in texts for l in sys.argv[2:]) else 1)' "$@"
}
# svg_labels_none SVG LABEL...: no LABEL is the text of a point label of the SVG
svg_labels_none() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
texts = {"".join(c.data for c in t.childNodes if c.nodeType == c.TEXT_NODE) for t in d.getElementsByTagName("text")
         if t.getAttribute("font-size") == "16"}   # the point labels, not the axes
sys.exit(0 if not any(l in texts for l in sys.argv[2:]) else 1)' "$@"
}
# svg_kind SVG KIND LABEL...: each LABEL is drawn in the colour of the points titled KIND (the legend's kinds)
svg_kind() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
fill = {g.getElementsByTagName("title")[0].firstChild.data: g.getAttribute("fill") for g in d.getElementsByTagName("g")
        if g.getAttribute("fill") and g.getElementsByTagName("title")}
lab = {"".join(c.data for c in t.childNodes if c.nodeType == c.TEXT_NODE): t.getAttribute("fill") for t in d.getElementsByTagName("text")}
bad = [l for l in sys.argv[3:] if lab.get(l) != fill.get(sys.argv[2], "?")]
if bad: print("     not drawn as %s: %s" % (sys.argv[2], " ".join(bad)))
sys.exit(1 if bad else 0)' "$@"
}

if [ ! -x "$NG" ]; then bad "binary" "$NG not found: run make first"; finish; fi
if [ -z "$PY" ]; then bad "python" "python3 not found"; finish; fi
if [ ! -s "$PT" ]; then bad "data" "$PT not found"; finish; fi

VPT=$("$PY" -c 'import sys; print(len(set(open(sys.argv[1], encoding="utf-8").read())))' "$PT")   # characters of the text
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
# embeddings: which characters, and their colours by Unicode's classes (it showed "the first N by
# code point", which leaves out every accented letter, and coloured ã, é, ç as "other")
if expect_ok "char GPT: embeddings --points 40" $NG embeddings "$C" --out "$TMP/e40.svg" --points 40; then
    check "embeddings --points 40: the 40 most frequent characters of the training text" \
        grep -q "40 of $VPT char-level tokens (the most frequent in the training data)" "$TMP/e40.svg"
    check "embeddings --points 40: ã, á, ç, é, —, the space among them" svg_labels "$TMP/e40.svg" ã á ç é — ␣
    check "embeddings --points 40: ... and none of the rare J, Q, 0, 9, '(' and '«'" svg_labels_none "$TMP/e40.svg" J Q 0 9 "(" «
fi
if expect_ok "char GPT: embeddings, every token" $NG embeddings "$C" --out "$TMP/e.svg"; then
    check "embeddings: all $VPT tokens" grep -q "$VPT of $VPT char-level tokens (every token)" "$TMP/e.svg"
    check "embeddings: ã, é, á, ô, õ, ú, í, ê, à, â are vowels" svg_kind "$TMP/e.svg" vowels ã é á ô õ ú í ê à â a
    check "embeddings: ç is a consonant" svg_kind "$TMP/e.svg" consonants ç c
    check "embeddings: É and À are capital vowels" svg_kind "$TMP/e.svg" "capital vowels" É À A
    check "embeddings: —, «, », “ and ” are punctuation" svg_kind "$TMP/e.svg" "punctuation, symbols" — « » “ ” ","
    check "embeddings: nothing is 'other'" sh -c '! grep -q "<title>other</title>" "$1"' sh "$TMP/e.svg"
fi
# no text to count in (run elsewhere, the checkpoint's relative path to the training text does
# not resolve): letters first, each accented letter beside its base letter, and a note saying so
NGABS=$(cd "$(dirname "$NG")" && pwd)/$(basename "$NG")
if expect_ok "char GPT: embeddings --points 40 without the training text" sh -c 'cd "$1" && shift && exec "$@"' sh "$TMP" \
        "$NGABS" embeddings "$C" --out "$TMP/fallback.svg" --points 40; then
    check "embeddings without a text: says the text cannot be counted and what it shows" \
        sh -c 'grep -q "training text cannot be counted" "$1" && grep -q "letters first" "$1"' sh "$ERR"
    check "embeddings without a text: every lowercase letter, accented ones too (a à á â ã ... ú)" \
        svg_labels "$TMP/fallback.svg" a à á â ã b c ç d e é ê f g h i í j l m n o ó ô õ p q r s t u ú v x z
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
