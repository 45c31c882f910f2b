#!/usr/bin/env python3
"""make bench's GPT-2-small rows, PyTorch's side (beside build/bench/gpt2): shared/bench/torch_gpt.py's
GPT with GPT-2 small's shape (vocab 50257, context 1024, 12 layers, 12 heads, 768), random weights.
  torch_gpt2.py train --batch B --steps N --threads T   AdamW steps on random tokens (the first
                                                         not counted): ms/step, tok/s
  torch_gpt2.py sample --tokens N --threads T            one stream of greedy tokens with a KV cache
                                                         written the plain way (keys and values of
                                                         earlier positions concatenated per layer)
Prints one JSON line. Run with Debian's /usr/bin/python3 (python3-torch)."""
import argparse, json, math, os, sys, time

import torch
from torch.nn import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("NANOGEN_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))
import torch_gpt  # noqa: E402

V, T, L, H, C = 50257, 1024, 12, 12, 768


def step_cached(m, tok, pos, cache):
    """logits (V) of token tok at position pos; cache[l] = (k, v) of (H, pos, C/H), grown here"""
    x = m.wte.weight[tok] + m.wpe.weight[pos]
    hs = C // H
    for l, b in enumerate(m.h):
        q, k, v = b.c_attn(b.ln_1(x)).split(C)
        q, k, v = (z.view(H, 1, hs) for z in (q, k, v))
        if cache[l] is not None:
            k = torch.cat([cache[l][0], k], 1)
            v = torch.cat([cache[l][1], v], 1)
        cache[l] = (k, v)
        att = torch.softmax((q @ k.transpose(1, 2)) / math.sqrt(hs), -1)
        x = x + b.c_proj((att @ v).reshape(C))
        x = x + b.mlp_proj(F.gelu(b.c_fc(b.ln_2(x)), approximate="tanh"))
    return m.ln_f(x) @ m.wte.weight.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("train", "sample"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    m = torch_gpt.GPT(V, T, L, H, C, 0.0)
    if a.what == "train":
        opt = torch.optim.AdamW(m.parameters(), lr=6e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
        total = 0.0
        for s in range(a.steps + 1):   # step 0: warm-up, not counted
            x = torch.randint(0, V, (a.batch, T))
            y = torch.randint(0, V, (a.batch, T))
            t0 = time.perf_counter()
            _, loss = m(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            dt = time.perf_counter() - t0
            if s:
                total += dt
            print(f"torch_gpt2: step {s}: loss {loss.item():.4f}, {dt * 1e3:.0f} ms", file=sys.stderr)
        print(json.dumps({"ms_per_step": total / a.steps * 1e3, "tok_per_s": a.steps * a.batch * T / total,
                          "B": a.batch, "threads": a.threads}))
    else:
        m.eval()
        cache = [None] * L
        with torch.no_grad():
            tok = 50256
            step_cached(m, tok, 0, cache)   # warm-up
            cache = [None] * L
            t0 = time.perf_counter()
            for pos in range(a.tokens):
                tok = int(step_cached(m, tok, pos, cache).argmax())
            dt = time.perf_counter() - t0
        print(json.dumps({"tok_per_s": a.tokens / dt, "tokens": a.tokens, "threads": a.threads}))


if __name__ == "__main__":
    main()
