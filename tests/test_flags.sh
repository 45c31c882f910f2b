#!/bin/sh
# tests/test_flags.sh - the command line itself (src/cli/flags.c: one declarative flag table per
# command): every command's --help exits 0 and lists its flags; a usage error is one line naming
# the flag and the problem, with a pointer to the command's --help, exit 2; a mistyped command
# or flag gets a "did you mean"; the top-level help lists every command and model kind;
# `sample --temperature 0.5,1` prints one labelled sample per temperature, each the same text
# as a run at that temperature alone (with the same seed), and a single temperature no label.
NAME=tests/test_flags.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

need_corpus

# usage_error "description" "expected substring" cmd...: exit 2, exactly one line on stderr that
# says it and points to --help
usage_error() {
    _d=$1; _s=$2; shift 2
    run "$@"; _rc=$?
    if crashed "$_rc"; then bad "$_d" "crashed (exit $_rc): $*"
    elif [ "$_rc" -ne 2 ]; then bad "$_d" "exit $_rc, expected 2: $*"
    elif [ "$(wc -l < "$ERR")" -ne 1 ]; then bad "$_d" "$(wc -l < "$ERR") lines on stderr, expected one: $*"
    elif ! grep -qF -- "$_s" "$ERR"; then bad "$_d" "stderr does not say '$_s': $*"
    elif ! grep -qE '\(nanogen ([a-z]+ ){0,2}--help' "$ERR"; then bad "$_d" "no pointer to --help: $(cat "$ERR")"
    else ok "$_d"; fi
}

# ------------------------------------------------------------------ --help of every command
# command, then flags its help must list
while IFS='|' read -r cmd flags; do
    if expect_ok "$cmd --help: exit 0" $NG $cmd --help; then
        for f in $flags; do check "$cmd --help lists $f" grep -qe "^  $f" "$OUT"; done
        check "$cmd --help: says nothing on stderr" test ! -s "$ERR"
    fi
done <<'LIST'
train|--data --out --resume --preset --steps --batch-size --lr --seed --threads --init-from --eval-every
train gpt|--n-layer --n-head --n-embd --block-size --tokenizer --dropout
train vae|--data --out --epochs --batch-size --latent --arch --noise --seed --threads
train gan|--epochs --lr --beta1 --max-batches
train classifier|--hidden --epochs
sample|--prompt --tokens --temperature --top-k --top-p --seed --num-samples --show-probs --out --manifold --scatter --n --zoom
eval|--data --batch-size --block-size --skip-unknown --seed --n --classifier --threads
info|
plot|--out --keys --x --log-y --title
next|--prompt --prompt-file --top --temperature --json
embeddings|--out --points --data
attention|--prompt --out --layer --head
interpolate|--out --frames --rows --seed --from-test --zoom --data
serve|--name --host --port --api-key --cors --max-streams --queue --max-tokens --timeout --threads
LIST
expect_ok "info -h: exit 0" $NG info -h

# a flag means the same thing everywhere: the same name has the same range in every command
for cmd in "train" "train gpt" "train vae" "train gan" "train classifier" sample eval info plot next embeddings attention interpolate serve; do
    $NG $cmd --help 2>/dev/null | sed -n 's/^  \(--[a-z0-9-]*\) .*\(\[[^]]*\]\)$/\1 \2/p'
done | sort -u > "$TMP/ranges"
check "every flag has one range in every command (--help): $(awk '{print $1}' "$TMP/ranges" | uniq -d | tr '\n' ' ')" \
    test -z "$(awk '{print $1}' "$TMP/ranges" | uniq -d)"
check "the range check read the flags" test "$(wc -l < "$TMP/ranges")" -gt 30

# ------------------------------------------------------------------ top-level help
if expect_ok "nanogen --help" $NG --help; then
    for c in train sample eval info plot next embeddings attention interpolate "train classifier" "--classifier" "train --resume"; do
        check "top-level help lists '$c'" grep -qe "$c" "$OUT"
    done
    for k in bigram gpt ae dae vae gan classifier; do check "top-level help lists the kind $k" grep -qw -e "$k" "$OUT"; done
fi

