#!/usr/bin/env python3
"""PyTorch DDP (gloo) training of the reference GPT (../shared/bench/torch_gpt.py's model) with N
processes on this machine: the global batch split over the ranks, gradients all-reduced by DDP,
the same AdamW step everywhere. Prints one JSON line: {"tok_per_s", "ms_per_step", "ranks",
"threads"} (median step time over the timed steps, global tokens per step / that time).
Run with /usr/bin/python3 (Debian's python3-torch ships gloo). Part of `make bench` (MPI rows)."""
import argparse, json, os, statistics, sys, time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
from torch_gpt import GPT  # noqa: E402


def worker(rank, a, port, q):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.manual_seed(a.seed)
    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text[: int(0.9 * len(text))]], dtype=torch.long)
    model = GPT(len(chars), a.block_size, a.n_layer, a.n_head, a.n_embd, a.dropout)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    share = a.batch_size // a.ranks
    g = torch.Generator().manual_seed(a.seed)   # the same global batch on every rank
    times = []
    for it in range(a.steps):
        ix = torch.randint(len(data) - a.block_size, (a.batch_size,), generator=g)[rank * share:(rank + 1) * share]
        x = torch.stack([data[i:i + a.block_size] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + a.block_size] for i in ix])
        t0 = time.perf_counter()
        logits, _ = ddp(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        ms = statistics.median(times[min(5, len(times) - 1):]) * 1e3
        q.put({"tok_per_s": a.batch_size * a.block_size / (ms / 1e3), "ms_per_step": ms, "ranks": a.ranks, "threads": a.threads})
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="per rank")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = 29500 + os.getpid() % 1000
    mp.spawn(worker, args=(a, port, q), nprocs=a.ranks, join=True)
    print(json.dumps(q.get()))


if __name__ == "__main__":
    main()
