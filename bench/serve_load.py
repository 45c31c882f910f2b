#!/usr/bin/env python3
"""bench/serve_load.py - a load client for `nanogen serve` (python3's standard library only).

N clients (threads, one plain socket each) send streaming completions to a running server, one
after the other, for a warm-up and then one or two measured windows of D seconds; each reads the
SSE stream, counts the tokens (one chunk per token) and times the first one. Prints, per window:
summed tokens/s (tokens whose chunk arrived inside the window), requests, errors (a code other
than 200, a stream without [DONE], a socket error), p50 / p99 time to the first token of the
requests started in it; the server's RSS (VmRSS, and its peak VmHWM, from /proc/PID/status with
--pid) at the end of the warm-up and of each window, and the largest VmRSS sampled each second; and
the server's CPU seconds in each window (/proc/PID/stat) and its tokens per CPU second; the
client's own CPU seconds (resource.getrusage), since it shares the machine with the server.
With --sample-dir it then runs `nanogen sample DIR --batch --num-samples N --tokens K --stats` on
the same model --sample-runs times (after the load, so the two do not share the CPUs) and prints
the median tokens/s and tokens per CPU second, and the server's ratios to them (on a machine
other programs use too, the CPU-second ratio is the steadier one).

    ./nanogen serve /tmp/sc --port 8080 --max-streams 32 --threads 2 &
    python3 bench/serve_load.py --port 8080 --model sc --pid $! --clients 32 --duration 60 \\
        --second --sample-dir /tmp/sc --threads 2
Exit status 1 when a request failed.
"""
import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time


