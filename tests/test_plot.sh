#!/bin/sh
# tests/test_plot.sh - `nanogen plot`: SVG charts of metrics.jsonl. Synthetic text-run and
# GAN-style files check the series, legend, axes, --keys, --x, --log-y, --title and --out;
# bad inputs (missing, empty, malformed, unknown key, unwritable output) must fail with a clear
# "nanogen: ..." error; and one real tiny training run is plotted. Every SVG must be
# well-formed XML. Run from anywhere: sh tests/test_plot.sh (uses ./nanogen).
NAME=tests/test_plot.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh


well_formed() { "$PY" -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null; }
# svg_has FILE N KEY...: N <polyline>s, and each KEY names a polyline (its <title>) and a
# legend entry (the text of a <text> in <g class="legend">)
svg_has() {
    "$PY" - "$@" <<'EOF'
import sys, xml.dom.minidom as m
f, n, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
d = m.parse(f)
pl = d.getElementsByTagName("polyline")
titles = [p.getElementsByTagName("title")[0].firstChild.data for p in pl if p.getElementsByTagName("title")]
legend = [g for g in d.getElementsByTagName("g") if g.getAttribute("class") == "legend"]
names = [t.firstChild.data.strip() for g in legend for t in g.getElementsByTagName("text") if t.firstChild and t.firstChild.nodeType == t.TEXT_NODE]
assert len(pl) == n, "%d polylines, expected %d (%s)" % (len(pl), n, titles)
for k in keys:
    assert k in titles, "no polyline for %s (%s)" % (k, titles)
    assert k in names, "no legend entry %s (%s)" % (k, names)
EOF
}
# svg_text FILE STRING: some <text> of FILE reads exactly STRING (entities decoded)
svg_text() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
texts = ["".join(c.data for c in t.childNodes if c.nodeType == c.TEXT_NODE) for t in d.getElementsByTagName("text")]
sys.exit(0 if sys.argv[2] in texts else 1)' "$1" "$2"
}
# npoints FILE KEY: the number of points of the polyline titled KEY
npoints() {
    "$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
for p in d.getElementsByTagName("polyline"):
    t = p.getElementsByTagName("title")
    if t and t[0].firstChild.data == sys.argv[2]: print(len(p.getAttribute("points").split()))' "$1" "$2"
}

# ------------------------------------------------------------------ synthetic files
R=$TMP/textrun
mkdir -p "$R"
"$PY" - "$R/metrics.jsonl" <<'EOF'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for s in range(0, 2001, 10):
        if s % 250 == 0:
            f.write(json.dumps({"step": s, "train_loss": 1.8 + 2.4 * math.exp(-s / 400), "val_loss": 1.9 + 2.4 * math.exp(-s / 400)}) + "\n")
        if s:
            f.write(json.dumps({"step": s, "loss": 1.8 + 2.4 * math.exp(-s / 400) + 0.1 * math.sin(s), "lr": 1e-3,
                                "tok_per_s": 25000, "ms_per_step": 30}) + "\n")
    f.write(json.dumps({"step": 2000, "full_val_loss": 1.90}) + "\n")
EOF
if expect_ok "text run: plot DIR" $NG plot "$R"; then
    S=$R/loss.svg
    check "text run: writes DIR/loss.svg" test -s "$S"
    check "text run: the SVG is well-formed XML" well_formed "$S"
    check "text run: a polyline and a legend entry per series (loss, train_loss, val_loss, full_val_loss)" \
        svg_has "$S" 4 loss train_loss val_loss full_val_loss
    check "text run: the title is the run directory's name" svg_text "$S" textrun
    check "text run: x axis titled step, y axis loss" sh -c 'grep -q ">step</text>" "$1" && grep -q ">loss</text>" "$1"' sh "$S"
    check "text run: nice x ticks (0, 500, 1000, 1500, 2000)" sh -c 'for t in 0 500 1000 1500 2000; do grep -q ">$t</text>" "$1" || exit 1; done' sh "$S"
    check "text run: lr, tok_per_s, ms_per_step not drawn by default" sh -c '! grep -qE "<title>(lr|tok_per_s|ms_per_step)</title>" "$1"' sh "$S"
    check "text run: noisy loss thin and light, evaluations with markers" \
        sh -c 'grep -q "stroke-width=\"1.00\" stroke-opacity" "$1" && grep -q "<circle" "$1"' sh "$S"
    check "text run: no temporary file left" sh -c '! ls "$1" | grep -q tmp' sh "$R"
    check "text run: self-contained (no external references)" sh -c '! grep -qE "href|@import|url\(http" "$1"' sh "$S"
