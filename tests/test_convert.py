#!/usr/bin/env python3
"""nanogen import / export against PyTorch implementations of the two outside layouts, with no
nanogen code on the Python side (json + numpy + torch; safetensors written and read by hand).

1. A small random GPT in each layout, written by PyTorch: Hugging Face's GPT2LMHeadModel
   (transformer.h.N.attn.c_attn.weight as Conv1D (in, out), attn.bias / attn.masked_bias buffers,
   lm_head tied; gelu_new or gelu) and nanoGPT's (nn.Linear (out, in), bias=True or False, the
   exact GELU, lm_head tied), config.json beside it. `nanogen import` gives a checkpoint whose
   logits (tests/tools/lm_logits) equal the layout's own PyTorch forward (max |diff| <= 1e-5 x
   max |logit|) and whose greedy tokens (`nanogen sample --temperature 0`) equal its greedy
   decoding. F16 weights import with a note.
2. export -> import round-trips bit-exactly: every tensor and the config, both layouts.
3. Bad input, each a clear error naming the file and the entry: config.json disagreeing with
   the tensors, a missing tensor, a misshapen one, a wrong dtype, a truncated file, a .pt file,
   no heads, an untied lm_head, an unknown activation.
Prints "N passed, N failed".
"""
import json, math, os, shutil, subprocess, sys, tempfile, zlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngtest  # noqa: E402
from ngtest import check, read_safetensors, write_safetensors, BUILD, NANOGEN  # noqa: E402

NAME = "tests/test_convert.py"
ngtest.need_torch(NAME)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

torch.set_num_threads(1)
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll: Speak, speak! Zounds? yes; quick-jump.\n"
CHARS = sorted(set(TEXT))
V, T, L, H, C = len(CHARS), 24, 2, 4, 32


