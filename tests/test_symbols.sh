#!/bin/sh
# tests/test_symbols.sh - the library keeps to its own name space: every symbol libnanogen.so
# exports starts with ng_ (besides the linker's own: _init, _fini, _edata, _end, __bss_start),
# and so does every global symbol defined in libnanogen.a (a static library's globals meet the
# user's program: a `linear_forward` or `canvas_new` of ours would clash with theirs). No
# exceptions. The exports are exactly the NG_API functions of the public headers (nothing
# private leaks: ng_set_error, ng_sgemm, the ng__ internals); the shared library has its
# soname (libnanogen.so.0) and names the libraries it needs (OpenBLAS, OpenMP, libm), so a
# program links with -lnanogen alone. Run from anywhere: sh tests/test_symbols.sh.
NAME=tests/test_symbols.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
B=${BUILD:-build}
SO=$B/libnanogen.so
AR=$B/libnanogen.a
for f in "$SO" "$AR"; do
    if [ ! -e "$f" ]; then bad "library" "$f not found: run make first"; finish; fi
done
if ! command -v nm >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
    skip "binutils (nm, readelf) is not installed" "all of it"; finish
fi

# --- the shared library's exports
nm -D --defined-only "$SO" | awk 'NF >= 3 { print $3 } NF == 2 { print $2 }' | sed 's/@.*//' | sort -u > "$TMP/exported"
grep -v '^ng_' "$TMP/exported" | grep -vxE '_init|_fini|_edata|_end|__bss_start|_etext|__end__|__data_start|data_start' > "$TMP/foreign"
# make test SANITIZE=1: the sanitizers' instrumentation adds its own module symbols
[ "${NANOGEN_SANITIZE:-}" = 1 ] && { grep -vE '^(__asan|__odr_asan|__ubsan|__sanitizer|___asan)' "$TMP/foreign" > "$TMP/f2"; mv "$TMP/f2" "$TMP/foreign"; }
if [ -s "$TMP/foreign" ]; then
    bad "libnanogen.so exports only ng_ symbols" "$(wc -l < "$TMP/foreign") others: $(head -n 20 "$TMP/foreign" | tr '\n' ' ')"
else
    ok "libnanogen.so exports only ng_ symbols ($(wc -l < "$TMP/exported") of them)"
fi
grep -hoE '^NG_API [^(]*\bng_[a-z0-9_]+\(' include/nanogen/*.h | grep -oE 'ng_[a-z0-9_]+\($' | tr -d '(' | sort -u > "$TMP/declared"
check "the public headers declare NG_API functions" test -s "$TMP/declared"
grep '^ng_' "$TMP/exported" > "$TMP/exported_ng"
comm -23 "$TMP/declared" "$TMP/exported_ng" > "$TMP/missing"
comm -13 "$TMP/declared" "$TMP/exported_ng" > "$TMP/extra"
if [ -s "$TMP/missing" ]; then bad "every NG_API function is exported" "missing: $(head -n 20 "$TMP/missing" | tr '\n' ' ')"
else ok "every NG_API function is exported"; fi
if [ -s "$TMP/extra" ]; then bad "nothing but the NG_API functions is exported" "also: $(head -n 20 "$TMP/extra" | tr '\n' ' ')"
else ok "nothing but the NG_API functions is exported"; fi
for f in ng_set_error ng_sgemm ng_ref_sgemm ng_hash_uniform ng_atomic_open ng__gpt_build ng__train_emit; do
    if grep -qx "$f" "$TMP/exported"; then bad "$f stays inside libnanogen.so" "exported"; else ok "$f stays inside libnanogen.so"; fi
done

# --- the static library's globals
nm -g --defined-only "$AR" 2>/dev/null | awk 'NF == 1 && /:$/ { obj = $1 } NF >= 3 { print obj " " $3 }' > "$TMP/globals"
check "libnanogen.a defines global symbols" test -s "$TMP/globals"
awk '$2 !~ /^ng_/' "$TMP/globals" > "$TMP/foreign_a"
[ "${NANOGEN_SANITIZE:-}" = 1 ] && { grep -vE ' (__asan|__odr_asan|__ubsan|__sanitizer|___asan)' "$TMP/foreign_a" > "$TMP/f2"; mv "$TMP/f2" "$TMP/foreign_a"; }
if [ -s "$TMP/foreign_a" ]; then
    bad "every global symbol of libnanogen.a starts with ng_" "$(wc -l < "$TMP/foreign_a") do not, in $(awk '{ print $1 }' "$TMP/foreign_a" | sort -u | tr '\n' ' ')e.g. $(awk '{ print $2 }' "$TMP/foreign_a" | head -n 8 | tr '\n' ' ')"
else
    ok "every global symbol of libnanogen.a starts with ng_ ($(wc -l < "$TMP/globals") of them)"
fi

# --- what the shared library says about itself
readelf -d "$SO" > "$TMP/dyn"
check "soname libnanogen.so.0" grep -q 'SONAME.*\[libnanogen.so.0\]' "$TMP/dyn"
for lib in libopenblas libgomp libm libcjson libz; do
    check "libnanogen.so names $lib as needed" grep -q "NEEDED.*\[$lib\.so" "$TMP/dyn"
done
check "libnanogen.so.0 is a link to the versioned file" test -L "$B/libnanogen.so.0" -a -f "$B/$(readlink "$B/libnanogen.so.0")"
finish