fi
expect_ok "text run: DIR/metrics.jsonl accepted, --out elsewhere" $NG plot "$R/metrics.jsonl" --out "$TMP/direct.svg"
check "text run: --out FILE written" well_formed "$TMP/direct.svg"
if expect_ok "--keys val_loss,lr" $NG plot "$R" --keys val_loss,lr --out "$TMP/keys.svg"; then
    check "--keys: exactly the keys asked for" svg_has "$TMP/keys.svg" 2 val_loss lr
    check "--keys: train_loss left out" sh -c '! grep -q "train_loss" "$1"' sh "$TMP/keys.svg"
fi
if expect_ok "--log-y and --title with & < >" $NG plot "$R" --log-y --title 'a & b <c>' --out "$TMP/log.svg"; then
    check "--log-y: well-formed, all four series" svg_has "$TMP/log.svg" 4 loss train_loss val_loss full_val_loss
    check "--title: escaped and shown as given" svg_text "$TMP/log.svg" 'a & b <c>'
    check "--log-y: the axis says so" grep -q "log scale" "$TMP/log.svg"
fi

# GAN-style: per-epoch lines with losses and D outputs
G=$TMP/gan
mkdir -p "$G"
"$PY" - "$G/metrics.jsonl" <<'EOF'
import json, math, sys
with open(sys.argv[1], "w") as f:
    for e in range(1, 21):
        f.write(json.dumps({"epoch": e, "d_loss": 1.3 - 0.3 * math.exp(-e / 5), "g_loss": 0.8 + 0.6 * (1 - math.exp(-e / 6)),
                            "d_real": 0.5 + 0.3 * math.exp(-e / 8), "d_fake": 0.5 - 0.2 * math.exp(-e / 8)}) + "\n")
EOF
if expect_ok "GAN run: plot (x = epoch)" $NG plot "$G"; then
    S=$G/loss.svg
    check "GAN run: well-formed" well_formed "$S"
    check "GAN run: d_loss, g_loss, d_real, d_fake" svg_has "$S" 4 d_loss g_loss d_real d_fake
    check "GAN run: x axis is epoch" svg_text "$S" epoch
    check "GAN run: D(x) and D(G(z)) on a right axis, dashed" \
        sh -c 'grep -q "D(x), D(G(z))" "$1" && grep -q "stroke-dasharray" "$1"' sh "$S"
fi
if expect_ok "GAN run: --keys d_real,d_fake (probabilities alone)" $NG plot "$G" --keys d_real,d_fake --out "$TMP/d.svg"; then
    check "GAN run: two probability series" svg_has "$TMP/d.svg" 2 d_real d_fake
