#!/usr/bin/env python3
"""Checkpoints between nanogen and PyTorch, both ways, with no nanogen code on the Python side
(json + numpy + the reference GPT of tests/torch_ref.py).

1. PyTorch -> nanogen: a reference GPT with random weights (torch.manual_seed) is written from
   its state_dict as a plain safetensors file (the format of DEVELOPERS.md, "Writing a
   checkpoint from PyTorch"); `nanogen sample --temperature 0` must give the same 100 greedy
   tokens as the model's own greedy decoding (within the block size, and past it with
   --exact-context). Also: tensors in another order with gaps between them, F16 and BF16
   tensors (nanogen converts them; PyTorch decodes with the same rounded weights), and clear
   errors for an extra tensor, a missing one, a wrong shape and missing metadata.
2. nanogen -> PyTorch: a checkpoint written by `nanogen train` loads into the reference model
   (load_state_dict strict) and its greedy decoding equals `nanogen sample --temperature 0`.
Prints "N passed, N failed".
"""
import json, os, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngtest  # noqa: E402
from ngtest import check, read_safetensors, write_safetensors  # noqa: E402

from ngtest import NANOGEN  # noqa: E402

NAME = "tests/test_interop.py"
ngtest.need_torch(NAME)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_ref import GPT  # noqa: E402

torch.set_num_threads(1)


