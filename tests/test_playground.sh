#!/bin/sh
# tests/test_playground.sh - the playground (web/index.html, app.js, style.css, served at / by
# `nanogen serve`) in a real browser: trains a tiny char GPT, a VAE with a 2-D latent and a GAN (a
# few steps / batches each), starts `nanogen serve` on them (--port 0, --api-key), runs
# tests/test_playground.js in Chromium through playwright-core and stops the server with SIGTERM.
# The JS test compares what the page shows with the API's own answers (tokens, their shading,
# the next-token chart before and after the temperature slider moves, the attention heat map,
# the image views' pictures byte for byte) and prints one "ok"/"FAIL" line per check.
# Needs node, the npm package playwright-core (in ${XDG_CACHE_HOME:-~/.cache}/nanogen/npm, as
# .ci/run installs it, or on node's own path), Chromium (/usr/bin/chromium-headless-shell or
# /usr/bin/chromium, or $NG_CHROMIUM) and a build with the serve command (libmicrohttpd);
# without one of them the whole test is skipped, saying which.
# NANOGEN_SCREENSHOTS=DIR: trains the models longer (a minute or two) and writes a screenshot of
# each view there (playground-text.png, -attention.png, -images.png: docs/ has them).
NAME=tests/test_playground.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

# ------------------------------------------------------------------ what the browser test needs
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/nanogen/npm/node_modules
NODE_PATH="$CACHE${NODE_PATH:+:$NODE_PATH}"; export NODE_PATH
CHROMIUM=${NG_CHROMIUM:-}
if [ -z "$CHROMIUM" ]; then
    for c in /usr/bin/chromium-headless-shell /usr/bin/chromium; do
        if [ -x "$c" ]; then CHROMIUM=$c; break; fi
    done
fi
if ! command -v node >/dev/null 2>&1; then
    skip "node is not installed (Debian's nodejs)" "the browser test"; finish
fi
if ! node -e 'require.resolve("playwright-core")' >/dev/null 2>&1; then
    skip "the npm package playwright-core is not installed (npm install --prefix ~/.cache/nanogen/npm playwright-core)" "the browser test"; finish
fi
if [ -z "$CHROMIUM" ] || [ ! -x "$CHROMIUM" ]; then
    skip "Chromium is not installed (Debian's chromium or chromium-headless-shell)" "the browser test"; finish
fi
# a build without libmicrohttpd answers any serve command with exit 2 saying so; a build with it
# refuses the missing model directory (so nothing is trained for a build that cannot serve)
run $NG serve "$TMP/no-such-model" --port 0
if grep -qi "microhttpd" "$ERR"; then
    skip "nanogen was built without libmicrohttpd (no serve command)" "the browser test"; finish
fi

# ------------------------------------------------------------------ tiny models
need_corpus
M=$TMP/models; mkdir -p "$M"
T1="--threads 1"
if [ -n "${NANOGEN_SCREENSHOTS:-}" ]; then   # pictures for the README: models that learnt a little
    mkdir -p "$NANOGEN_SCREENSHOTS" || { bad "screenshots" "cannot make $NANOGEN_SCREENSHOTS"; finish; }
    STEPS=600; VBATCHES=400; GBATCHES=150; T1=""
else
    STEPS=30; VBATCHES=20; GBATCHES=5
fi
expect_ok "train a tiny char GPT (2 layers, 2 heads, block 32, $STEPS steps)" \
    $NG train gpt --data "$SH" --out "$M/tiny-char" --n-layer 2 --n-head 2 --n-embd 48 --block-size 32 \
    --batch-size 16 --steps $STEPS --eval-every $STEPS --eval-iters 2 $T1

# pictures: Fashion-MNIST where it is installed, else a folder of 28x28 grey PNGs written here
if [ -n "${NG_FASHION:-}" ] || [ -d /usr/share/datasets/fashion-mnist ]; then
    PICS=${NG_FASHION:-fashion-mnist}; PICFLAGS=""
else
    PICS=$TMP/pics; PICFLAGS="--image-size 28 --channels 1"; mkdir -p "$PICS"
    "$PY" - "$PICS" <<'PYEOF' || bad "pictures" "python3 could not write the PNGs"
