#!/usr/bin/env python3
"""make bench: nanogen and the PyTorch reference side by side, in one run, on this machine.

First the GEMM table (build/bench/gemm: nanogen's kernel and OpenBLAS on the GPT's shapes, and
the sgemm peak on 2048^3). Then trains the `baby` GPT (SPEC.md) for --steps steps with each, 1 and
2 threads: median ms/step, tok/s, GFLOP/s and % of the peak (nanoGPT's 6N + 12LHQT FLOPs per
token), the ratio, thread scaling and max RSS; sampling tok/s, nanogen's KV cache against
PyTorch re-running the cropped context per token (bench/torch_sample.py); the shakespeare-char
GPT for --big-steps steps; then the VAE and the DCGAN on Fashion-MNIST, images/s side by side. Run with Debian's /usr/bin/python3 (python3-torch) from the repository root.
Every row runs a fixed thread count (--threads), except the busy-machine row, which compares
nanogen's default (a count that follows the machine) with the fixed ones under load.

Fair by construction: every PyTorch row runs at 1 and 2 threads and the better one is compared;
both processes get the same OpenBLAS kernels (OPENBLAS_CORETYPE as set, else the kernel set
nanogen's process settles on, given to both); the header names the CPU and the kernels each side
ran (nanogen --version, bench/torch_kernels.py).
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("NANOGEN_SHARED", os.path.join(ROOT, "..", "shared"))


ENV = None   # the environment of every process of the bench (main: the same OpenBLAS kernels for both)


def run(cmd, env=None):
    """Run cmd; return (stdout, stderr, wall seconds, max RSS in MB). Output goes through files, not
    pipes: waiting for the process (to read its RSS) while it blocks on a full pipe would hang."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env=env if env is not None else ENV)
        _, status, ru = os.wait4(p.pid, 0)
        fo.seek(0); fe.seek(0)
        out, err = fo.read(), fe.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    return out, err, time.perf_counter() - t0, ru.ru_maxrss / 1024.0


def nanogen_train(data, steps, threads, out, preset="baby", log_every=10):
    cmd = [os.path.join(ROOT, "nanogen"), "train", "gpt", "--preset", preset, "--data", data, "--out", out, "--force",
           "--steps", str(steps), "--eval-every", "0", "--eval-iters", "1", "--log-every", str(log_every), "--threads", str(threads),
           "--no-final-eval"]
    _, _, wall, rss = run(cmd)
    ms = [json.loads(l)["ms_per_step"] for l in open(os.path.join(out, "metrics.jsonl")) if '"ms_per_step"' in l]
    med = statistics.median(ms[1:] if len(ms) > 2 else ms)   # first window holds warm-up
    return med, rss


def torch_train(data, steps, threads, extra=()):
    cmd = ["/usr/bin/python3", os.path.join(SHARED, "bench", "torch_gpt.py"), "--data", data, "--steps", str(steps),
           "--threads", str(threads), "--eval-iters", "1", "--log-every", "0"] + list(extra)
    out, _, wall, rss = run(cmd)
    done = [json.loads(l) for l in out.splitlines() if '"done"' in l][-1]
    return done["ms_per_step"], rss


def image_bench(kind, extra_ng, extra_pt):
    """img/s and max RSS of nanogen (2 threads) and PyTorch (1 and 2 threads: its better one)
    training one image model (SPEC.md). Returns nanogen's, then PyTorch's (img/s, RSS, threads)."""
    with tempfile.TemporaryDirectory() as d:
        # the same run once before: the page cache, and the GEMM choices of this model's shapes
        # (measured once per machine, the first time a shape comes up: README "Which GEMM runs a shape")
        run([os.path.join(ROOT, "nanogen"), "train", kind, "--data", "fashion-mnist", "--out", d, "--force", "--threads", "2"] + extra_ng)
        _, _, _, rss_ng = run([os.path.join(ROOT, "nanogen"), "train", kind, "--data", "fashion-mnist", "--out", d,
                               "--force", "--threads", "2"] + extra_ng)
        ips_ng = [json.loads(l)["img_per_s"] for l in open(os.path.join(d, "metrics.jsonl")) if "img_per_s" in l][-1]
    pt = []
    for t in (1, 2):
        out, _, _, rss_pt = run(["/usr/bin/python3", os.path.join(SHARED, "bench", "torch_images.py"), kind, "--threads", str(t)] + extra_pt)
        pt.append(([json.loads(l) for l in out.splitlines() if '"done"' in l][-1]["img_per_s"], rss_pt, t))
    return (ips_ng, rss_ng, 2), max(pt)


