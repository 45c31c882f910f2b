#!/bin/sh
# scripts/demo.sh - what `make demo` runs after building: get Tiny Shakespeare, train the baby
# GPT (SPEC.md's 2000 steps; the training prints how long it took), and print samples.
# Offline with no copy of Tiny Shakespeare: train on nanogen's own sources instead (a model
# that learns to write C), which are always there.
set -e
cd "$(dirname "$0")/.."
URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
DATA=data/tinyshakespeare.txt
OUT=runs/demo
mkdir -p data runs
if [ ! -s "$DATA" ] && [ -s ../shared/data/tinyshakespeare.txt ]; then
    cp ../shared/data/tinyshakespeare.txt "$DATA"
fi
if [ ! -s "$DATA" ]; then
    echo "demo: downloading Tiny Shakespeare from $URL"
    if ! curl -fsSL --connect-timeout 10 --max-time 60 -o "$DATA.part" "$URL" 2>/dev/null; then
        rm -f "$DATA.part"
        echo "demo: cannot download Tiny Shakespeare (offline?). To use it later, put the file at"
        echo "      $DATA (1,115,394 characters) and run make demo again."
        echo "demo: training on nanogen's own source code instead: a model that writes C."
        DATA=$(sh scripts/corpus.sh)
    else
        mv "$DATA.part" "$DATA"
    fi
fi
TH=""   # make demo THREADS=N
if [ -n "${THREADS:-}" ]; then TH="--threads $THREADS"; fi
PROMPT="ROMEO:"; PROMPT2="JULIET:"
[ "$DATA" = data/nanogen-source.txt ] && PROMPT="int " && PROMPT2="static "
echo "demo: ./nanogen train gpt --preset baby --data $DATA --out $OUT --force $TH"
echo "      (2000 steps; its last line says how long it took)"
./nanogen train gpt --preset baby --data "$DATA" --out "$OUT" --force $TH
echo
echo "demo: ./nanogen sample $OUT --prompt \"$PROMPT\" --tokens 400 --temperature 0.8 --num-samples 2 $TH"
./nanogen sample "$OUT" --prompt "$PROMPT" --tokens 400 --temperature 0.8 --num-samples 2 $TH
echo
echo "demo: done. Try ./nanogen sample $OUT --prompt '$PROMPT2' --top-k 10, ./nanogen info $OUT, or make test."