def as_stored(a, dtype):
    """The F32 values nanogen reads back from a tensor stored as dtype."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F16":
        return a.astype("<f2").astype(np.float32)
    if dtype == "BF16":
        u = a.view(np.uint32).astype(np.uint64)
        return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    return a


def greedy(model, ids, n, block):
    """The reference's greedy decoding (nanoGPT's: crop the context to the block size)."""
    idx = torch.tensor([ids], dtype=torch.long)
    margin = float("inf")
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(idx[:, -block:])
            top = torch.topk(logits[0, -1], 2).values
            margin = min(margin, float(top[0] - top[1]))
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx[0, len(ids):].tolist(), margin


def nanogen_sample(d, prompt, n, *extra):
    r = subprocess.run([NANOGEN, "sample", d, "--temperature", "0", "--tokens", str(n), "--prompt", prompt,
                        "--threads", "1", *extra], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def torch_to_nanogen():
    text = open(ngtest.corpus(), encoding="utf-8").read()   # Tiny Shakespeare, or nanogen's sources
    vocab = sorted(set(text))
    stoi = {c: i for i, c in enumerate(vocab)}
    V, L, H, C = len(vocab), 2, 4, 64
    prompt = "ROMEO:\nWhat say"
    if not set(prompt) <= set(vocab):
        prompt = text[:15]
    ids = [stoi[c] for c in prompt]
    for T, extra in ((128, ()), (32, ("--exact-context",))):
        torch.manual_seed(1234)
        model = GPT(V, T, L, H, C, 0.0)
        with torch.no_grad():   # random weights large enough for decisive greedy choices
            for name, p in model.named_parameters():
                if p.dim() == 2:
                    p.normal_(0.0, 0.3)
                elif name.endswith("bias"):
                    p.normal_(0.0, 0.1)
        model.eval()
        sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        meta = {"config": json.dumps({"model": "gpt", "vocab_size": V, "block_size": T, "n_layer": L, "n_head": H, "n_embd": C}),
                "tokenizer": json.dumps({"kind": "char", "vocab": vocab})}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.safetensors")
            write_safetensors(path, sd, meta)
            want, margin = greedy(model, ids, 100, T)
            rc, out, err = nanogen_sample(d, prompt, 100, *extra)
            check(rc == 0, f"T={T}: nanogen sample of a PyTorch state_dict: {err}")
            got = out[len(prompt):len(prompt) + 100] if out.startswith(prompt) else out
            same = got == "".join(vocab[i] for i in want)
            check(same, f"T={T} {' '.join(extra)}: greedy tokens nanogen {got!r} vs PyTorch {''.join(vocab[i] for i in want)!r}")
            print(f"PyTorch -> nanogen, block {T} {' '.join(extra)}: 100 greedy tokens {'identical' if same else 'DIFFERENT'} "
                  f"(smallest top-1/top-2 logit gap {margin:.3g})")
            if T != 32:
                continue
            # the layout and dtypes a PyTorch writer may use
            names = list(sd)
            write_safetensors(path, sd, meta, order=names[::-1], gap=12)
            rc, out2, err = nanogen_sample(d, prompt, 100, *extra)
            check(rc == 0 and out2 == out, f"tensors in reverse order with gaps: {err}")
            for dt in ("F16", "BF16"):
                write_safetensors(path, sd, meta, dtype=dt)
                m2 = GPT(V, T, L, H, C, 0.0)
                m2.load_state_dict({k: torch.from_numpy(as_stored(v, dt)) for k, v in sd.items()}, strict=True)
                m2.eval()
                want2, margin2 = greedy(m2, ids, 100, T)
                rc, out3, err = nanogen_sample(d, prompt, 100, *extra)
                check(rc == 0 and out3[len(prompt):len(prompt) + 100] == "".join(vocab[i] for i in want2),
                      f"{dt} tensors: greedy tokens equal PyTorch's on the same rounded weights: {err}")
                print(f"PyTorch -> nanogen, {dt} tensors: greedy tokens {'identical' if rc == 0 and out3[len(prompt):len(prompt) + 100] == ''.join(vocab[i] for i in want2) else 'DIFFERENT'} (gap {margin2:.3g})")
            # what does not fit is named
            bad_cases = [
                ("an extra tensor (a causal-mask buffer)", dict(sd, **{"h.0.attn.bias": np.ones((T, T), np.float32)}), meta, "h.0.attn.bias"),
                ("a missing tensor", {k: v for k, v in sd.items() if k != "h.1.c_fc.bias"}, meta, "h.1.c_fc.bias"),
                ("a tensor of the wrong shape", dict(sd, **{"ln_f.weight": np.ones(C + 1, np.float32)}), meta, "ln_f.weight"),
                ("no tokenizer metadata", sd, {"config": meta["config"]}, "tokenizer"),
                ("no config metadata", sd, {"tokenizer": meta["tokenizer"]}, "config"),
                ("n_head not dividing n_embd", sd, dict(meta, config=meta["config"].replace('"n_head": 4', '"n_head": 5')), "divisible"),
            ]
            for what, tensors, md, word in bad_cases:
                write_safetensors(path, tensors, md)
                rc, _, err = nanogen_sample(d, prompt, 5)
                check(0 < rc < 128 and word in err and "nanogen:" in err, f"{what}: clear error naming '{word}', got rc {rc}: {err}")


def nanogen_to_torch():
    data = ngtest.corpus()
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([NANOGEN, "train", "gpt", "--data", data, "--out", d, "--force", "--n-layer", "2", "--n-head", "2",
                            "--n-embd", "48", "--block-size", "32", "--batch-size", "16", "--steps", "150", "--lr", "3e-3",
                            "--warmup", "10", "--eval-every", "0", "--no-final-eval", "--threads", "1"], capture_output=True, text=True)
        check(r.returncode == 0, "nanogen train: " + r.stderr[-500:])
        if r.returncode:
            return
        weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        cfg = json.loads(meta["config"])
        vocab = json.loads(meta["tokenizer"])["vocab"]
        model = GPT(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"], 0.0)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
        model.eval()
        stoi = {c: i for i, c in enumerate(vocab)}
        prompt = "KING:\nThe "
        if not set(prompt) <= set(vocab):
            prompt = open(data, encoding="utf-8").read(10)
        want, margin = greedy(model, [stoi[c] for c in prompt], 100, cfg["block_size"])
        rc, out, err = nanogen_sample(d, prompt, 100, "--exact-context")
        check(rc == 0, "nanogen sample: " + err)
        got, ref = out[len(prompt):len(prompt) + 100], "".join(vocab[i] for i in want)
        check(got == ref, f"nanogen -> PyTorch greedy: nanogen {got!r} vs PyTorch {ref!r}")
        print(f"nanogen -> PyTorch (150 trained steps): 100 greedy tokens {'identical' if got == ref else 'DIFFERENT'} "
              f"(smallest top-1/top-2 logit gap {margin:.3g}): {ref[:40]!r}...")


torch_to_nanogen()
nanogen_to_torch()
ngtest.finish(NAME)