def random_weights(layout, bias, seed):
    """{name: tensor} of a random GPT in the layout: 'hf' (Conv1D, in x out) or 'nanogpt'."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std
    p = "transformer."
    w = {p + "wte.weight": rnd(V, C, std=0.5), p + "wpe.weight": rnd(T, C, std=0.2)}
    for l in range(L):
        h = f"{p}h.{l}."
        for ln in ("ln_1", "ln_2"):
            w[h + ln + ".weight"] = 1 + rnd(C, std=0.1)
            if bias:
                w[h + ln + ".bias"] = rnd(C, std=0.1)
        for name, i, o in (("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C), ("mlp.c_fc", C, 4 * C), ("mlp.c_proj", 4 * C, C)):
            w[h + name + ".weight"] = rnd(i, o, std=1 / math.sqrt(i)) if layout == "hf" else rnd(o, i, std=1 / math.sqrt(i))
            if bias:
                w[h + name + ".bias"] = rnd(o, std=0.1)
    w[p + "ln_f.weight"] = 1 + rnd(C, std=0.1)
    if bias:
        w[p + "ln_f.bias"] = rnd(C, std=0.1)
    return w


def forward(w, layout, gelu, idx):
    """The layout's GPT (GPT-2's block: pre-LayerNorm, causal attention, MLP; tied head): logits (T, V)."""
    p = "transformer."

    def lin(x, name):
        W, b = w[name + ".weight"], w.get(name + ".bias")
        y = x @ W if layout == "hf" else x @ W.t()   # Conv1D: x W + b; nn.Linear: x W^T + b
        return y + b if b is not None else y

    def ln(x, name):
        return F.layer_norm(x, (C,), w[name + ".weight"], w.get(name + ".bias"), 1e-5)
    n = len(idx)
    x = w[p + "wte.weight"][idx] + w[p + "wpe.weight"][:n]
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    for l in range(L):
        h = f"{p}h.{l}."
        q, k, v = lin(ln(x, h + "ln_1"), h + "attn.c_attn").split(C, dim=-1)
        q, k, v = (t.reshape(n, H, C // H).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(1, 2)) / math.sqrt(C // H)
        y = torch.softmax(att.masked_fill(mask, float("-inf")), -1) @ v
        x = x + lin(y.transpose(0, 1).reshape(n, C), h + "attn.c_proj")
        f = lin(ln(x, h + "ln_2"), h + "mlp.c_fc")
        x = x + lin(F.gelu(f, approximate="tanh" if gelu == "tanh" else "none"), h + "mlp.c_proj")
    return ln(x, p + "ln_f") @ w[p + "wte.weight"].t()


def greedy(w, layout, gelu, ids, n):
    ids = list(ids)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(forward(w, layout, gelu, ids[-T:])[-1].argmax()))
    return ids


def write_layout(d, layout, bias, gelu, seed, dtype="F32", config=True):
    """The model as PyTorch-side files: model.safetensors (+ buffers, lm_head) and config.json."""
    os.makedirs(d, exist_ok=True)
    w = random_weights(layout, bias, seed)
    out = {k: v.numpy() for k, v in w.items()}
    out["lm_head.weight"] = out["transformer.wte.weight"]
    if layout == "hf":   # GPT2Attention's buffers
        for l in range(L):
            out[f"transformer.h.{l}.attn.bias"] = np.tril(np.ones((T, T), np.float32)).reshape(1, 1, T, T)
            out[f"transformer.h.{l}.attn.masked_bias"] = np.array(-1e4, np.float32)
        cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": T, "n_ctx": T,
               "n_embd": C, "n_layer": L, "n_head": H, "activation_function": "gelu_new" if gelu == "tanh" else "gelu",
               "layer_norm_epsilon": 1e-5, "n_inner": None, "resid_pdrop": 0.0}
    else:
        cfg = {"block_size": T, "vocab_size": V, "n_layer": L, "n_head": H, "n_embd": C, "dropout": 0.0, "bias": bias}
        if gelu == "tanh":   # nanogen's export of a tanh-GELU model says so
            cfg["gelu"] = "tanh"
    write_safetensors(os.path.join(d, "model.safetensors"), out, {"format": "pt"}, dtype=dtype)
    if config:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
    if dtype != "F32":   # what nanogen reads: the stored values
        w = {k: torch.from_numpy(v.astype("<f2").astype(np.float32)) for k, v in out.items() if k in w}
    return w, cfg


def run(*args):
    r = subprocess.run([NANOGEN, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def nanogen_logits(ckpt, ids, tmp):
    out = os.path.join(tmp, "logits.safetensors")
    r = subprocess.run([os.path.join(BUILD, "tests", "tools", "lm_logits"), ckpt, out, *map(str, ids)], capture_output=True, text=True)
    check(r.returncode == 0, "lm_logits: " + r.stderr)
    return read_safetensors(out)[0]["logits"] if r.returncode == 0 else None


def same_model(tmp, layout, bias, gelu, dtype="F32"):
    fmt = "hf-gpt2" if layout == "hf" else "nanogpt"
    what = f"{fmt} bias={bias} gelu={gelu} {dtype}"
    src, ck = os.path.join(tmp, "src"), os.path.join(tmp, "ck")
    shutil.rmtree(src, ignore_errors=True)
    w, _ = write_layout(src, layout, bias, gelu, seed=zlib.crc32(what.encode()) % 1000, dtype=dtype)
    chars = os.path.join(tmp, "chars.txt")
    with open(chars, "w") as f:
        f.write(TEXT)
    rc, out, err = run("import", src, "--format", fmt, "--out", ck, "--chars", chars, "--force")
    check(rc == 0, f"{what}: import: {err}")
    if rc:
        return
    if dtype != "F32":
        check("F16/BF16 weights converted to F32" in err, f"{what}: a note for F16: {err}")
    meta = read_safetensors(os.path.join(ck, "model.safetensors"))[1]
    cfg = json.loads(meta["config"])
    check(cfg.get("gelu", "tanh") == gelu and cfg.get("bias", True) == (bias or layout == "hf"), f"{what}: config {cfg}")
    stoi = {c: i for i, c in enumerate(CHARS)}
    ids = [stoi[c] for c in TEXT[:T]]
    lg = nanogen_logits(ck, ids, tmp)
    with torch.no_grad():
        ref = forward(w, layout, gelu, ids).numpy()
    if lg is not None:
        d = float(np.abs(lg - ref).max()) / float(np.abs(ref).max())
        check(d <= 1e-5, f"{what}: logits max |diff| / max |logit| = {d:.2e}")
        print(f"{what}: logits max |diff| = {d:.1e} x max |logit|")
    prompt = "First Ci"
    want = greedy(w, layout, gelu, [stoi[c] for c in prompt], 40)
    rc, out, err = run("sample", ck, "--temperature", "0", "--tokens", "40", "--prompt", prompt, "--threads", "1", "--exact-context")
    want_text = "".join(CHARS[i] for i in want)
    check(rc == 0 and out.rstrip("\n") == want_text.rstrip("\n"), f"{what}: greedy tokens\n nanogen {out!r}\n torch   {want_text!r}")


def round_trip(tmp, fmt, bias, gelu):
    what = f"round trip {fmt} bias={bias} gelu={gelu}"
    data = os.path.join(tmp, "corpus.txt")
    with open(data, "w") as f:
        f.write(TEXT * 40)
    ck, ex, back = (os.path.join(tmp, x) for x in ("rt_ck", "rt_ex", "rt_back"))
    flags = ["--gelu", gelu] + ([] if bias else ["--no-bias"])
    rc, _, err = run("train", "gpt", "--data", data, "--out", ck, "--force", "--n-layer", "2", "--n-head", "2", "--n-embd", "16",
                     "--block-size", "16", "--batch-size", "4", "--steps", "3", "--eval-every", "0", "--no-final-eval", "--dropout", "0.1", *flags)
    check(rc == 0, f"{what}: train: {err}")
    rc, _, err = run("export", ck, "--format", fmt, "--out", ex)
    check(rc == 0, f"{what}: export: {err}")
    rc, _, err = run("import", ex, "--format", fmt, "--out", back, "--force")
    check(rc == 0, f"{what}: import: {err}")
    if rc:
        return
    a, ma = read_safetensors(os.path.join(ck, "model.safetensors"))
    b, mb = read_safetensors(os.path.join(back, "model.safetensors"))
    check(sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), f"{what}: tensors bit-identical")
    check(json.loads(ma["config"]) == json.loads(mb["config"]), f"{what}: config {ma['config']} vs {mb['config']}")
    check(json.loads(ma["tokenizer"]) == json.loads(mb["tokenizer"]), f"{what}: tokenizer")


def bad_inputs(tmp):
    chars = os.path.join(tmp, "chars.txt")
    with open(chars, "w") as f:
        f.write(TEXT)

    def case(what, layout, edit, want, extra=()):
        d = os.path.join(tmp, "bad")
        shutil.rmtree(d, ignore_errors=True)
        write_layout(d, layout, True, "tanh" if layout == "hf" else "exact", seed=5)
        target = edit(d)
        target = target if isinstance(target, str) else d
        rc, _, err = run("import", target, "--format", "hf-gpt2" if layout == "hf" else "nanogpt", "--out",
                         os.path.join(tmp, "bad_out"), "--force", "--chars", chars, *extra)
        print(f"  {what}: {err.strip()}")
        check(rc == 1 and all(s in err for s in want) and "\n" == err[-1] and err.count("\n") == 1,
              f"{what}: exit {rc}, {err.strip()!r} should name {want}")

    def edit_config(key, value):
        def f(d):
            p = os.path.join(d, "config.json")
            c = json.load(open(p))
            c[key] = value
            json.dump(c, open(p, "w"))
        return f

    def edit_tensors(fn):
        def f(d):
            p = os.path.join(d, "model.safetensors")
            t, meta = read_all(p)
            fn(t)
            write_safetensors(p, t, meta)
        return f

    def read_all(p):
        import struct
        raw = open(p, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        h = json.loads(raw[8:8 + n])
        meta = h.pop("__metadata__", {})
        return {k: np.frombuffer(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], "<f4").reshape(e["shape"])
                for k, e in h.items()}, meta

    case("config n_layer disagrees", "hf", edit_config("n_layer", 3), ["config.json", "'n_layer' is 3", "h.1"])
    case("config vocab disagrees", "nanogpt", edit_config("vocab_size", 50), ["config.json", "'vocab_size' is 50", "wte.weight"])
    case("config bias disagrees", "nanogpt", edit_config("bias", False), ["config.json", "'bias' is false", "c_attn.bias"])
    case("config n_head not dividing", "hf", edit_config("n_head", 5), ["config.json", "n_head 5"])
    case("unknown activation", "hf", edit_config("activation_function", "relu"), ["config.json", "activation_function 'relu'"])
    case("missing tensor", "hf", edit_tensors(lambda t: t.pop("transformer.h.1.mlp.c_fc.bias")),
         ["model.safetensors", "'transformer.h.1.mlp.c_fc.bias' is missing"])
    case("misshapen tensor", "nanogpt", edit_tensors(lambda t: t.__setitem__("transformer.h.0.attn.c_proj.weight", np.zeros((C, C + 1), np.float32))),
         ["model.safetensors", "'transformer.h.0.attn.c_proj.weight' has shape 32x33", "32x32"])
    case("transposed (Linear where Conv1D)", "hf", edit_tensors(lambda t: t.__setitem__("transformer.h.0.mlp.c_fc.weight", np.zeros((4 * C, C), np.float32))),
         ["model.safetensors", "'transformer.h.0.mlp.c_fc.weight' has shape 128x32", "32x128", "Conv1D"])
    case("extra tensor", "nanogpt", edit_tensors(lambda t: t.__setitem__("transformer.h.0.mlp.extra", np.zeros(3, np.float32))),
         ["model.safetensors", "unexpected tensor 'transformer.h.0.mlp.extra'"])
    case("untied lm_head", "nanogpt", edit_tensors(lambda t: t.__setitem__("lm_head.weight", np.ones((V, C), np.float32))),
         ["model.safetensors", "'lm_head.weight' is not tied"])
    case("I64 weight", "hf", edit_tensors(lambda t: t.__setitem__("transformer.h.0.ln_2.weight", np.ones(C, np.int64))),
         ["model.safetensors", "'transformer.h.0.ln_2.weight' has dtype I64"])

    def f64(d):
        p = os.path.join(d, "model.safetensors")
        raw = open(p, "rb").read()
        import struct
        n = struct.unpack("<Q", raw[:8])[0]
        h = json.loads(raw[8:8 + n])
        e = h["transformer.wpe.weight"]
        e["dtype"], e["shape"] = "F64", [e["shape"][0] // 2, e["shape"][1]]
        hb = json.dumps(h).encode()
        hb += b" " * (-len(hb) % 8)
        open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
    case("F64 dtype", "nanogpt", f64, ["model.safetensors", "'transformer.wpe.weight'", "unsupported dtype 'F64'"])

    def truncate(d):
        p = os.path.join(d, "model.safetensors")
        raw = open(p, "rb").read()
        open(p, "wb").write(raw[:len(raw) - 100])
    case("truncated file", "hf", truncate, ["model.safetensors", "truncated"])

    def pt(d):
        p = os.path.join(d, "ckpt.pt")
        torch.save({"model": {}}, p)
        return p
    case(".pt file", "nanogpt", pt, ["ckpt.pt", "never unpickles", "README"])

    def pt_dir(d):
        os.remove(os.path.join(d, "model.safetensors"))
        torch.save({}, os.path.join(d, "pytorch_model.bin"))
    case("a directory with pytorch_model.bin only", "hf", pt_dir, ["pytorch_model.bin", "never unpickles"])
    case("no heads", "nanogpt", lambda d: os.remove(os.path.join(d, "config.json")), ["--n-head"])
    case("--n-head against config", "nanogpt", lambda d: None, ["--n-head 2", "config.json says 4"], ("--n-head", "2"))
    def bad_json(d):
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write("{n_layer: 2")
    case("bad config JSON", "hf", bad_json, ["config.json", "not a JSON object"])
    # no config.json: --n-head gives the heads, the rest comes from the tensors
    d = os.path.join(tmp, "nocfg")
    shutil.rmtree(d, ignore_errors=True)
    write_layout(d, "nanogpt", False, "exact", seed=9, config=False)
    rc, out, err = run("import", os.path.join(d, "model.safetensors"), "--format", "nanogpt", "--out", os.path.join(tmp, "nocfg_out"),
                       "--force", "--chars", chars, "--n-head", str(H))
    check(rc == 0 and "no biases" in out and "exact GELU" in out, f"nanogpt without config.json, --n-head: {out} {err}")
    # a tokenizer that needs GPT-2's files when none is there
    rc, _, err = run("import", d, "--format", "nanogpt", "--out", os.path.join(tmp, "x"), "--n-head", "4")
    check(rc == 1 and "no tokenizer" in err and "--chars" in err, f"no tokenizer: {err}")


with tempfile.TemporaryDirectory() as tmp:
    for layout, bias, gelu in (("hf", True, "tanh"), ("hf", True, "exact"), ("nanogpt", True, "exact"), ("nanogpt", False, "exact"),
                               ("nanogpt", False, "tanh")):
        same_model(tmp, layout, bias, gelu)
    same_model(tmp, "hf", True, "tanh", dtype="F16")
    for fmt in ("hf-gpt2", "nanogpt"):
        for bias, gelu in ((True, "tanh"), (True, "exact"), (False, "exact")):
            if fmt == "hf-gpt2" and not bias:
                continue   # hf-gpt2 always has biases: zeros are exported (checked below)
            round_trip(tmp, fmt, bias, gelu)
    bad_inputs(tmp)
ngtest.finish(NAME)
