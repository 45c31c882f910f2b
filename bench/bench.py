#!/usr/bin/env python3
"""make bench: nanogen and the PyTorch reference side by side, in one run, on this machine.

Trains the `baby` GPT (SPEC.md) for --steps steps with each, reports the median ms/step and
tok/s, their ratio, and the max RSS of each process; then nanogen's sampling speed with the
KV cache; then the VAE and the DCGAN on Fashion-MNIST, images/s side by side. Run with Debian's /usr/bin/python3 (python3-torch) from the repository root.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("NANOGEN_SHARED", os.path.join(ROOT, "..", "shared"))


def run(cmd, env=None):
    """Run cmd; return (stdout, stderr, wall seconds, max RSS in MB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = "", ""
    _, status, ru = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    return out, err, time.perf_counter() - t0, ru.ru_maxrss / 1024.0


def nanogen_train(data, steps, threads, out):
    cmd = [os.path.join(ROOT, "nanogen"), "train", "gpt", "--preset", "baby", "--data", data, "--out", out, "--force",
           "--steps", str(steps), "--eval-every", "0", "--eval-iters", "1", "--log-every", "10", "--threads", str(threads)]
    _, _, wall, rss = run(cmd)
    ms = [json.loads(l)["ms_per_step"] for l in open(os.path.join(out, "metrics.jsonl")) if '"ms_per_step"' in l]
    med = statistics.median(ms[1:] if len(ms) > 2 else ms)   # first window holds warm-up
    return med, rss


def torch_train(data, steps, threads):
    cmd = ["/usr/bin/python3", os.path.join(SHARED, "bench", "torch_gpt.py"), "--data", data, "--steps", str(steps),
           "--threads", str(threads), "--eval-iters", "1", "--log-every", "0"]
    out, _, wall, rss = run(cmd)
    done = [json.loads(l) for l in out.splitlines() if '"done"' in l][-1]
    return done["ms_per_step"], rss


def image_bench(kind, extra_ng, extra_pt):
    """img/s and max RSS of nanogen and PyTorch training one image model (SPEC.md)."""
    with tempfile.TemporaryDirectory() as d:
        _, _, _, rss_ng = run([os.path.join(ROOT, "nanogen"), "train", kind, "--data", "fashion-mnist", "--out", d,
                               "--force", "--threads", "2"] + extra_ng)
        ips_ng = [json.loads(l)["img_per_s"] for l in open(os.path.join(d, "metrics.jsonl")) if "img_per_s" in l][-1]
    out, _, _, rss_pt = run(["/usr/bin/python3", os.path.join(SHARED, "bench", "torch_images.py"), kind, "--threads", "2"] + extra_pt)
    ips_pt = [json.loads(l) for l in out.splitlines() if '"done"' in l][-1]["img_per_s"]
    return ips_ng, rss_ng, ips_pt, rss_pt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt"))
    a = ap.parse_args()
    if not os.path.exists(a.data):
        a.data = os.path.join(SHARED, "data", "tinyshakespeare.txt")
    B, T = 12, 64
    print(f"baby GPT (SPEC.md: 809,856 parameters, batch {B} x block {T}), {a.steps} training steps, median ms/step")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        ng = {t: nanogen_train(a.data, a.steps, t, os.path.join(d, f"ng{t}")) for t in (1, 2)}
        pt = {t: torch_train(a.data, a.steps, t) for t in (1, 2)}
        print(f"{'':24}{'ms/step':>10}{'tok/s':>10}{'max RSS MB':>12}")
        for name, res in (("nanogen", ng), ("PyTorch", pt)):
            for t, (ms, rss) in res.items():
                print(f"{name + f' {t} thread' + ('s' if t > 1 else ''):24}{ms:10.1f}{B * T / ms * 1e3:10.0f}{rss:12.0f}")
        best_ng = min(ng.items(), key=lambda kv: kv[1][0])
        best_pt = min(pt.items(), key=lambda kv: kv[1][0])
        print(f"training speed-up, best vs best: nanogen {B * T / best_ng[1][0] * 1e3:.0f} tok/s ({best_ng[0]} threads) / "
              f"PyTorch {B * T / best_pt[1][0] * 1e3:.0f} tok/s ({best_pt[0]} threads) = {best_pt[1][0] / best_ng[1][0]:.2f}x")
        print(f"thread scaling 1 -> 2: nanogen {ng[1][0] / ng[2][0]:.2f}x, PyTorch {pt[1][0] / pt[2][0]:.2f}x")
        # sampling from the checkpoint just trained (KV cache), one stream
        n_tok = 2000
        for extra, label in (([], "1 stream"), (["--num-samples", "8", "--batch"], "8 streams (--batch)")):
            _, err, wall, _ = run([os.path.join(ROOT, "nanogen"), "sample", os.path.join(d, "ng2"), "--tokens", str(n_tok),
                                   "--seed", "1", "--stats"] + extra)
            m = re.search(r"([0-9.]+) tok/s", err)
            print(f"sampling, KV cache, {label}: {m.group(1) if m else '?'} tok/s")
    if os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print()
        print(f"image models on Fashion-MNIST, training images/s, 2 threads each")
        print(f"{'':24}{'nanogen':>10}{'PyTorch':>10}{'ratio':>8}{'RSS MB ng':>11}{'RSS MB pt':>11}")
        for kind, ng_args, pt_args, label in (("vae", ["--epochs", "1"], ["--epochs", "1"], "VAE (1 epoch)"),
                                              ("gan", ["--epochs", "1", "--max-batches", "40"], ["--epochs", "1", "--max-batches", "40"],
                                               "DCGAN (40 batches)")):
            a, ra, b, rb = image_bench(kind, ng_args, pt_args)
            print(f"{label:24}{a:10.0f}{b:10.0f}{a / b:7.2f}x{ra:11.0f}{rb:11.0f}")


if __name__ == "__main__":
    main()
