#!/bin/sh
# test_fuzz_regress.sh - every seed of the fuzz corpus (fuzz/corpus/<target>) and every input
# that once crashed a harness (fuzz/crashes/<target>) through the gcc-built replay drivers
# (build/fuzz/replay_<target>, fuzz/replay.c): each input is one check, passed when the harness
# returns without a crash, a sanitizer report or a failed FZ_CHECK. (make fuzz-regress does the
# same with the clang-built, sanitized harnesses.)
NAME=test_fuzz_regress.sh
. tests/lib.sh
B=${BUILD:-build}
for t in safetensors checkpoint tokenizer idx image text cli state gpt2 convert latent serve; do
    bin=$B/fuzz/replay_$t
    # serve: only where libmicrohttpd is installed (the Makefile builds the server then)
    if [ "$t" = serve ] && [ ! -x "$bin" ] && ! pkg-config --exists libmicrohttpd 2>/dev/null; then continue; fi
    if [ ! -x "$bin" ]; then bad "replay_$t" "missing $bin (make all builds it)"; continue; fi
    for f in fuzz/corpus/$t/* fuzz/crashes/$t/*; do
        [ -f "$f" ] || continue
        run "$bin" "$f"; rc=$?
        if [ "$rc" -eq 124 ]; then bad "$t: $f" "timed out"
        elif crashed "$rc" || grep -q 'fuzz check failed' "$ERR"; then bad "$t: $f" "crashed (exit $rc)"
        elif [ "$rc" -ne 0 ]; then bad "$t: $f" "exit $rc"
        else ok "$t: $f"; fi
    done
done

# what the crashes were, through the command: the error must name the problem
mkdir -p "$TMP/ck"
cp fuzz/crashes/checkpoint/config_gpt_12GB "$TMP/ck/model.safetensors"
expect_fail "a 1 KB checkpoint whose config asks for 1.6e9 parameters is refused before allocating" \
    "needs 1611100160 parameters but the file's tensors hold 304" $NG info "$TMP/ck"
cp fuzz/crashes/checkpoint/config_image_550GB "$TMP/ck/model.safetensors"
expect_fail "an image checkpoint whose config asks for 1.4e11 parameters is refused" "but the file's tensors hold 89" \
    $NG eval "$TMP/ck"
"$PY" -c 'import sys; d = open(sys.argv[1], "rb").read(); v, _, m = d.partition(b"\0"); open(sys.argv[2], "wb").write(v); open(sys.argv[3], "wb").write(m)' \
    fuzz/crashes/gpt2/id_too_large_for_an_integer "$TMP/vocab.json" "$TMP/merges.txt"
expect_fail "a GPT-2 vocabulary id of 7.7e19 is refused as no integer (its conversion was undefined behaviour)" \
    "the id is not an integer" sh -c "echo hi | $NG tokenize --tokenizer gpt2 --vocab '$TMP/vocab.json' --merges '$TMP/merges.txt'"
mkdir -p "$TMP/pics"
tail -c +3 fuzz/crashes/image/jpeg_dht_over_256_symbols > "$TMP/pics/a.jpg"   # the harness's 2 option bytes off
expect_fail "a JPEG whose Huffman table has more than 256 symbols is refused before stb_image decodes it" \
    "more than 256 symbols" $NG train ae --data "$TMP/pics" --out "$TMP/run" --epochs 1 --image-size 4
mkdir -p "$TMP/bmp" "$TMP/idx"
tail -c +3 fuzz/crashes/image/bmp_11000x11000_in_54_bytes > "$TMP/bmp/a.bmp"
expect_fail "a 54-byte BMP claiming 11000x11000 pixels is refused before decoding (was 1.8 GB)" \
    "more than 456192 pixels for a 54-byte file" $NG train ae --data "$TMP/bmp" --out "$TMP/run" --epochs 1 --image-size 4
tail -c +4 fuzz/crashes/idx/gzip_header_claims_1e9_pixels > "$TMP/idx/train-images-idx3-ubyte.gz"
expect_fail "a 29-byte gzip IDX claiming 1e9 pixels is refused before allocating (was 3.9 GB)" \
    "more than 29 bytes of gzip data can hold" $NG train ae --data "$TMP/idx" --out "$TMP/run" --epochs 1
mkdir -p "$TMP/bmp0"
tail -c +3 fuzz/crashes/image/bmp_height_0_division_by_zero > "$TMP/bmp0/a.bmp"
expect_fail "a BMP of height 0 is refused (was a division by zero, SIGFPE)" "has no pixels (720901x0)" \
    $NG train ae --data "$TMP/bmp0" --out "$TMP/run" --epochs 1 --image-size 4
mkdir -p "$TMP/png"
tail -c +3 fuzz/crashes/image/png_idat_length_1.4GB > "$TMP/png/a.png"
expect_fail "a PNG chunk longer than the file is refused before stb_image allocates it" \
    "a chunk claims more bytes than the file holds" $NG train ae --data "$TMP/png" --out "$TMP/run" --epochs 1 --image-size 4
printf 'P5 4 4 255\n0123456789abcdef' > "$TMP/png/a.png"
expect_fail "a PGM named .png is refused: only PNG, JPEG, BMP and GIF reach stb_image" \
    "not a PNG, JPEG, BMP or GIF file" $NG train ae --data "$TMP/png" --out "$TMP/run" --epochs 1 --image-size 4
finish
