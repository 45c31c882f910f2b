#!/bin/sh
# tests/test_kill.sh - never lose a run: real training runs killed with SIGKILL at random
# moments (most land inside a checkpoint write: the GPT saves every step) must always leave a
# complete, loadable checkpoint (info, sample), ignore the torn temporary files, resume without
# losing the optimizer state, and, resumed again and again until the end, give bit-identical
# weights, optimizer moments and the same metrics.jsonl as a run never killed. GPT and VAE.
# The kill delays come from NG_KILL_SEED (printed; the date by default) to replay a failure.
# To hunt a rare failure: NG_KILL_COUNT=N kills per model (8 and 4 by default), NG_KILL_ONLY=gpt
# or vae, and NG_KILL_KEEP=DIR keeps the runs of a failing test there, e.g.
#   for i in $(seq 200); do NG_KILL_SEED=$i NG_KILL_COUNT=12 NG_KILL_ONLY=gpt NG_KILL_KEEP=/tmp/kill \
#       sh tests/test_kill.sh > /tmp/kill.log || break; done
NAME=tests/test_kill.sh
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
if [ -n "$NG_KILL_KEEP" ]; then
    trap 'if [ "$fail" -gt 0 ]; then mkdir -p "$NG_KILL_KEEP" && cp -r "$TMP" "$NG_KILL_KEEP/" && echo "runs kept in $NG_KILL_KEEP"; fi; cleanup' EXIT
fi
need_corpus
SEED=${NG_KILL_SEED:-$(date +%s)}
echo "kill delays from NG_KILL_SEED=$SEED"

# same_run A B: the two checkpoint directories hold the same tensors (model and optimizer)
# and the same metrics.jsonl, timings aside
same_run() {
    "$PY" - "$1" "$2" <<'EOF'
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None); return h, b[8 + n:]
def metrics(p):
    out = []
    for line in open(p, encoding="utf-8"):
        d = json.loads(line)
        for k in ("tok_per_s", "ms_per_step", "epoch_s", "img_per_s"): d.pop(k, None)
        out.append(d)
    return out
a, b = sys.argv[1], sys.argv[2]
bad = [f for f in ("model.safetensors", "optim.safetensors") if tensors(a + "/" + f) != tensors(b + "/" + f)]
ma, mb = metrics(a + "/metrics.jsonl"), metrics(b + "/metrics.jsonl")
if ma != mb:
    bad.append("metrics.jsonl")
    i = next((i for i in range(min(len(ma), len(mb))) if ma[i] != mb[i]), min(len(ma), len(mb)))
    print(f"metrics: {len(ma)} and {len(mb)} lines, first difference at line {i + 1}:")
    print("  never killed:", ma[i] if i < len(ma) else "(none)")
    print("  killed:      ", mb[i] if i < len(mb) else "(none)")
if bad: print("differ:", " ".join(bad))
sys.exit(1 if bad else 0)
EOF
}
# between A B: 1 when the model file's optim_t differs from optim.safetensors' t (killed between the two writes)
between() {
    "$PY" - "$1" <<'EOF'
import json, os, struct, sys
def meta(p):
    if not os.path.exists(p): return {}
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; return json.loads(b[8:8 + n]).get("__metadata__", {})
d = sys.argv[1]
print(1 if meta(d + "/model.safetensors").get("optim_t") != meta(d + "/optim.safetensors").get("t") else 0)
EOF
}
step_of() { $NG info "$1" 2>/dev/null | sed -n 's/^training *step \([0-9][0-9]*\) of.*/\1/p'; }