# ------------------------------------------------------------------ usage errors and did-you-mean
M=$TMP/m
run $NG train gpt --data "$SH" --out "$M" --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --steps 5 --eval-every 5 --eval-iters 1 --threads 1
check "setup: a tiny GPT" test -s "$M/model.safetensors"
usage_error "a mistyped command: did you mean" "did you mean 'sample'" $NG smaple "$M"
usage_error "an unknown command" "unknown command 'frobnicate'" $NG frobnicate
usage_error "sample --temprature: did you mean --temperature" "did you mean '--temperature'" $NG sample "$M" --temprature 1
usage_error "next --tpo: did you mean --top" "did you mean '--top'" $NG next "$M" --prompt a --tpo 3
usage_error "train --stpes: did you mean --steps" "did you mean '--steps'" $NG train gpt --data "$SH" --out "$TMP/x" --stpes 3
usage_error "train vae --epoch: did you mean --epochs" "did you mean '--epochs'" $NG train vae --data fashion-mnist --out "$TMP/x" --epoch 3
usage_error "an unknown flag far from any: no suggestion" "unknown flag '--zzzzzzzz'" $NG eval "$M" --zzzzzzzz
usage_error "sample --top-p 2: out of range" "--top-p: 2 is out of range" $NG sample "$M" --top-p 2
usage_error "sample --tokens abc: not an integer" "--tokens: 'abc' is not an integer" $NG sample "$M" --tokens abc
usage_error "a flag without its value" "--seed needs a value" $NG sample "$M" --seed
usage_error "next --temperature -1" "--temperature" $NG next "$M" --prompt a --temperature -1
usage_error "eval: no DIR" "missing DIR" $NG eval
usage_error "info: no DIR" "missing DIR" $NG info
usage_error "info: two DIRs" "unexpected argument" $NG info "$M" "$M"
usage_error "plot --x month" "--x: 'month'" $NG plot "$M" --x month
usage_error "interpolate --steps: renamed, says the new name" "interpolate --steps is now --frames" $NG interpolate "$M" --out "$TMP/w.png" --steps 4
usage_error "interpolate --frames 1" "--frames: 1 is out of range" $NG interpolate "$M" --out "$TMP/w.png" --frames 1
usage_error "train --tokenizer bogus" "--tokenizer: 'bogus'" $NG train gpt --data "$SH" --out "$TMP/x" --tokenizer bogus
usage_error "eval of a text model without --data" "give --data FILE" $NG eval "$M"
usage_error "sample: a picture flag for a text model" "--zoom is for image models" $NG sample "$M" --zoom 2
check "no output directory from the failed runs" test ! -e "$TMP/x"

# ------------------------------------------------------------------ several temperatures
if expect_ok "sample --temperature 0.5,1" $NG sample "$M" --tokens 40 --seed 7 --temperature 0.5,1 --threads 1; then
    cp "$OUT" "$TMP/multi"
    check "two labelled samples" test "$(grep -c '^--- temperature ' "$TMP/multi")" -eq 2
    check "labels in order" sh -c 'grep "^--- temperature " "$1" | tr "\n" "|" | grep -qx -e "--- temperature 0.5 ---|--- temperature 1 ---|"' sh "$TMP/multi"
    run $NG sample "$M" --tokens 40 --seed 7 --temperature 0.5 --threads 1; cp "$OUT" "$TMP/t05"
    run $NG sample "$M" --tokens 40 --seed 7 --temperature 1 --threads 1; cp "$OUT" "$TMP/t1"
    check "a single temperature: no label" sh -c '! grep -q "^--- temperature" "$1" "$2"' sh "$TMP/t05" "$TMP/t1"
    # the blocks of the labelled run: after its label, up to the blank line before the next label
    awk '/^--- temperature 0.5 ---$/ { on = 1; next } /^$/ && on { exit } on' "$TMP/multi" > "$TMP/b05"
    awk '/^--- temperature 1 ---$/ { on = 1; next } on' "$TMP/multi" > "$TMP/b1"
    check "the 0.5 sample = a run at 0.5 alone, byte for byte" cmp -s "$TMP/b05" "$TMP/t05"
    check "the 1 sample = a run at 1 alone, byte for byte" cmp -s "$TMP/b1" "$TMP/t1"
fi
if expect_ok "sample --temperature 0.5 1 (space-separated, as next takes it)" $NG sample "$M" --tokens 10 --seed 7 --temperature 0.5 1 --threads 1; then
    check "two labelled samples" test "$(grep -c '^--- temperature ' "$OUT")" -eq 2
fi
run $NG sample "$M" --tokens 30 --seed 3 --threads 1; cp "$OUT" "$TMP/d1"
run $NG sample "$M" --tokens 30 --seed 3 --temperature 1 --threads 1
check "the default temperature is 1: the same text" cmp -s "$OUT" "$TMP/d1"
finish