def proc_cpu(pid):
    """user + system CPU seconds of a process so far (/proc/PID/stat), or None"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def rss(pid):
    """(VmRSS, VmHWM) in kB, or (None, None)"""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        return None, None
    return out.get("VmRSS"), out.get("VmHWM")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.token_times = []       # arrival time of every token chunk
        self.requests = []          # (start, first token time or None, ok)
        self.errors = []            # (time, what)


def one_request(a, body, st):
    """one streaming completion; records its tokens, first-token time and success"""
    t0 = time.monotonic()
    first = None
    tokens = []
    ok = False
    what = ""
    s = None
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        head = ("POST /v1/completions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n%s\r\n" % (
                    a.host, a.port, len(body), ("Authorization: Bearer %s\r\n" % a.key) if a.key else ""))
        s.sendall(head.encode() + body)
        raw = b""
        while b"\r\n\r\n" not in raw:
            b = s.recv(65536)
            if not b:
                raise RuntimeError("closed before the response head")
            raw += b
        hd, _, raw = raw.partition(b"\r\n\r\n")
        status = int(hd.split(b" ", 2)[1])
        chunked = b"transfer-encoding: chunked" in hd.lower()
        data = b""
        done = eof = False
        while not done:
            # decode what came (chunked or plain) into data
            if chunked:
                while True:
                    i = raw.find(b"\r\n")
                    if i < 0:
                        break
                    n = int(raw[:i].split(b";")[0], 16)
                    if n == 0:
                        eof = True
                        raw = b""
                        break
                    if len(raw) < i + 4 + n:
                        break
                    data += raw[i + 2:i + 2 + n]
                    raw = raw[i + 4 + n:]
            else:
                data += raw
                raw = b""
            while True:
                i = data.find(b"\n\n")
                if i < 0:
                    break
                ev, data = data[:i], data[i + 2:]
                if status != 200:
                    continue
                if ev == b"data: [DONE]":
                    done = True
                    break
                if ev.startswith(b"data: "):
                    o = json.loads(ev[6:])
                    ch = o.get("choices")
                    if ch and ch[0].get("finish_reason") is None:
                        now = time.monotonic()
                        tokens.append(now)
                        if first is None:
                            first = now
            if done or eof:
                break
            b = s.recv(65536)
            if not b:
                break
            raw += b
        ok = status == 200 and done
        if not ok:
            what = "HTTP %d%s: %r" % (status, "" if done else ", no [DONE]", data[:200])
    except Exception as e:   # counted as an error, named
        what = "%s: %s" % (type(e).__name__, e)
    finally:
        if s:
            s.close()
    with st.lock:
        st.token_times.extend(tokens)
        st.requests.append((t0, first, ok))
        if not ok:
            st.errors.append((time.monotonic(), what))
    return ok


def client(a, k, end, st):
    r = 0
    while time.monotonic() < end:
        body = json.dumps({"model": a.model, "prompt": a.prompt, "max_tokens": a.max_tokens, "stream": True,
                           "temperature": 1.0, "seed": 1000 * k + r}).encode()
        if not one_request(a, body, st):
            time.sleep(0.1)   # a failed request (a server gone, say): no busy loop of reconnections
        r += 1


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--key", help="the server's --api-key")
    ap.add_argument("--pid", type=int, help="the server's pid: its RSS from /proc/PID/status")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60, help="seconds of a measured window")
    ap.add_argument("--warmup", type=float, default=10, help="seconds before the first window")
    ap.add_argument("--second", action="store_true", help="a second window (does the RSS stay flat?)")
    ap.add_argument("--max-tokens", type=int, default=256, help="tokens a request")
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--timeout", type=float, default=120, help="socket timeout: a hang is an error")
    ap.add_argument("--sample-dir", help="then: nanogen sample DIR --batch --num-samples CLIENTS --stats, for the ratio")
    ap.add_argument("--sample-runs", type=int, default=3, help="runs of nanogen sample (the median is compared)")
    ap.add_argument("--threads", type=int, default=0, help="--threads for nanogen sample (give the server's)")
    ap.add_argument("--nanogen", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nanogen"))
    a = ap.parse_args()

    st = Stats()
    t_start = time.monotonic()
    marks = [t_start + a.warmup, t_start + a.warmup + a.duration]
    if a.second:
        marks.append(marks[-1] + a.duration)
    end = marks[-1]
    ths = [threading.Thread(target=client, args=(a, k, end, st), daemon=True) for k in range(a.clients)]
    for t in ths:
        t.start()
    # RSS: at each mark, and the largest sampled each second in each window
    rss_at, rss_max, cpu_at = [], [], []
    cur_max = 0
    for m in marks:
        while True:
            now = time.monotonic()
            if now >= m:
                break
            if a.pid:
                v, _ = rss(a.pid)
                cur_max = max(cur_max, v or 0)
            time.sleep(min(1.0, m - now))
        if a.pid:
            rss_at.append(rss(a.pid))
            cpu_at.append(proc_cpu(a.pid))
            rss_max.append(cur_max)
            cur_max = 0
    for t in ths:
        t.join()
    t_all = time.monotonic()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime

    print("serve_load: %d clients, model %s, %d tokens a request, prompt %r, warm-up %.0f s, %d window(s) of %.0f s"
          % (a.clients, a.model, a.max_tokens, a.prompt, a.warmup, len(marks) - 1, a.duration))
    bounds = [(marks[i], marks[i + 1]) for i in range(len(marks) - 1)]
    tps, tpc = [], []
    for i, (lo, hi) in enumerate(bounds):
        n_tok = sum(1 for t in st.token_times if lo <= t < hi)
        reqs = [r for r in st.requests if lo <= r[0] < hi]
        ttft = [r[1] - r[0] for r in reqs if r[1] is not None]
        errs = sum(1 for r in reqs if not r[2])
        tps.append(n_tok / (hi - lo))
        cpu_note = ""
        if a.pid and cpu_at[i] is not None and cpu_at[i + 1] is not None:
            c = cpu_at[i + 1] - cpu_at[i]
            tpc.append(n_tok / c if c > 0 else float("nan"))
            cpu_note = "; server CPU %.1f s: %.0f tokens per CPU second" % (c, tpc[-1])
        print("window %d: %.0f tokens/s summed (%d tokens in %.0f s), %d requests started, %d errors, "
              "time to first token p50 %.3f s, p99 %.3f s%s"
              % (i + 1, n_tok / (hi - lo), n_tok, hi - lo, len(reqs), errs, pct(ttft, 0.5), pct(ttft, 0.99), cpu_note))
    all_ttft = [r[1] - r[0] for r in st.requests if r[1] is not None and r[0] >= marks[0]]
    print("all windows: %d requests, %d errors (warm-up and the tail included: %d of %d), time to first token p50 %.3f s, p99 %.3f s"
          % (sum(1 for r in st.requests if r[0] >= marks[0]), sum(1 for r in st.requests if r[0] >= marks[0] and not r[2]),
             len(st.errors), len(st.requests), pct(all_ttft, 0.5), pct(all_ttft, 0.99)))
    for t, what in st.errors[:5]:
        print("  error at %.1f s: %s" % (t - t_start, what))
    if a.pid:
        names = ["warm-up end"] + ["after window %d" % (i + 1) for i in range(len(marks) - 1)]
        print("server RSS: " + "; ".join("%s %.1f MB (peak %.1f MB, largest sampled in the window before %.1f MB)"
                                         % (n, (v or 0) / 1024, (h or 0) / 1024, mx / 1024)
                                         for n, (v, h), mx in zip(names, rss_at, rss_max)))
    print("client CPU: %.1f s user+system over %.0f s (%.0f%% of one core)" % (cpu, t_all - t_start, 100 * cpu / (t_all - t_start)))
    if a.sample_dir:
        # the same model, the same number of streams and tokens, after the load (not beside it):
        # wall tokens/s and tokens per CPU second (the second is the fairer on a shared machine)
        cmd = [a.nanogen, "sample", a.sample_dir, "--batch", "--num-samples", str(a.clients), "--tokens", str(a.max_tokens),
               "--prompt", a.prompt, "--stats"] + (["--threads", str(a.threads)] if a.threads else [])
        def run(cmd):
            """(tokens, wall seconds from --stats, CPU seconds of the whole process) or None"""
            with open(os.devnull, "w") as dn:
                p = subprocess.Popen(cmd, stdout=dn, stderr=subprocess.PIPE, text=True)
                err = p.stderr.read()
                _, status, ru = os.wait4(p.pid, 0)
            m = re.search(r"([0-9]+) tokens \(prompt included\) in ([0-9.]+) s", err)
            if status or not m:
                print("sample: %s failed: %s" % (" ".join(cmd), err[-300:]))
                return None
            return int(m.group(1)), float(m.group(2)), ru.ru_utime + ru.ru_stime
        # the CPU a run spends before its first token (loading, packing the weights, the GEMM
        # choice) measured with --tokens 0 and taken off, as the server's start is not counted either
        zero = run([c if k != cmd.index("--tokens") + 1 else "0" for k, c in enumerate(cmd)])
        walls, percpu = [], []
        for _ in range(a.sample_runs if zero else 0):
            r = run(cmd)
            if not r:
                break
            walls.append(r[0] / r[1])
            percpu.append(r[0] / max(r[2] - zero[2], 1e-9))
        if walls:
            ref, refc = statistics.median(walls), statistics.median(percpu)
            print("%s: %.0f tok/s (median of %d: %s), %.0f tokens per CPU second (median: %s; %.1f CPU s before the "
                  "first token taken off)" % (" ".join(cmd[1:]).replace("\n", "\\n"), ref, len(walls), ", ".join("%.0f" % w for w in walls),
                                             refc, ", ".join("%.0f" % w for w in percpu), zero[2]))
            print("served / sample, tokens/s: %s" % ", ".join("window %d %.2f" % (i + 1, t / ref) for i, t in enumerate(tps)))
            if tpc:
                print("served / sample, tokens per CPU second: %s" % ", ".join("window %d %.2f" % (i + 1, t / refc) for i, t in enumerate(tpc)))
    sys.exit(1 if st.errors else 0)


if __name__ == "__main__":
    main()