def busy_row(data, steps, d):
    """The baby GPT and one-stream sampling with one CPU-bound program running beside them: nanogen's
    default thread count (which follows the machine) against each fixed count, and PyTorch."""
    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        ng = {t: nanogen_train(data, steps, t, os.path.join(d, f"busy{t}"))[0] for t in (0, 1, 2)}
        pt = torch_train(data, steps, 1)[0]
        samp = {}
        for t in (0, 1, 2):
            _, err, _, _ = run([os.path.join(ROOT, "nanogen"), "sample", os.path.join(d, "busy1"), "--tokens", "5000",
                                "--seed", "1", "--stats", "--threads", str(t)])
            m = re.search(r"([0-9.]+) tok/s", err)
            samp[t] = float(m.group(1)) if m else float("nan")
    finally:
        hog.kill()
        hog.wait()
    best = min(ng[1], ng[2])
    print(f"busy machine: one CPU-bound program (sh -c 'while :; do :; done') beside each run")
    print(f"  baby GPT, {steps} steps, median ms/step: nanogen default {ng[0]:.1f}, --threads 1 {ng[1]:.1f}, "
          f"--threads 2 {ng[2]:.1f}; PyTorch 1 thread {pt:.1f}")
    print(f"    default / best fixed count = {ng[0] / best:.2f}x the time; vs PyTorch {pt / ng[0]:.2f}x")
    bs = max(samp[1], samp[2])
    print(f"  sampling 1 stream, tok/s: nanogen default {samp[0]:.0f}, --threads 1 {samp[1]:.0f}, --threads 2 {samp[2]:.0f}"
          f" (default = {samp[0] / bs:.2f} of the best fixed count)")


