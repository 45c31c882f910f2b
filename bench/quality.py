#!/usr/bin/env python3
"""Quality side by side: the `baby` GPT trained by nanogen and by the PyTorch reference
(../shared/bench/torch_gpt.py, unchanged, SPEC.md defaults) with several seeds, each model's
loss measured on the FULL val split the same way (every position once, windows of T).

usage: /usr/bin/python3 bench/quality.py [--seeds 1337,1,2] [--steps 2000]
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("NANOGEN_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))
import torch  # noqa: E402
import torch_gpt  # noqa: E402


def full_loss(model, ids, T, chunk=64):
    """Mean loss over every position of ids that has a next token, windows of T."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        n = len(ids) - 1
        for s in range(0, n, T * chunk):
            m = min(T * chunk, n - s)
            full = m // T
            if full:
                x = ids[s:s + full * T].view(full, T); y = ids[s + 1:s + 1 + full * T].view(full, T)
                total += model(x, y)[1].item() * full * T; count += full * T
            rest = m - full * T
            if rest:
                x = ids[s + full * T:s + m].view(1, rest); y = ids[s + full * T + 1:s + m + 1].view(1, rest)
                total += model(x, y)[1].item() * rest; count += rest
    return total / count


def torch_run(data, seed, steps):
    """Run the reference script's own main() and keep the model it trained."""
    made = []
    init = torch_gpt.GPT.__init__
    def keep(self, *a, **k):
        init(self, *a, **k); made.append(self)
    torch_gpt.GPT.__init__ = keep
    argv = sys.argv
    sys.argv = ["torch_gpt.py", "--data", data, "--seed", str(seed), "--steps", str(steps), "--threads", "1", "--log-every", "0"]
    out = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            torch_gpt.main()
        finally:
            sys.stdout, sys.argv, torch_gpt.GPT.__init__ = out, argv, init
    text = open(data, encoding="utf-8").read()
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    return full_loss(made[-1], ids[int(0.9 * len(ids)):], 64)


def nanogen_run(data, seed, steps):
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([os.path.join(ROOT, "nanogen"), "train", "gpt", "--preset", "baby", "--data", data, "--out", d,
                            "--force", "--seed", str(seed), "--steps", str(steps), "--eval-every", "0"],
                           capture_output=True, text=True, check=True)
        return float(re.search(r"final: val loss ([0-9.]+) on the full val split", r.stdout).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1337,1,2")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt"))
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    res = {"nanogen": [], "PyTorch": []}
    print(f"baby GPT, {a.steps} steps, loss on the full val split (111,539 positions)")
    print(f"{'seed':>6}{'nanogen':>10}{'PyTorch':>10}")
    for s in seeds:
        res["nanogen"].append(nanogen_run(a.data, s, a.steps))
        res["PyTorch"].append(torch_run(a.data, s, a.steps))
        print(f"{s:>6}{res['nanogen'][-1]:10.4f}{res['PyTorch'][-1]:10.4f}", flush=True)
    for k, v in res.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{k}: mean {statistics.mean(v):.4f}, std {sd:.4f}, min {min(v):.4f}, max {max(v):.4f}")


if __name__ == "__main__":
    main()
