#!/bin/sh
# tests/test_examples.sh - nanogen as a user installs and uses it: make install into a staging
# DESTDIR (PREFIX=/usr/local) puts exactly the expected files there (the command, libnanogen.a,
# libnanogen.so.VERSION with its links, nanogen.h and nanogen/*.h, nanogen.pc) and make
# uninstall removes every one; make install PREFIX=<dir> gives a tree whose nanogen.pc builds
# both examples/ programs with `cc prog.c $(pkg-config --cflags --libs nanogen)` and nothing
# else (the shared library, run with LD_LIBRARY_PATH) and with `pkg-config --static` against
# libnanogen.a. examples/tiny_gpt.c trains a tiny GPT and prints sampled text;
# examples/vae_grid.c trains a VAE for 40 batches of Fashion-MNIST and writes a 466 x 466 grid
# PNG (skipped without dataset-fashion-mnist). Run from anywhere: sh tests/test_examples.sh.
NAME=tests/test_examples.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
cc_setup
if ! command -v pkg-config >/dev/null 2>&1; then skip "pkg-config is not installed" "all of it"; finish; fi
# make test SANITIZE=1: the nested make must build the same way (into the same build-san/)
MKSAN=""
[ "${NANOGEN_SANITIZE:-}" = 1 ] && MKSAN="SANITIZE=1"
# the make running this test (make test) passes its job server in MAKEFLAGS: not for this one
printf '#!/bin/sh\nexec env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "%s" BUILD="%s" %s "$@"\n' \
    "$ROOT" "$B" "$MKSAN" > "$TMP/mk"
chmod +x "$TMP/mk"
VERSION=$(sed -n 's/^#define NANOGEN_VERSION "\(.*\)"/\1/p' include/nanogen.h)

# --- staged install and uninstall
D=$TMP/stage
if expect_ok "make install DESTDIR=... PREFIX=/usr/local" "$TMP/mk" install DESTDIR="$D" PREFIX=/usr/local; then
    P=$D/usr/local
    (cd "$D" && find . ! -type d | sort) > "$TMP/installed"
    {
        echo ./usr/local/bin/nanogen
        for h in include/nanogen/*.h; do echo "./usr/local/$h"; done
        echo ./usr/local/include/nanogen.h
        echo ./usr/local/lib/libnanogen.a
        echo ./usr/local/lib/libnanogen.so
        echo ./usr/local/lib/libnanogen.so.0
        echo "./usr/local/lib/libnanogen.so.$VERSION"
        echo ./usr/local/lib/pkgconfig/nanogen.pc
    } | sort > "$TMP/expected"
    if cmp -s "$TMP/installed" "$TMP/expected"; then ok "install puts exactly the command, both libraries, the headers and nanogen.pc"
    else bad "install puts exactly the expected files" "$(diff "$TMP/expected" "$TMP/installed" | grep '^[<>]' | head -n 8 | tr '\n' ' ')"; fi
    check "libnanogen.so -> libnanogen.so.0 -> libnanogen.so.$VERSION" \
        test "$(readlink "$P/lib/libnanogen.so")" = libnanogen.so.0 -a "$(readlink "$P/lib/libnanogen.so.0")" = "libnanogen.so.$VERSION"
    check "nanogen.pc names PREFIX (not the staging directory)" grep -qx 'prefix=/usr/local' "$P/lib/pkgconfig/nanogen.pc"
    check "nanogen.pc has version $VERSION" sh -c "PKG_CONFIG_PATH='$P/lib/pkgconfig' pkg-config --modversion nanogen | grep -qx '$VERSION'"
    if expect_ok "make uninstall (same DESTDIR and PREFIX)" "$TMP/mk" uninstall DESTDIR="$D" PREFIX=/usr/local; then
        left=$(cd "$D" && find . ! -type d | head -n 5)
        check "uninstall leaves no file behind${left:+ (left: $left)}" test -z "$left"
        check "uninstall removes include/nanogen/" test ! -e "$P/include/nanogen"
    fi
fi

# --- an installed tree, and the examples built against it with pkg-config
P=$TMP/prefix
if ! expect_ok "make install PREFIX=<dir>" "$TMP/mk" install PREFIX="$P"; then finish; fi
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
CF=$(pkg-config --cflags --libs nanogen)
CS=$(pkg-config --static --cflags --libs nanogen | sed 's/-lnanogen\b/-Wl,-Bstatic -lnanogen -Wl,-Bdynamic/')
check "pkg-config --libs gives -lnanogen from PREFIX/lib" sh -c "echo '$CF' | grep -q -- '-L$P/lib -lnanogen'"
mkdir -p "$TMP/run"
for ex in tiny_gpt vae_grid; do
    # shellcheck disable=SC2086
    expect_ok "$ex.c builds with pkg-config --cflags --libs nanogen (shared)" \
        $CC -std=c11 -Wall -Wextra -Werror $SAN examples/$ex.c $CF -o "$TMP/${ex}_shared"
    check "$ex (shared) needs libnanogen.so.0" sh -c "readelf -d '$TMP/${ex}_shared' | grep -q 'NEEDED.*libnanogen.so.0'"
    # shellcheck disable=SC2086
    expect_ok "$ex.c builds with pkg-config --static against libnanogen.a" \
        $CC -std=c11 -Wall -Wextra -Werror $SAN examples/$ex.c $CS -o "$TMP/${ex}_static"
    check "$ex (static) does not need libnanogen.so" sh -c "! readelf -d '$TMP/${ex}_static' | grep -q 'NEEDED.*libnanogen'"
done

# tiny_gpt: trains, saves, loads, samples (the shared build; the static one must print the same)
if expect_ok "tiny_gpt runs (shared, LD_LIBRARY_PATH=PREFIX/lib)" env LD_LIBRARY_PATH="$P/lib" sh -c 'cd "$1" && exec "$2"' sh "$TMP/run" "$TMP/tiny_gpt_shared"; then
    sed -n '/^--- sample$/,$p' "$OUT" | sed 1d > "$TMP/sample_shared"
    check "tiny_gpt printed its training steps" grep -q '^step  200 of 200: loss' "$OUT"
    check "tiny_gpt printed a sample (starting with its prompt)" sh -c "test \$(wc -c < '$TMP/sample_shared') -gt 60 && head -c 4 '$TMP/sample_shared' | grep -qx 'the '"
    check "tiny_gpt saved its checkpoint" test -s "$TMP/run/tiny_gpt-run/model.safetensors"
fi
if expect_ok "tiny_gpt runs (static)" sh -c 'cd "$1" && exec "$2"' sh "$TMP/run" "$TMP/tiny_gpt_static"; then
    sed -n '/^--- sample$/,$p' "$OUT" | sed 1d > "$TMP/sample_static"
    check "tiny_gpt: the static and the shared build sample the same text" cmp -s "$TMP/sample_shared" "$TMP/sample_static"
fi

# vae_grid: one short epoch on Fashion-MNIST, a grid of samples
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "vae_grid runs" 4
else
    for kind in shared static; do
        rm -f "$TMP/run/vae_grid.png"
        if expect_ok "vae_grid runs ($kind)" env LD_LIBRARY_PATH="$P/lib" sh -c 'cd "$1" && exec "$2"' sh "$TMP/run" "$TMP/vae_grid_$kind"; then
            check "vae_grid ($kind) wrote a 466 x 466 PNG (8 x 8 samples of 28 x 28, zoom 2, 2-pixel borders)" size_is "$TMP/run/vae_grid.png" 466 466
        fi
    done
fi
finish