def flops_per_token(n_layer, n_head, n_embd, block, vocab):
    """nanoGPT's estimate (estimate_mfu): 6 N + 12 L H Q T, N = parameters without the position table."""
    n = vocab * n_embd + n_layer * (12 * n_embd * n_embd + 13 * n_embd) + 2 * n_embd
    return 6 * n + 12 * n_layer * n_head * (n_embd // n_head) * block


def gemm_table(threads):
    """Runs build/bench/gemm: GFLOP/s per GEMM shape, nanogen vs OpenBLAS; returns the sgemm peaks."""
    out, _, _, _ = run([os.path.join(ROOT, "build", "bench", "gemm"), "--threads", str(threads)])
    print(out.rstrip())
    m = re.search(r"OpenBLAS sgemm 2048\^3 = ([0-9.]+) GFLOP/s; best of the two = ([0-9.]+)", out)
    return float(m.group(1)), float(m.group(2))


def threads_text(n):
    """'1 thread', '2 threads'"""
    return f"{n} thread" + ("" if n == 1 else "s")


def gpt_table(title, rows, B, T, fpt, peak):
    print(f"{title}")
    print(f"{'':24}{'ms/step':>10}{'tok/s':>10}{'GFLOP/s':>9}{'% peak':>8}{'max RSS MB':>12}")
    for name, res in rows:
        for t, (ms, rss) in res.items():
            tps = B * T / ms * 1e3
            print(f"{name + ' ' + threads_text(t):24}{ms:10.1f}{tps:10.0f}{tps * fpt / 1e9:9.1f}"
                  f"{100 * tps * fpt / 1e9 / peak:7.0f}%{rss:12.0f}")
    ng, pt = rows[0][1], rows[1][1]
    best_ng = min(ng.items(), key=lambda kv: kv[1][0])
    best_pt = min(pt.items(), key=lambda kv: kv[1][0])
    print(f"speed-up, best vs best: nanogen {B * T / best_ng[1][0] * 1e3:.0f} tok/s ({threads_text(best_ng[0])}) / "
          f"PyTorch {B * T / best_pt[1][0] * 1e3:.0f} tok/s ({threads_text(best_pt[0])}) = {best_pt[1][0] / best_ng[1][0]:.2f}x")
    print(f"thread scaling 1 -> 2: nanogen {ng[1][0] / ng[2][0]:.2f}x, PyTorch {pt[1][0] / pt[2][0]:.2f}x")
    print(f"max RSS: nanogen {best_ng[1][1]:.0f} MB, PyTorch {best_pt[1][1]:.0f} MB")


def gpt2_rows(steps, batch, n_tok):
    """GPT-2 small's shape (124M, vocab 50257, context 1024; random weights): training tok/s and max
    RSS of a batch-B step, nanogen (build/bench/gpt2) against PyTorch (bench/torch_gpt2.py, shared
    torch_gpt.py's GPT) at its better thread count; sampling one stream with a KV cache against
    the memory-bandwidth limit (weight bytes per token / the read bandwidth measured here) and
    against PyTorch's plain KV cache."""
    tool = os.path.join(ROOT, "build", "bench", "gpt2")
    out, _, _, rss_ng = run([tool, "train", str(batch), str(steps), "2"])
    ng = json.loads(out.strip().splitlines()[-1])
    pt = []
    for t in (1, 2):
        o, _, _, r = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_gpt2.py"), "train", "--batch", str(batch),
                          "--steps", str(steps), "--threads", str(t)])
        pt.append((json.loads(o.strip().splitlines()[-1])["tok_per_s"], r, t))
    best = max(pt)
    print(f"GPT-2 small shape (124M parameters, vocab 50257, batch {batch} x block 1024, random weights), {steps} training "
          f"steps after a warm-up one")
    print(f"  training tok/s: nanogen {ng['tok_per_s']:.0f} (2 threads, {ng['ms_per_step'] / 1e3:.1f} s/step), PyTorch "
          f"{best[0]:.0f} ({threads_text(best[2])}; {', '.join(f'{x[0]:.0f} on {threads_text(x[2])}' for x in pt)}) = "
          f"{ng['tok_per_s'] / best[0]:.2f}x; max RSS nanogen {rss_ng / 1024:.1f} GB, PyTorch {best[1] / 1024:.1f} GB")
    out, _, _, _ = run([tool, "sample", str(n_tok), "2"])
    s = json.loads(out.strip().splitlines()[-1])
    pts = []
    for t in (1, 2):
        o, _, _, _ = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_gpt2.py"), "sample", "--tokens", str(n_tok),
                          "--threads", str(t)])
        pts.append((json.loads(o.strip().splitlines()[-1])["tok_per_s"], t))
    bp = max(pts)
    print(f"  sampling 1 stream, {n_tok} greedy tokens: nanogen {s['tok_per_s']:.1f} tok/s = {s['tok_per_s'] / s['bound_tok_per_s']:.0%} "
          f"of the bandwidth limit ({s['weight_bytes_per_token'] / 1e6:.0f} MB of weights a token at {s['read_GB_per_s']:.1f} GB/s "
          f"read here = {s['bound_tok_per_s']:.1f} tok/s); PyTorch with a plain KV cache {bp[0]:.1f} ({threads_text(bp[1])}) = "
          f"{s['tok_per_s'] / bp[0]:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--big-steps", type=int, default=6, help="shakespeare-char steps (0: skip)")
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt"))
    ap.add_argument("--mpi-only", action="store_true", help="only the rows of several processes (make MPI=1)")
    ap.add_argument("--gpt2-steps", type=int, default=2, help="GPT-2-small-shaped training steps (0: skip the GPT-2 rows)")
    ap.add_argument("--gpt2-batch", type=int, default=4)
    ap.add_argument("--gpt2-tokens", type=int, default=64, help="GPT-2-small-shaped sampling: tokens")
    ap.add_argument("--only-gpt2", action="store_true", help="the header and the GPT-2 rows only")
    a = ap.parse_args()
    if not os.path.exists(a.data):
        a.data = os.path.join(SHARED, "data", "tinyshakespeare.txt")
    global ENV
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    # the OpenBLAS kernels: as set, else the set nanogen's process settles on (it may restart
    # itself with a better one, src/cli/main.c); then given to both sides
    version, _, _, _ = run([os.path.join(ROOT, "nanogen"), "--version"])
    m = re.search(r"OpenBLAS kernels: (\w+)", version)
    core = os.environ.get("OPENBLAS_CORETYPE") or (m.group(1) if m else None)
    ENV = dict(os.environ)
    if core:
        ENV["OPENBLAS_CORETYPE"] = core
    pt_k, _, _, _ = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_kernels.py")])
    pk = json.loads(pt_k.strip().splitlines()[-1])
    print(f"machine: {model} ({isa}), {os.cpu_count()} cores; OPENBLAS_CORETYPE={core or '(unset)'} for both sides")
    print(f"  nanogen: {version.strip()}")
    print(f"  PyTorch {pk['torch']}: BLAS {pk['blas']} (OpenBLAS kernels: {pk['openblas_core']}), oneDNN {pk['onednn']} "
          f"(convolutions); every PyTorch row at 1 and 2 threads, the better one compared")
    if a.mpi_only:
        mpi_rows(a)
        return
    if a.only_gpt2:
        gpt2_rows(a.gpt2_steps, a.gpt2_batch, a.gpt2_tokens)
        return
    peak_blas, peak = gemm_table(2)
    print(f"% of peak below is against {peak:.0f} GFLOP/s, the best sgemm measured here (2048^3, 2 threads)")
    print()
    B, T = 12, 64
    fpt = flops_per_token(4, 4, 128, 64, 65)
    with tempfile.TemporaryDirectory() as d:
        ng = {t: nanogen_train(a.data, a.steps, t, os.path.join(d, f"ng{t}")) for t in (1, 2)}
        pt = {t: torch_train(a.data, a.steps, t) for t in (1, 2)}
        gpt_table(f"baby GPT (SPEC.md: 809,856 parameters, batch {B} x block {T}, {fpt / 1e6:.2f} MFLOP/token), "
                  f"{a.steps} training steps, median ms/step", (("nanogen", ng), ("PyTorch", pt)), B, T, fpt, peak)
        print()
        # sampling: nanogen's KV cache against PyTorch re-running the cropped context (nanoGPT's generate)
        n_tok = 20000   # steady state: 4000 tokens (0.15 s) were dominated by start-up noise
        # three rounds, each running all four in turn, and the median of each: this VM has slow
        # phases (a neighbour on the shared L3) that a single run per side can land in
        streams = (([], "1 stream"), (["--num-samples", "8", "--batch"], "8 streams (--batch)"))
        runs = {label: [] for _, label in streams}
        pt_runs = {1: [], 2: []}
        rtt = []   # the cores' round trip before each round (build/bench/pingpong): it sets the 1-stream speed
        for _ in range(3):
            out, _, _, _ = run([os.path.join(ROOT, "build", "bench", "pingpong")])
            rtt.append(out.strip() or "?")
            for extra, label in streams:
                _, err, wall, _ = run([os.path.join(ROOT, "nanogen"), "sample", os.path.join(d, "ng2"), "--tokens", str(n_tok),
                                       "--seed", "1", "--stats", "--threads", "2"] + extra)
                m = re.search(r"([0-9.]+) tok/s", err)
                runs[label].append(float(m.group(1)) if m else float("nan"))
            for t in (1, 2):
                out, _, _, _ = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_sample.py"), "--checkpoint",
                                    os.path.join(d, "ng2"), "--threads", str(t), "--tokens", "300"])
                pt_runs[t].append(json.loads(out.strip().splitlines()[-1])["tok_per_s"])
        res = {label: statistics.median(v) for label, v in runs.items()}
        pts = {t: statistics.median(v) for t, v in pt_runs.items()}
        best_pt = max(pts.values())
        print(f"sampling the baby GPT, tok/s: PyTorch re-running the cropped context per token (nanoGPT generate): "
              f"{pts[1]:.0f} (1 thread), {pts[2]:.0f} (2 threads); medians of 3 runs (1 thread: {', '.join(f'{x:.0f}' for x in pt_runs[1])})")
        print(f"  cache-line round trip between the two cores before each round: {', '.join(rtt)} ns")
        for label, v in res.items():
            print(f"  nanogen, KV cache, {label}: {v:.0f} tok/s = {v / best_pt:.0f}x PyTorch's best "
                  f"(runs: {', '.join(f'{x:.0f}' for x in runs[label])})")
        print()
        busy_row(a.data, 60, d)
    if a.big_steps > 0:
        print()
        B2, T2 = 64, 256
        fpt2 = flops_per_token(6, 6, 384, 256, 65)
        with tempfile.TemporaryDirectory() as d:
            ng2 = {t: nanogen_train(a.data, a.big_steps, t, os.path.join(d, f"ng{t}"), "shakespeare-char", 1) for t in (1, 2)}
            pt2 = {t: torch_train(a.data, a.big_steps, t, ["--n-layer", "6", "--n-head", "6", "--n-embd", "384", "--block-size",
                                                           "256", "--batch-size", "64", "--dropout", "0.2"]) for t in (1, 2)}
        gpt_table(f"shakespeare-char GPT (10.7M parameters, batch {B2} x block {T2}, dropout 0.2, {fpt2 / 1e6:.1f} MFLOP/token), "
                  f"{a.big_steps} training steps, median ms/step", (("nanogen", ng2), ("PyTorch", pt2)), B2, T2, fpt2, peak)
    if os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print()
        print(f"image models on Fashion-MNIST, training images/s: nanogen 2 threads, PyTorch at its better count (1 or 2)")
        print(f"{'':24}{'nanogen':>10}{'PyTorch':>10}{'pt thr':>7}{'ratio':>8}{'RSS MB ng':>11}{'RSS MB pt':>11}")
        for kind, ng_args, pt_args, label in (("vae", ["--epochs", "1"], ["--epochs", "1"], "VAE (1 epoch)"),
                                              ("gan", ["--epochs", "1", "--max-batches", "40"], ["--epochs", "1", "--max-batches", "40"],
                                               "DCGAN (40 batches)")):
            (x, ra, _), (y, rb, ty) = image_bench(kind, ng_args, pt_args)
            print(f"{label:24}{x:10.0f}{y:10.0f}{ty:7d}{x / y:7.2f}x{ra:11.0f}{rb:11.0f}")
    if a.gpt2_steps > 0:
        print()
        gpt2_rows(a.gpt2_steps, a.gpt2_batch, a.gpt2_tokens)

    mpi_rows(a)


