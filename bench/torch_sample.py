#!/usr/bin/env python3
"""PyTorch-style sampling, for make bench: the loop of nanoGPT's generate(), which re-runs the
whole cropped context (the last block_size tokens) through the model for every new token (no
KV cache). Uses shared/bench/torch_gpt.py's GPT with the baby config and a trained nanogen
checkpoint's weights when --checkpoint is given (read with json + numpy, no nanogen code).
Prints one JSON line: {"tok_per_s": ..., "tokens": ..., "threads": ...}.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import argparse, json, os, struct, sys, time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("NANOGEN_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))
import torch_gpt  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"]).copy())
    return out, header.get("__metadata__", {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", help="a nanogen run directory (model.safetensors)")
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=65)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    cfg = dict(vocab=a.vocab, block=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
    state = None
    if a.checkpoint:
        state, meta = read_safetensors(os.path.join(a.checkpoint, "model.safetensors"))
        cfg["vocab"] = state["wte.weight"].shape[0]
        cfg["block"] = state["wpe.weight"].shape[0]
        cfg["n_embd"] = state["wte.weight"].shape[1]
        cfg["n_layer"] = sum(1 for k in state if k.endswith("ln_1.weight"))
        if "config" in meta:
            cfg["n_head"] = json.loads(meta["config"]).get("n_head", cfg["n_head"])
    model = torch_gpt.GPT(cfg["vocab"], cfg["block"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"], 0.0)
    if state is not None:
        model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()}, strict=False)
    model.eval()
    idx = torch.zeros((1, 1), dtype=torch.long)
    with torch.no_grad():
        def gen(n):
            nonlocal idx
            for _ in range(n):
                logits, _ = model(idx[:, -cfg["block"]:])
                probs = torch.softmax(logits[:, -1, :], dim=-1)
                idx = torch.cat((idx, torch.multinomial(probs, 1)), dim=1)
        gen(cfg["block"])  # warm up and fill the context: every later token re-runs a full block
        t0 = time.perf_counter()
        gen(a.tokens)
        dt = time.perf_counter() - t0
    print(json.dumps({"tok_per_s": round(a.tokens / dt, 1), "tokens": a.tokens, "threads": a.threads}))


if __name__ == "__main__":
    main()
