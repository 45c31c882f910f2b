#!/usr/bin/env python3
"""nanogen vs the PyTorch reference GPT (tests/torch_ref.py) on the same weights.

1. gpt_dump writes a small GPT checkpoint and nanogen's logits, loss and parameter gradients
   for fixed batches (T = block size and T < block size); PyTorch loads the checkpoint with
   load_state_dict(strict=True) through a plain safetensors reader (json + numpy) and must
   agree to a relative error of 1e-4 on every tensor.
2. A checkpoint written by `nanogen train` loads into the reference model and gives the loss
   `nanogen eval` reports on the full val split.
Needs Debian's python3-torch and python3-numpy; prints "N passed, N failed".
"""
import json, math, os, re, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngtest  # noqa: E402
from ngtest import check, read_safetensors, rel_err  # noqa: E402

from ngtest import BUILD, NANOGEN  # noqa: E402

ngtest.need_torch("tests/test_torch.py")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch_ref  # noqa: E402


def torch_model(meta, tensors):
    cfg = json.loads(meta["config"])
    m = torch_ref.GPT(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"], 0.0,
                      cfg.get("gelu", "tanh"), cfg.get("bias", True))
    m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    m.eval()
    return m


def test_same_weights(options=()):
    """options: gpt_dump's "exact" (the exact GELU) and "nobias" (no biases)"""
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([os.path.join(BUILD, "tests", "tools", "gpt_dump"), d, *options], capture_output=True, text=True)
        check(r.returncode == 0, "gpt_dump ran: " + r.stderr)
        if r.returncode:
            return
        weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        check(meta.get("format") == "nanogen", "checkpoint metadata format")
        model = torch_model(meta, weights)
        cfg = json.loads(meta["config"])
        check(cfg.get("gelu", "tanh") == ("exact" if "exact" in options else "tanh") and
              cfg.get("bias", True) == ("nobias" not in options), f"config options {options}: {meta['config']}")
        for T in (16, 10):
            ref, _ = read_safetensors(os.path.join(d, f"ref_T{T}.safetensors"))
            idx = torch.from_numpy(ref["idx"].astype(np.int64))
            tgt = torch.from_numpy(ref["targets"].astype(np.int64))
            model.zero_grad()
            logits, loss = model(idx, tgt)
            loss.backward()
            e = rel_err(ref["logits"], logits.detach().numpy())
            check(e <= 1e-4, f"T={T} logits rel err {e:.2e}")
            e = abs(float(ref["loss"][0]) - loss.item()) / abs(loss.item())
            check(e <= 1e-4, f"T={T} loss {ref['loss'][0]} vs {loss.item()} rel err {e:.2e}")
            worst = ("", 0.0)
            for name, p in model.named_parameters():
                g = ref.get("grad." + name)
                check(g is not None, f"nanogen gradient for {name}")
                if g is None:
                    continue
                e = rel_err(g, p.grad.numpy())
                worst = max(worst, (name, e), key=lambda x: x[1])
                check(e <= 1e-4, f"T={T} grad {name} rel err {e:.2e}")
            print(f"{' '.join(options) or 'default'} T={T}: loss {loss.item():.6f}, logits rel err {rel_err(ref['logits'], logits.detach().numpy()):.1e}, "
                  f"worst gradient {worst[0]} rel err {worst[1]:.1e}")


def test_trained_checkpoint():
    data = ngtest.corpus()   # Tiny Shakespeare, or nanogen's sources without a copy of it
    nanogen = NANOGEN
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as dd:
        if os.environ.get("NANOGEN_SANITIZE") == "1":
            # make test SANITIZE=1: under ASan `nanogen eval` of the whole corpus (both splits) took
            # minutes of the suite's time; its first 100,000 characters check the same thing
            small = os.path.join(dd, "corpus.txt")
            with open(small, "w", encoding="utf-8") as f:
                f.write(open(data, encoding="utf-8").read()[:100000])
            data = small
        run = [nanogen, "train", "gpt", "--data", data, "--out", d, "--force", "--n-layer", "2", "--n-head", "2",
               "--n-embd", "32", "--block-size", "32", "--batch-size", "8", "--steps", "40", "--eval-every", "0",
               "--eval-iters", "2"]
        r = subprocess.run(run, capture_output=True, text=True)
        check(r.returncode == 0, "nanogen train: " + r.stderr[-500:])
        if r.returncode:
            return
        r = subprocess.run([nanogen, "eval", d, "--data", data], capture_output=True, text=True)
        check(r.returncode == 0, "nanogen eval: " + r.stderr)
        m = re.search(r"val loss ([0-9.]+)", r.stdout)
        check(m is not None, "eval prints val loss: " + r.stdout)
        if not m:
            return
        weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        model = torch_model(meta, weights)
        vocab = json.loads(meta["tokenizer"])["vocab"]
        text = open(data, encoding="utf-8").read()
        check(vocab == sorted(set(text)), "char vocabulary equals sorted(set(text))")
        stoi = {c: i for i, c in enumerate(vocab)}
        ids = np.array([stoi[c] for c in text], dtype=np.int64)
        val = ids[int(0.9 * len(ids)):]
        T = json.loads(meta["config"])["block_size"]
        # the same windows as nanogen eval: non-overlapping, every position with a next token once
        total, count = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(val) - 1, T * 64):
                chunk = val[s:s + T * 64 + 1]
                n = (len(chunk) - 1) // T
                if n:
                    x = torch.from_numpy(chunk[:n * T].reshape(n, T))
                    y = torch.from_numpy(chunk[1:n * T + 1].reshape(n, T))
                    _, loss = model(x, y)
                    total += loss.item() * n * T; count += n * T
                rest = len(chunk) - 1 - n * T
                if rest > 0:
                    x = torch.from_numpy(chunk[n * T:n * T + rest].reshape(1, rest))
                    y = torch.from_numpy(chunk[n * T + 1:n * T + 1 + rest].reshape(1, rest))
                    _, loss = model(x, y)
                    total += loss.item() * rest; count += rest
        torch_val = total / count
        ng_val = float(m.group(1))
        print(f"trained checkpoint: nanogen eval val loss {ng_val:.4f}, PyTorch on the same weights {torch_val:.4f}")
        check(abs(torch_val - ng_val) <= 2e-4, f"val loss nanogen {ng_val} vs torch {torch_val}")


test_same_weights()
test_same_weights(("exact",))
test_same_weights(("nobias",))
test_same_weights(("exact", "nobias"))
test_trained_checkpoint()
ngtest.finish("tests/test_torch.py")