fi
# image run: per-step lines plus per-epoch train/test lines
I=$TMP/image
mkdir -p "$I"
"$PY" - "$I/metrics.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for e in range(1, 4):
        for s in range(1, 11):
            f.write(json.dumps({"step": (e - 1) * 10 + s, "d_loss": 1.0 / s, "g_loss": 2.0 / s}) + "\n")
        f.write(json.dumps({"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.1 / e}) + "\n")
EOF
if expect_ok "image run: default x = step" $NG plot "$I" --out "$TMP/i1.svg"; then
    check "image run: per-step series drawn" svg_has "$TMP/i1.svg" 2 d_loss g_loss
    check "image run: warns that epoch lines were left out, suggests --x epoch" err_has "--x epoch"
fi
if expect_ok "image run: --x epoch" $NG plot "$I" --x epoch --out "$TMP/i2.svg"; then
    check "image run: train_loss and test_loss by epoch" svg_has "$TMP/i2.svg" 2 train_loss test_loss
fi
# a resumed run logs steps again: the later records win, the line never goes back
RS=$TMP/resumed
mkdir -p "$RS"
printf '%s\n' '{"step":10,"loss":3.0}' '{"step":20,"loss":2.8}' '{"step":30,"loss":2.7}' \
    '{"step":20,"loss":2.75}' '{"step":30,"loss":2.6}' '{"step":40,"loss":2.5}' > "$RS/metrics.jsonl"
if expect_ok "resumed run: plot" $NG plot "$RS"; then
    check "resumed run: 4 points (repeated steps replaced)" test "$(npoints "$RS/loss.svg" loss)" = 4
fi
# a few malformed lines (a torn last line, garbage): skipped with a warning
M=$TMP/some-bad
mkdir -p "$M"
printf '%s\n' '{"step":1,"loss":3.0}' 'garbage' '{"step":2,"loss":2.8}' '' '[1,2]' > "$M/metrics.jsonl"
printf '{"step":3,"lo' >> "$M/metrics.jsonl"
if expect_ok "malformed lines: skipped" $NG plot "$M"; then
    check "malformed lines: warning counts them (3)" err_has "skipped 3 malformed"
    check "malformed lines: the good ones plotted" test "$(npoints "$M/loss.svg" loss)" = 2
fi
# many points: thinned to the envelope, the file stays small
BIG=$TMP/big
mkdir -p "$BIG"
"$PY" -c 'import json, math, sys
with open(sys.argv[1], "w") as f:
    for s in range(1, 100001): f.write(json.dumps({"step": s, "loss": 2 + math.exp(-s / 1e4) + 0.2 * math.sin(s * 0.37)}) + "\n")' "$BIG/metrics.jsonl"
if expect_ok "100k points: plot" $NG plot "$BIG"; then
    check "100k points: SVG under 200 kB" test "$(wc -c < "$BIG/loss.svg")" -lt 200000
    check "100k points: well-formed" well_formed "$BIG/loss.svg"
fi

# ------------------------------------------------------------------ errors
E=$TMP/errors
mkdir -p "$E/empty" "$E/blank" "$E/allbad" "$E/nolosses" "$E/nox" "$E/nodir"
: > "$E/empty/metrics.jsonl"
printf '\n\n' > "$E/blank/metrics.jsonl"
printf '%s\n' 'not json' '{"step":1,' '"text"' > "$E/allbad/metrics.jsonl"
printf '%s\n' '{"step":1,"lr":0.1}' '{"step":2,"lr":0.2}' > "$E/nolosses/metrics.jsonl"
printf '%s\n' '{"loss":1}' '{"loss":2}' > "$E/nox/metrics.jsonl"
expect_fail "error: missing metrics file" "cannot open|no such" $NG plot "$E/nodir"
expect_fail "error: missing directory" "cannot open|no such" $NG plot "$TMP/does-not-exist"
expect_fail "error: empty metrics file" "empty" $NG plot "$E/empty"
expect_fail "error: blank metrics file" "empty" $NG plot "$E/blank"
expect_fail "error: every line malformed" "malformed" $NG plot "$E/allbad"
expect_fail "error: unknown --keys key" "unknown key 'nope'" $NG plot "$R" --keys loss,nope
expect_fail "error: no loss series" "no loss series" $NG plot "$E/nolosses"
expect_ok "no loss series, but --keys lr plots it" $NG plot "$E/nolosses" --keys lr --out "$TMP/lr.svg"
expect_fail "error: no step or epoch" "step" $NG plot "$E/nox"
expect_fail "error: --x epoch on a file without epochs" "epoch" $NG plot "$R" --x epoch --out "$TMP/x.svg"
expect_fail "error: --x time" "--x" $NG plot "$R" --x time
expect_fail "error: unknown flag" "unknown flag" $NG plot "$R" --colour red
expect_fail "error: no DIR" "usage" $NG plot
expect_fail "error: --out in a missing directory" "cannot write" $NG plot "$R" --out "$TMP/no/such/dir/x.svg"
mkdir -p "$TMP/adir"
expect_fail "error: --out is a directory" "is a directory" $NG plot "$R" --out "$TMP/adir"
check "error: no temporary file left behind" test ! -e "$TMP/adir.tmp"
# --out names an SVG, like the other commands that write one (embeddings, sample --scatter):
# another extension is a usage error (exit 2) naming the flag and .svg, and nothing is written
run $NG plot "$R" --out "$TMP/chart.png"; _rc=$?
check "error: --out chart.png: exit 2 (a usage error), got $_rc" test "$_rc" -eq 2
check "error: --out chart.png: the error names --out and .svg" sh -c 'grep "^nanogen:" "$1" | grep -F -- "--out" | grep -qF ".svg"' sh "$ERR"
check "error: --out chart.png: nothing written" test ! -e "$TMP/chart.png"
expect_ok "--out with an upper-case .SVG" $NG plot "$R" --out "$TMP/upper.SVG"
cp "$R/loss.svg" "$TMP/keep.svg"
run $NG plot "$E/allbad" --out "$R/loss.svg"
check "error: a failed plot leaves the previous SVG as it was" cmp -s "$R/loss.svg" "$TMP/keep.svg"

# ------------------------------------------------------------------ a real run
need_corpus
T=$TMP/tiny
if expect_ok "real run: train gpt, 40 steps" $NG train gpt --data "$SH" --out "$T" --n-layer 1 --n-embd 32 --n-head 2 \
        --block-size 32 --batch-size 8 --steps 40 --eval-every 10 --eval-iters 2 --threads 1; then
    if expect_ok "real run: plot" $NG plot "$T"; then
        check "real run: well-formed" well_formed "$T/loss.svg"
        check "real run: loss, train_loss, val_loss, full_val_loss" svg_has "$T/loss.svg" 4 loss train_loss val_loss full_val_loss
        check "real run: title tiny" svg_text "$T/loss.svg" tiny
        if command -v rsvg-convert >/dev/null 2>&1; then
            check "real run: rsvg-convert renders it" rsvg-convert "$T/loss.svg" -o "$TMP/loss.png"
        else
            skip "rsvg-convert is not installed (apt-get install librsvg2-bin)" "real run: rsvg-convert renders it"
        fi
    fi
fi
finish
