#!/bin/sh
# tests/test_api.sh - the public API as a user meets it: the example at the top of
# include/nanogen.h (between "example begin" and "example end") is extracted, compiled with
# -Wall -Wextra -Werror against include/ and linked against the built libnanogen.so, then run:
# it trains a tiny GPT, saves and loads its checkpoint and prints sampled text. Each topic header
# (include/nanogen/*.h) compiles on its own, in C and C++ (when a C++ compiler is there); the
# library's internals (ng_set_error, the GEMMs, ng_hash_uniform, atomic writes) are not declared
# by the public headers. Run from anywhere: sh tests/test_api.sh.
NAME=tests/test_api.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
cc_setup

if [ ! -e "$B/libnanogen.so" ]; then bad "library" "$B/libnanogen.so not found: run make first"; finish; fi

# --- the example of nanogen.h
sed -n '/^ \* example begin$/,/^ \* example end$/p' include/nanogen.h | sed '1d;$d' | sed -E 's/^ \*( {3}|$)//' > "$TMP/example.c"
check "the example is in nanogen.h's top comment (example begin .. example end)" grep -q 'int main(void)' "$TMP/example.c"
check "the example uses the trainer, the checkpoint loader and the generator" \
    sh -c "grep -q ng_trainer_run '$TMP/example.c' && grep -q ng_checkpoint_load '$TMP/example.c' && grep -q ng_generator_next '$TMP/example.c'"
# shellcheck disable=SC2086
if expect_ok "the example compiles with -Wall -Wextra -Werror and links against libnanogen.so" \
    $CC -std=c11 -Wall -Wextra -Werror $SAN -I"$ROOT/include" "$TMP/example.c" -L"$B" -lnanogen -Wl,-rpath,"$B" -o "$TMP/example"; then
    mkdir -p "$TMP/run"
    if expect_ok "the example runs" sh -c 'cd "$1" && exec "$2"' sh "$TMP/run" "$TMP/example"; then
        check "the example printed sampled text" test "$(tr -d ' \n' < "$OUT" | wc -c)" -gt 20
        check "the example left its checkpoint (tiny-run/model.safetensors)" test -s "$TMP/run/tiny-run/model.safetensors"
    fi
    check "the program needs libnanogen.so.0 (the soname)" sh -c "readelf -d '$TMP/example' | grep -q 'NEEDED.*libnanogen.so.0'"
fi

# --- each topic header stands alone; the internals are not in the public headers
for h in core model io train generate eval; do
    printf '#include <nanogen/%s.h>\nint main(void) { return 0; }\n' "$h" > "$TMP/h_$h.c"
    # shellcheck disable=SC2086
    expect_ok "nanogen/$h.h compiles on its own" $CC -std=c11 -Wall -Wextra -Werror -pedantic -I"$ROOT/include" -c "$TMP/h_$h.c" -o "$TMP/h_$h.o"
done
CXX=$(command -v c++ || command -v g++)
if [ -n "$CXX" ]; then
    printf '#include <nanogen.h>\nint main() { ng_rng r; ng_rng_seed(&r, 1); return ng_last_error() == nullptr; }\n' > "$TMP/cxx.cc"
    expect_ok "nanogen.h compiles as C++ (extern \"C\")" "$CXX" -Wall -Wextra -Werror -I"$ROOT/include" -c "$TMP/cxx.cc" -o "$TMP/cxx.o"
else
    skip "no C++ compiler" "nanogen.h as C++"
fi
for f in ng_set_error ng_sgemm ng_sgemm_blas ng_ref_sgemm ng_hash_uniform ng_atomic_open ng_atomic_commit ng_sync_parent_dir ng_profile_add; do
    if grep -qw "$f" include/nanogen.h include/nanogen/*.h; then bad "$f is private" "a public header names it"; else ok "$f is private (in no public header)"; fi
done
check "every function of the public headers is marked NG_API" \
    sh -c "! grep -hE '^[a-z][^(]*[ *]ng_[a-z0-9_]+\\(' include/nanogen/*.h | grep -v '^NG_API ' | grep -q ."
finish
