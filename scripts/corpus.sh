#!/bin/sh
# scripts/corpus.sh - print the path of the default text corpus: Tiny Shakespeare when a copy
# is here (data/ or ../shared/data/), else the one that is always there: nanogen's own C
# sources as ASCII text (data/nanogen-source.txt, made on first use). Used by make demo
# when offline, and by the tests so that they run on a machine with no copy of Shakespeare.
cd "$(dirname "$0")/.." || exit 1
for f in data/tinyshakespeare.txt ../shared/data/tinyshakespeare.txt; do
    if [ -s "$f" ]; then echo "$f"; exit 0; fi
done
out=data/nanogen-source.txt
if [ ! -s "$out" ]; then
    mkdir -p data
    find include src -name "*.[ch]" | LC_ALL=C sort | xargs cat | tr -cd '\11\12\40-\176' > "$out.tmp" && mv "$out.tmp" "$out"
fi
echo "$out"