import sys
sys.path.insert(0, "tests")
from pngwrite import png
for i in range(200):   # a bright disc or square, of varying place and size, on black
    cx, cy, r = 8 + (i * 7) % 12, 8 + (i * 11) % 12, 3 + i % 6
    rows = [[220 if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r if i % 2 else abs(x - cx) <= r and abs(y - cy) <= r) else 10
             for x in range(28)] for y in range(28)]
    png("%s/pic%03d.png" % (sys.argv[1], i), 28, 28, rows)
PYEOF
fi
expect_ok "train a VAE with a 2-D latent ($VBATCHES batches)" \
    $NG train vae --data "$PICS" $PICFLAGS --out "$M/tiny-vae" --epochs 1 --max-batches $VBATCHES --latent 2 $T1
expect_ok "train a GAN ($GBATCHES batches)" \
    $NG train gan --data "$PICS" $PICFLAGS --out "$M/tiny-gan" --epochs 1 --max-batches $GBATCHES $T1

# a prompt from the corpus: its first line of 24 to 40 printable ASCII characters that starts
# with a capital letter (the model knows its characters; the last 64 tokens are the attention map)
PROMPT=$("$PY" -c 'import sys
for l in open(sys.argv[1], encoding="utf-8", errors="replace"):
    l = l.rstrip("\n")
    if 24 <= len(l) <= 40 and l[0].isupper() and all(" " <= c <= "~" for c in l):
        print(l); break' "$SH")
[ -n "$PROMPT" ] || PROMPT="The "

# ------------------------------------------------------------------ the server
KEY=playground-test-key
$NG serve "$M/tiny-char" "$M/tiny-vae" "$M/tiny-gan" --port 0 --api-key "$KEY" $T1 > "$TMP/serve.out" 2> "$TMP/serve.err" &
BG=$!
# its first stdout line: "nanogen serve: http://HOST:PORT/ (N models)"
URL=""
i=0
while [ $i -lt 600 ]; do
    URL=$(sed -n '1s|^nanogen serve: \(http://[^ ]*\) .*|\1|p' "$TMP/serve.out")
    [ -n "$URL" ] && break
    kill -0 "$BG" 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
done
if [ -z "$URL" ]; then
    cp "$TMP/serve.err" "$ERR"
    bad "nanogen serve --port 0" "no 'nanogen serve: http://HOST:PORT/ (N models)' line on stdout"; finish
fi
check "nanogen serve: its first line names 3 models" grep -q "(3 models)" "$TMP/serve.out"

# ------------------------------------------------------------------ the browser
set -- --url "$URL" --chromium "$CHROMIUM" --key "$KEY" --text tiny-char --vae tiny-vae --gan tiny-gan --prompt "$PROMPT"
[ -n "${NANOGEN_SCREENSHOTS:-}" ] && set -- "$@" --screenshots "$NANOGEN_SCREENSHOTS"
JS=$TMP/js.out
if command -v timeout >/dev/null 2>&1; then timeout -k 5 600 node tests/test_playground.js "$@" > "$JS" 2>&1
else node tests/test_playground.js "$@" > "$JS" 2>&1; fi
rc=$?
cat "$JS"
pass=$((pass + $(grep -c '^ok ' "$JS"))); fail=$((fail + $(grep -c '^FAIL ' "$JS")))
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$JS"; then
    : > "$ERR"; bad "node tests/test_playground.js" "exit $rc without a failed check (timed out or crashed)"
fi

# ------------------------------------------------------------------ SIGTERM
kill -TERM "$BG"
i=0
while kill -0 "$BG" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
cp "$TMP/serve.err" "$ERR"
if kill -0 "$BG" 2>/dev/null; then
    bad "nanogen serve: SIGTERM" "still running 30 s after SIGTERM"
else
    wait "$BG"; rc=$?; BG=""
    if [ "$rc" -eq 0 ]; then ok "nanogen serve: SIGTERM ends it (exit 0)"; else bad "nanogen serve: SIGTERM" "exit $rc"; fi
fi
finish