def mpi_ng_train(data, steps, ranks, threads, out, preset, extra=(), log_every=10):
    """median ms/step (and all-reduce ms/step) of an MPI build's run on `ranks` processes."""
    mpi = os.path.join(ROOT, "build-mpi", "nanogen")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    cmd += [mpi, "train", "gpt", "--preset", preset, "--data", data, "--out", out, "--force", "--steps", str(steps), "--eval-every", "0",
            "--eval-iters", "1", "--log-every", str(log_every), "--threads", str(threads), "--no-final-eval"] + list(extra)
    _, _, _, rss = run(cmd)
    rec = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"ms_per_step"' in l]
    rec = rec[1:] if len(rec) > 2 else rec   # the first window holds the warm-up
    return (statistics.median(r["ms_per_step"] for r in rec), statistics.median(r.get("allreduce_ms", 0) for r in rec),
            statistics.median(r.get("wait_ms", 0) for r in rec))


def mpi_rows(a):
    """Several processes (make MPI=1): 2 ranks x 1 thread against 1 process x 2 threads, and against
    PyTorch DDP (gloo, 2 processes x 1 thread, the same global batch); the all-reduce's share of a
    step; the fixed-order sum's time by message size over loopback."""
    mpi = os.path.join(ROOT, "build-mpi", "nanogen")
    if not os.path.exists(mpi) or not shutil.which("mpirun"):
        print("\n(several processes: no MPI build here; make MPI=1 with openmpi-bin libopenmpi-dev adds these rows)")
        return
    print()
    print("several processes on this machine (make MPI=1): tok/s, the global batch the same in every column; per step, the")
    print("fixed-order sum's ms and the ms a rank waits for the slower one (median of the log lines)")
    print(f"{'':18}{'1 proc x 2 thr':>15}{'2 ranks x 1 thr':>16}{'ratio':>7}{'sum ms':>8}{'wait ms':>8}{'DDP 2 x 1':>11}{'vs DDP':>8}")
    rows = [("baby", 12, 64, a.steps, [], ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block-size", "64", "--batch-size", "12"])]
    if a.big_steps > 0:
        rows.append(("shakespeare-char", 64, 256, max(a.big_steps, 4), [],
                     ["--n-layer", "6", "--n-head", "6", "--n-embd", "384", "--block-size", "256", "--batch-size", "64", "--dropout", "0.2"]))
    with tempfile.TemporaryDirectory() as d:
        for preset, B, T, steps, extra, pt_args in rows:
            le = 1 if preset != "baby" else 10
            one, _, _ = mpi_ng_train(a.data, steps, 1, 2, os.path.join(d, "one"), preset, extra, le)
            two, ar, wt = mpi_ng_train(a.data, steps, 2, 1, os.path.join(d, "two"), preset, extra, le)
            out, _, _, _ = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_ddp.py"), "--data", a.data, "--ranks", "2",
                                "--threads", "1", "--steps", str(max(steps, 8))] + pt_args)
            ddp = json.loads(out.strip().splitlines()[-1])["tok_per_s"]
            t1, t2 = B * T / one * 1e3, B * T / two * 1e3
            print(f"{preset:18}{t1:15.0f}{t2:16.0f}{t2 / t1:6.2f}x{ar:8.2f}{wt:8.1f}{ddp:11.0f}{t2 / ddp:7.2f}x")
    out, _, _, _ = run(["mpirun", "--oversubscribe", "-np", "2"] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) +
                       [os.path.join(ROOT, "build-mpi", "bench", "allreduce"), "--max-mb", "256"])
    print(out.rstrip())


if __name__ == "__main__":
    main()