# loads DIR: the checkpoint loads (text: info; images: a sample picture)
loads() {
    if "$NG" info "$1" > /dev/null 2>&1; then return 0; fi
    "$NG" sample "$1" --out "$TMP/check.png" --n 4 --threads 1 > /dev/null 2>&1
}
# kill_loop NAME DIR N LO SPAN FRESH... -- RESUME...: start FRESH in the background, SIGKILL it
# after a random delay of LO..LO+SPAN s of training, check the checkpoint, continue with RESUME (FRESH again
# while none exists), N times. A kill before the first checkpoint is not counted: the fresh run starts again
# with the delay doubled (+0.2 s), up to 4N times, so that a slow machine (CI, sanitizers) still gets N kills
# of runs that have saved.
kill_loop() {
    _name=$1; _dir=$2; _n=$3; _lo=$4; _span=$5; shift 5
    _fresh=""; while [ "$1" != "--" ]; do _fresh="$_fresh $1"; shift; done; shift
    _resume="$*"
    _k=0; _tmp=0; _mid=0; _loaded=0
    _delays=$(awk -v s="$SEED" -v n="$_n" -v k="$_name" -v lo="$_lo" -v span="$_span" \
        'BEGIN { srand(s + length(k)); for (i = 0; i < n; i++) printf "%.3f ", lo + rand() * span }')
    _early=0; _slow=0   # kills before the first checkpoint: retried with a longer delay, whatever the machine's speed
    set -- $_delays
    while [ $# -gt 0 ]; do
        _d=$1
        if [ -s "$_dir/model.safetensors" ]; then _cmd="$_resume"; else _cmd="$_fresh"; fi
        [ $_slow -gt 0 ] && _d=$(awk -v d="$_d" -v s="$_slow" 'BEGIN { printf "%.3f", d * 2 ^ s + 0.2 * (2 ^ s - 1) }')
        $_cmd > "$TMP/bg.out" 2> "$TMP/bg.err" &
        BG=$!
        _i=0   # the delay counts from the start of training (data loaded), whatever the machine's load
        while [ $_i -lt 200 ] && ! grep -q "parameters" "$TMP/bg.out" 2>/dev/null && kill -0 "$BG" 2>/dev/null; do sleep 0.05; _i=$((_i + 1)); done
        sleep "$_d"
        kill -KILL "$BG" 2>/dev/null; wait "$BG" 2>/dev/null; BG=""
        grep -q "zero moments" "$TMP/bg.err" && bad "$_name: kill $((_k + 1)): resume kept the optimizer state" "$(cat "$TMP/bg.err")"
        if [ ! -s "$_dir/model.safetensors" ] && [ $_early -lt $((4 * _n)) ]; then   # killed before the first checkpoint
            _early=$((_early + 1)); _slow=$((_slow + 1)); continue
        fi
        _k=$((_k + 1)); shift
        [ -s "$_dir/model.safetensors" ] || continue
        _slow=0
        ls "$_dir"/*.tmp >/dev/null 2>&1 && _tmp=$((_tmp + 1))
        [ "$(between "$_dir")" = 1 ] && _mid=$((_mid + 1))
        _loaded=$((_loaded + 1))
        if loads "$_dir"; then ok "$_name: kill $_k (after ${_d}s): the checkpoint loads"
        else bad "$_name: kill $_k (after ${_d}s): the checkpoint loads" "$($NG info "$_dir" 2>&1 | head -n 2)"; fi
    done
    echo "$_name: $_k kills (and $_early before the first checkpoint, retried later), $_loaded with a checkpoint, $_tmp left a torn .tmp file, $_mid between the optimizer and model writes"
}

# ------------------------------------------------------------------ GPT: a checkpoint every step
if [ "${NG_KILL_ONLY:-gpt}" = gpt ]; then
NK=${NG_KILL_COUNT:-8}
TINY="--n-layer 1 --n-embd 32 --n-head 2 --block-size 32 --batch-size 8"
G="--data $SH $TINY --steps 300 --warmup 20 --log-every 7 --eval-every 1 --eval-iters 1 --threads 1"
expect_ok "gpt: the run never killed" $NG train gpt $G --out "$TMP/ga"
K=$TMP/gk
kill_loop gpt "$K" "$NK" 0 0.3 $NG train gpt $G --out "$K" --force -- $NG train --resume "$K" --threads 1
if expect_ok "gpt: info after the kills" $NG info "$K"; then
    check "gpt: ... a step > 0 was saved" test "$(step_of "$K")" -gt 0
fi
ls "$K"/*.tmp > /dev/null 2>&1 && check "gpt: a torn .tmp is never what info reads" sh -c '! grep -q "\.tmp" "$1"' sh "$OUT"
if expect_ok "gpt: sample from the last checkpoint" $NG sample "$K" --tokens 20 --seed 1 --threads 1; then
    check "gpt: ... gives text" test "$(wc -m < "$OUT")" -ge 20
fi
expect_ok "gpt: --resume to the end after the kills" $NG train --resume "$K" --threads 1
check "gpt: ... the optimizer state was kept (no zero-moment restart)" sh -c '! grep -q "zero moments" "$1"' sh "$ERR"
check "gpt: ... at step 300" test "$(step_of "$K")" = 300
check "gpt: killed $NK times and resumed = never killed (weights, moments, metrics)" same_run "$TMP/ga" "$K"
fi

# ------------------------------------------------------------------ VAE: a checkpoint every epoch
if [ "${NG_KILL_ONLY:-vae}" != vae ]; then
    :
elif [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    NK=${NG_KILL_COUNT:-4}
    V="--data fashion-mnist --epochs 30 --max-batches 3 --batch-size 32 --threads 1"
    expect_ok "vae: the run never killed" $NG train vae $V --out "$TMP/va"
    K=$TMP/vk
    kill_loop vae "$K" "$NK" 0.1 0.4 $NG train vae $V --out "$K" --force -- $NG train --resume "$K" --threads 1
    check "vae: a checkpoint survived the kills" test -s "$K/model.safetensors"
    expect_ok "vae: --resume to the end after the kills" $NG train --resume "$K" --threads 1
    check "vae: ... the optimizer state was kept (no zero-moment restart)" sh -c '! grep -q "zero moments" "$1"' sh "$ERR"
    check "vae: killed $NK times and resumed = never killed (weights, moments, metrics)" same_run "$TMP/va" "$K"
else
    skip "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)" "vae: killed and resumed"
fi
finish
