#!/usr/bin/env python3
"""tests/serve_client.py - the API checks of `nanogen serve`, run by tests/test_serve.sh against a
running server (python3's standard library only: http.client, socket, threading, json).

    python3 tests/serve_client.py --port P [--pid PID] [--ng NANOGEN --dir MODEL_DIR] GROUP...

Each check prints one line in tests/lib.sh's form: "ok   WHAT" or "FAIL WHAT: WHY" (the shell
test counts them). Groups (each assumes the models tests/test_serve.sh serves: a char GPT named
"tiny" with block size 32, and unless --no-images a 2-D VAE "vae" and a GAN "gan"):
  routes      every route's code and shape (models, completions plain and streamed, chat, next,
              attention, images, healthz, metrics, the playground's files)
  errors      every error: its code and an OpenAI-shaped {"error": {message, type, code}}
  same        temperature 0 (and a seeded temperature 0.9, top-k, top-p, n = 2): the plain text,
              the streamed text and `nanogen sample --batch --num-samples 2` agree
  independent a seeded request gives the same text alone and beside 8 other streams
  faults      a client that disconnects mid-stream frees its slot; a stalled reader and a client
              sending its body byte by byte do not block another request
  leak        the server's RSS (/proc/PID/status) after 200 more requests stays within 2 MB of
              its RSS after a warm-up of 100 (needs --pid; a server with MALLOC_ARENA_MAX=2)
  nocors      no Access-Control-* header anywhere (a server without --cors)
  limited     a server started with --api-key KEY --cors ORIGIN --max-streams 1 --queue 1:
              401 without or with a wrong key, 200 with it, open routes stay open, CORS headers
              and the preflight, 429 when the queue is full
  timeout     a server with --name fast --timeout 1 and NANOGEN_API_KEY: the key from the
              environment, the name, a long completion ended by the timeout (503, or an error
              event then [DONE] when streamed)
  shutdown    SIGTERM (to --pid) while a stream runs: the stream ends with [DONE] (needs --pid)
No check depends on the machine's speed: waits are bounded by counts (polls of /metrics, or
requests long enough in tokens), and a socket timeout (generous) only turns a hang into a failure.
"""
import argparse
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = 0
TIMEOUT = 120.0          # a socket timeout: only a hang reaches it
KEY = None               # Authorization: Bearer KEY on every request when set
results = {"ok": 0, "fail": 0}
_print_lock = threading.Lock()


def ok(what):
    with _print_lock:
        results["ok"] += 1
        print("ok   " + what, flush=True)


def fail(what, why):
    with _print_lock:
        results["fail"] += 1
        why = str(why).replace("\n", " ")
        print("FAIL %s: %s" % (what, why[:600]), flush=True)


def check(what, cond, why="check failed"):
    if cond:
        ok(what)
    else:
        fail(what, why)
    return bool(cond)


# ------------------------------------------------------------------ HTTP
def request(method, path, body=None, headers=None, key=True, raw_body=None):
    """(status, headers (lower-case names), body bytes)"""
    h = {}
    if KEY and key:
        h["Authorization"] = "Bearer " + KEY
    if headers:
        h.update(headers)
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        b = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, b
    except (OSError, http.client.HTTPException) as e:   # status 0: the check fails, naming it
        return 0, {}, ("%s %s: %s: %s" % (method, path, type(e).__name__, e)).encode()
    finally:
        c.close()


def post(path, obj, **kw):
    return request("POST", path, obj, **kw)


def jbody(b):
    try:
        return json.loads(b.decode("utf-8"))
    except Exception:
        return None


def error_why(status, b, code, etype, ecode=None):
    """None when the answer is HTTP code with an OpenAI-shaped error of type etype (and code
    ecode when given), else what is wrong"""
    if status != code:
        return "HTTP %d, expected %d: %r" % (status, code, b[:200])
    o = jbody(b)
    if not isinstance(o, dict) or set(o) != {"error"} or not isinstance(o["error"], dict):
        return "not {\"error\": {...}}: %r" % b[:200]
    e = o["error"]
    for f in ("message", "type", "code"):
        if not isinstance(e.get(f), str) or not e[f]:
            return "error.%s is not a non-empty string: %r" % (f, b[:200])
    if e["type"] != etype:
        return "error.type %r, expected %r" % (e["type"], etype)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", e["code"]):
        return "error.code %r is not snake_case" % e["code"]
    if ecode and e["code"] != ecode:
        return "error.code %r, expected %r" % (e["code"], ecode)
    return None


def check_error(what, r, code, etype, ecode=None):
    why = error_why(r[0], r[2], code, etype, ecode)
    return check(what, why is None, why)


def parse_sse(data):
    """the data strings of an SSE body (bytes) and whether every block was a data line"""
    events, clean = [], True
    text = data.decode("utf-8")
    blocks = text.split("\n\n")
    if blocks and blocks[-1] == "":
        blocks.pop()
    else:
        clean = False   # not ended by a blank line
    for blk in blocks:
        lines = [l for l in blk.split("\n") if l and not l.startswith(":")]
        if len(lines) != 1 or not lines[0].startswith("data: "):
            clean = False
            continue
        events.append(lines[0][6:])
    return events, clean


def stream_why(status, hdr, body, n=1, model="tiny"):
    """(why or None, texts per choice, chunks, usage) of a streamed completion"""
    if status != 200:
        return "HTTP %d: %r" % (status, body[:200]), None, None, None
    if not hdr.get("content-type", "").startswith("text/event-stream"):
        return "Content-Type %r" % hdr.get("content-type"), None, None, None
    events, clean = parse_sse(body)
    if not clean:
        return "an SSE block is not one 'data: ' line ended by a blank line: %r" % body[:300], None, None, None
    if not events or events[-1] != "[DONE]":
        return "does not end with data: [DONE]", None, None, None
    if "[DONE]" in events[:-1]:
        return "[DONE] before the end", None, None, None
    chunks = []
    for e in events[:-1]:
        o = jbody(e.encode())
        if not isinstance(o, dict):
            return "an event is not a JSON object: %r" % e[:200], None, None, None
        chunks.append(o)
    texts, finished, usage, ids = [""] * n, [None] * n, None, set()
    for k, o in enumerate(chunks):
        ids.add(o.get("id"))
        if o.get("object") != "text_completion" or o.get("model") != model or not isinstance(o.get("created"), int):
            return "chunk %d: object/model/created wrong: %r" % (k, o), None, None, None
        ch = o.get("choices")
        if not isinstance(ch, list):
            return "chunk %d: no choices list" % k, None, None, None
        if ch == []:
            if k != len(chunks) - 1 or not isinstance(o.get("usage"), dict):
                return "a chunk with no choices that is not the last one with usage: %r" % o, None, None, None
            usage = o["usage"]
            continue
        if usage is not None:
            return "a chunk after the usage chunk", None, None, None
        for c in ch:
            i = c.get("index")
            if not isinstance(i, int) or not 0 <= i < n or not isinstance(c.get("text"), str):
                return "chunk %d: bad choice %r" % (k, c), None, None, None
            if finished[i] is not None:
                return "choice %d has a chunk after its finish_reason" % i, None, None, None
            fr = c.get("finish_reason")
            if fr is None:
                texts[i] += c["text"]
            elif fr in ("length", "stop"):
                if c["text"] != "":
                    return "the finish chunk of choice %d has text %r" % (i, c["text"]), None, None, None
                finished[i] = fr
            else:
                return "finish_reason %r" % fr, None, None, None
    if len(ids) != 1 or not str(next(iter(ids))).startswith("cmpl-"):
        return "chunk ids %r: not one cmpl-... id" % ids, None, None, None
    if None in finished:
        return "a choice without its finish chunk: %r" % finished, None, None, None
    if usage is None:
        return "no usage chunk (choices [] before [DONE])", None, None, None
    return None, texts, chunks, usage


def completion(obj, model="tiny"):
    o = {"model": model}
    o.update(obj)
    return post("/v1/completions", o)


def completion_text(obj, model="tiny", choice=0):
    s, h, b = completion(obj, model)
    o = jbody(b)
    if s != 200 or not o:
        raise RuntimeError("completion %r: HTTP %d %r" % (obj, s, b[:200]))
    return o["choices"][choice]["text"]


def streamed_texts(obj, model="tiny"):
    o = dict(obj, stream=True)
    s, h, b = completion(o, model)
    why, texts, chunks, usage = stream_why(s, h, b, o.get("n", 1), model)
    if why:
        raise RuntimeError("stream %r: %s" % (obj, why))
    return texts


def metrics():
    """{name or name{labels}: value} of /metrics"""
    s, h, b = request("GET", "/metrics")
    if s != 200:
        raise RuntimeError("GET /metrics: HTTP %d" % s)
    out = {}
    for line in b.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        out[k] = float(v)
    return out


def metric(name):
    m = metrics()
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def poll_metric(name, want, polls=400):
    """poll /metrics until name == want (at most polls times, 50 ms apart): the last value"""
    v = None
    for _ in range(polls):
        v = metric(name)
        if v == want:
            return v
        time.sleep(0.05)
    return v


# ------------------------------------------------------------------ a raw client (faults, streaming)
class Raw:
    """one HTTP/1.1 request on a plain socket, read incrementally (chunked or not)"""

    def __init__(self, method, path, obj=None, body=None, send_body=True, key=True, headers=None):
        self.sock = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        if body is None and obj is not None:
            body = json.dumps(obj).encode()
        self.body = body or b""
        h = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            method, path, HOST, PORT, len(self.body))
        if KEY and key:
            h += "Authorization: Bearer %s\r\n" % KEY
        for k, v in (headers or {}).items():
            h += "%s: %s\r\n" % (k, v)
        h += "Connection: close\r\n\r\n"
        self.sock.sendall(h.encode())
        if send_body:
            self.sock.sendall(self.body)
        self.raw = b""
        self.data = b""      # the decoded body so far
        self.status = None
        self.headers = {}
        self.chunked = False
        self.eof = False
        self.events_read = 0

    def _recv(self):
        b = self.sock.recv(65536)
        if not b:
            self.eof = True
        self.raw += b
        return b

    def read_head(self):
        while b"\r\n\r\n" not in self.raw:
            if not self._recv():
                raise RuntimeError("connection closed before the response head")
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return self.status

    def _decode(self):
        if not self.chunked:
            self.data += self.raw
            self.raw = b""
            return
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i].split(b";")[0], 16)
            if size == 0:
                self.eof = True
                self.raw = b""
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            self.data += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 2 + size + 2:]

    def next_event(self):
        """the next SSE data string, or None at the end of the body"""
        if self.status is None:
            self.read_head()
        while True:
            self._decode()
            i = self.data.find(b"\n\n")
            if i >= 0:
                blk, self.data = self.data[:i].decode("utf-8"), self.data[i + 2:]
                self.events_read += 1
                return blk[6:] if blk.startswith("data: ") else blk
            if self.eof:
                return None
            self._recv()

    def read_all(self):
        if self.status is None:
            self.read_head()
        while not self.eof:
            self._decode()
            if self.eof:
                break
            self._recv()
        self._decode()
        return self.data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sample_cli(args, ng, d, prompt, tokens, temperature, seed=None, extra=()):
    """sample 1 of `nanogen sample DIR --batch --num-samples 2`, the prompt taken off"""
    cmd = [ng, "sample", d, "--batch", "--num-samples", "2", "--prompt", prompt, "--tokens", str(tokens),
           "--temperature", str(temperature), "--threads", "1"] + list(extra)
    if seed is not None:
        cmd += ["--seed", str(seed)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.decode()[:300]))
    out = p.stdout.decode("utf-8")
    m = re.match(r"--- sample 1\n(.*)\n--- sample 2\n", out, re.S)
    if not m:
        raise RuntimeError("sample output not laid out as '--- sample 1': %r" % out[:200])
    s = m.group(1)
    return s


# ------------------------------------------------------------------ groups
def g_routes(a):
    # models
    s, h, b = request("GET", "/v1/models")
    o = jbody(b)
    check("GET /v1/models: 200, JSON", s == 200 and h.get("content-type", "").startswith("application/json") and o,
          "HTTP %d %s" % (s, h.get("content-type")))
    if o:
        data = o.get("data") or []
        by = {m.get("id"): m for m in data if isinstance(m, dict)}
        want = {"tiny"} | (set() if a.no_images else {"vae", "gan"})
        check("/v1/models: a list of the served models", o.get("object") == "list" and set(by) == want,
              "object %r, ids %r" % (o.get("object"), sorted(by)))
        check("/v1/models: each model object (object, created, owned_by)", all(
            m.get("object") == "model" and isinstance(m.get("created"), int) and m.get("owned_by") == "nanogen"
            for m in data), data)
        t = (by.get("tiny") or {}).get("nanogen") or {}
        check("/v1/models: the GPT's shape (gpt, text, char, block 32, 1 layer, 2 heads, 32 wide)",
              t.get("kind") == "gpt" and t.get("text") is True and t.get("tokenizer") == "char" and t.get("block_size") == 32
              and t.get("n_layer") == 1 and t.get("n_head") == 2 and t.get("n_embd") == 32
              and isinstance(t.get("vocab_size"), int) and t["vocab_size"] > 10 and t.get("chat_template") is False
              and "latent" not in t and "image" not in t, t)
        if not a.no_images:
            v = (by.get("vae") or {}).get("nanogen") or {}
            g = (by.get("gan") or {}).get("nanogen") or {}
            check("/v1/models: the VAE (vae, not text, latent 2, 1x28x28, no text fields)",
                  v.get("kind") == "vae" and v.get("text") is False and v.get("latent") == 2
                  and v.get("image") == {"c": 1, "h": 28, "w": 28} and "vocab_size" not in v and "tokenizer" not in v, v)
            check("/v1/models: the GAN (gan, not text, latent 100)",
                  g.get("kind") == "gan" and g.get("text") is False and g.get("latent") == 100, g)
    s, h, b = request("GET", "/v1/models/tiny")
    o = jbody(b) or {}
    check("GET /v1/models/tiny: the one model object", s == 200 and o.get("id") == "tiny" and o.get("object") == "model"
          and (o.get("nanogen") or {}).get("kind") == "gpt", b[:200])
    check_error("GET /v1/models/nope: 404 model_not_found", request("GET", "/v1/models/nope"), 404, "invalid_request_error",
                "model_not_found")
    # a plain completion
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 12, "temperature": 0.8, "seed": 3})
    o = jbody(b) or {}
    ch = (o.get("choices") or [{}])[0]
    check("POST /v1/completions: 200, the completion's fields",
          s == 200 and str(o.get("id", "")).startswith("cmpl-") and o.get("object") == "text_completion"
          and isinstance(o.get("created"), int) and o.get("model") == "tiny" and len(o.get("choices", [])) == 1
          and ch.get("index") == 0 and isinstance(ch.get("text"), str) and ch.get("finish_reason") == "length"
          and ch.get("logprobs") is None, "HTTP %d %r" % (s, b[:300]))
    check("completions: 12 tokens of a char model are 12 characters", len(ch.get("text", "")) == 12, repr(ch.get("text")))
    check("completions: usage (6 prompt + 12 completion tokens)",
          o.get("usage") == {"prompt_tokens": 6, "completion_tokens": 12, "total_tokens": 18}, o.get("usage"))
    check("completions: nanogen.seed given back, nothing cropped", o.get("nanogen") == {"seed": 3, "prompt_cropped": 0},
          o.get("nanogen"))
    # defaults: max_tokens 16, a random seed reported back that reproduces the text
    s, h, b = completion({"prompt": "ROMEO:"})
    o = jbody(b) or {}
    seed = (o.get("nanogen") or {}).get("seed")
    check("completions: max_tokens defaults to 16", s == 200 and o["usage"]["completion_tokens"] == 16, b[:200])
    if check("completions: a seed is reported when none is given", isinstance(seed, int), o.get("nanogen")):
        again = completion_text({"prompt": "ROMEO:", "seed": seed})
        check("completions: the reported seed gives the same text again", again == o["choices"][0]["text"],
              "%r vs %r" % (again, o["choices"][0]["text"]))
    s2 = (jbody(completion({"prompt": "ROMEO:"})[2]) or {}).get("nanogen", {}).get("seed")
    check("completions: two requests without a seed get different seeds", s2 is not None and s2 != seed, (seed, s2))
    # prompt as an array of one string; an empty prompt
    t1 = completion_text({"prompt": "ROMEO:", "max_tokens": 10, "temperature": 0})
    t2 = completion_text({"prompt": ["ROMEO:"], "max_tokens": 10, "temperature": 0})
    check("completions: prompt [\"s\"] is prompt \"s\"", t1 == t2, "%r vs %r" % (t1, t2))
    s, h, b = completion({"prompt": "", "max_tokens": 5})
    check("completions: an empty prompt is answered (200)", s == 200 and len((jbody(b) or {}).get("choices", [{}])[0].get("text", "")) == 5,
          b[:200])
    # n, choice seeds
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 8, "n": 3, "seed": 10, "temperature": 1})
    o = jbody(b) or {}
    chs = o.get("choices", [])
    check("completions: n 3 gives choices 0, 1, 2 and usage for 3", s == 200 and [c.get("index") for c in chs] == [0, 1, 2]
          and o.get("usage", {}).get("completion_tokens") == 24, b[:300])
    if len(chs) == 3:
        t11 = completion_text({"prompt": "ROMEO:", "max_tokens": 8, "seed": 11, "temperature": 1})
        check("completions: choice 1 of seed 10 is the text of seed 11", chs[1]["text"] == t11, "%r vs %r" % (chs[1]["text"], t11))
    # stop
    t = completion_text({"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0})
    stop = t[6:8]
    i = t.find(stop)
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0, "stop": stop})
    o = jbody(b) or {}
    c = (o.get("choices") or [{}])[0]
    check("completions: stop (a string) cuts before it, finish_reason stop",
          s == 200 and c.get("text") == t[:i] and c.get("finish_reason") == "stop", "stop %r in %r: %r" % (stop, t, b[:300]))
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0, "stop": ["\u00e9\u00e9\u00e9", stop]})
    c = ((jbody(b) or {}).get("choices") or [{}])[0]
    check("completions: stop (an array)", s == 200 and c.get("text") == t[:i] and c.get("finish_reason") == "stop", b[:300])
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0, "stop": stop, "stream": True})
    why, texts, chunks, usage = stream_why(s, h, b)
    check("completions, streamed: stop cuts the stream the same way", not why and texts == [t[:i]]
          and chunks[-2]["choices"][0]["finish_reason"] == "stop", why or texts)
    # logprobs
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 6, "temperature": 0, "logprobs": 3})
    o = jbody(b) or {}
    lp = ((o.get("choices") or [{}])[0]).get("logprobs") or {}
    text = ((o.get("choices") or [{}])[0]).get("text", "")
    good = (s == 200 and isinstance(lp, dict) and len(lp.get("tokens", [])) == 6 and "".join(lp["tokens"]) == text
            and len(lp.get("token_logprobs", [])) == 6 and all(x <= 0 for x in lp["token_logprobs"])
            and len(lp.get("top_logprobs", [])) == 6 and all(isinstance(d, dict) and len(d) == 3 for d in lp["top_logprobs"])
            and lp.get("text_offset") in ([k for k in range(6)], [6 + k for k in range(6)]))
    # text_offset: each token's offset, from the completion's start or (OpenAI's echo reading) the prompt's
    check("completions: logprobs 3 (tokens, token_logprobs <= 0, 3 top alternatives each, text_offset)", good, b[:400])
    if good:
        check("completions: at temperature 0 each token is its top alternative", all(
            abs(lp["token_logprobs"][k] - max(lp["top_logprobs"][k].values())) < 1e-5 and lp["tokens"][k] in lp["top_logprobs"][k]
            for k in range(6)), lp)
        check("completions: top logprobs sum to at most 1", all(
            sum(math.exp(v) for v in d.values()) <= 1 + 1e-4 for d in lp["top_logprobs"]), lp["top_logprobs"])
    # a prompt longer than the context
    long_prompt = "ROMEO:\nO, she doth teach the torches to burn bright!\n"
    s, h, b = completion({"prompt": long_prompt, "max_tokens": 4})
    o = jbody(b) or {}
    check("completions: a prompt longer than the context is cropped, said in nanogen.prompt_cropped",
          s == 200 and 0 < (o.get("nanogen") or {}).get("prompt_cropped", 0) <= len(long_prompt) - 16
          and o["usage"]["prompt_tokens"] == len(long_prompt), b[:300])
    # streamed
    s, h, b = completion({"prompt": "ROMEO:", "max_tokens": 10, "temperature": 0.8, "seed": 3, "stream": True,
                          "logprobs": 2, "n": 2})
    why, texts, chunks, usage = stream_why(s, h, b, 2)
    check("completions, streamed: event-stream, a chunk per token, finish chunks, usage chunk, [DONE]", why is None, why)
    if not why:
        tokchunks = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] is None]
        check("completions, streamed: one chunk per token (2 x 10), each with one token's logprobs",
              len(tokchunks) == 20 and all(len(c["choices"]) == 1 and isinstance(c["choices"][0].get("logprobs"), dict)
                                           and len(c["choices"][0]["logprobs"].get("tokens", [])) == 1
                                           and len(c["choices"][0]["logprobs"]["top_logprobs"][0]) == 2 for c in tokchunks),
              "%d token chunks: %r" % (len(tokchunks), tokchunks[:1]))
        check("completions, streamed: usage (6 + 20)", usage == {"prompt_tokens": 6, "completion_tokens": 20, "total_tokens": 26},
              usage)
        plain = jbody(completion({"prompt": "ROMEO:", "max_tokens": 10, "temperature": 0.8, "seed": 3, "n": 2})[2]) or {}
        check("completions, streamed: the same texts as the plain answer (seed 3, n 2)",
              texts == [c.get("text") for c in plain.get("choices", [])], "%r vs %r" % (texts, plain.get("choices")))
    # chat
    r = post("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
    if check_error("POST /v1/chat/completions: 400 no_chat_template for the GPT", r, 400, "invalid_request_error",
                   "no_chat_template"):
        check("chat: the message names the model", "tiny" in jbody(r[2])["error"]["message"], r[2][:200])
    check_error("chat: 404 for an unknown model", post("/v1/chat/completions", {"model": "nope", "messages": []}), 404,
                "invalid_request_error", "model_not_found")
    # next
    s, h, b = post("/v1/nanogen/next", {"model": "tiny", "prompt": "ROMEO:", "temperatures": [0.5, 1, 2], "top": 5})
    o = jbody(b) or {}
    toks = o.get("tokens") or []
    good = (s == 200 and o.get("model") == "tiny" and o.get("context_tokens") == 6 and o.get("temperatures") == [0.5, 1, 2]
            and len(toks) == 5 and all(isinstance(t.get("id"), int) and isinstance(t.get("text"), str)
                                       and isinstance(t.get("logit"), (int, float)) and len(t.get("probs", [])) == 3 for t in toks)
            and len(o.get("entropy_bits", [])) == 3 and len(o.get("other", [])) == 3)
    check("POST /v1/nanogen/next: 200, top 5 tokens with a probability per temperature, entropies, the rest", good, b[:400])
    if good:
        check("next: tokens sorted by logit", all(toks[k]["logit"] >= toks[k + 1]["logit"] for k in range(4)),
              [t["logit"] for t in toks])
        check("next: at each temperature the top probabilities and 'other' sum to 1", all(
            abs(sum(t["probs"][k] for t in toks) + o["other"][k] - 1) < 1e-3 for k in range(3)), o)
        check("next: a lower temperature makes the top token more likely", toks[0]["probs"][0] >= toks[0]["probs"][1] >= toks[0]["probs"][2],
              toks[0])
        check("next: the entropy grows with the temperature", o["entropy_bits"][0] <= o["entropy_bits"][1] <= o["entropy_bits"][2],
              o["entropy_bits"])
        g = completion_text({"prompt": "ROMEO:", "max_tokens": 1, "temperature": 0})
        check("next: its top token is the greedy completion's", toks[0]["text"] == g, "%r vs %r" % (toks[0]["text"], g))
    s, h, b = post("/v1/nanogen/next", {"model": "tiny", "prompt": "ROMEO:"})
    o = jbody(b) or {}
    check("next: top defaults to 10", s == 200 and len(o.get("tokens", [])) == 10, b[:200])
    # attention
    s, h, b = post("/v1/nanogen/attention", {"model": "tiny", "prompt": "ROMEO:"})
    o = jbody(b) or {}
    att = o.get("attention")
    good = (s == 200 and o.get("tokens") == list("ROMEO:") and o.get("n_layer") == 1 and o.get("n_head") == 2
            and isinstance(att, list) and len(att) == 1 and len(att[0]) == 2
            and all(len(hh) == 6 and all(len(row) == 6 for row in hh) for hh in att[0]))
    check("POST /v1/nanogen/attention: 200, tokens, [1][2][6][6] weights", good, b[:300])
    if good:
        check("attention: each row sums to 1, nothing above the diagonal (causal)", all(
            abs(sum(row) - 1) < 1e-4 and all(abs(x) < 1e-7 for x in row[i + 1:]) for hh in att[0] for i, row in enumerate(hh)), att)
    s, h, b = post("/v1/nanogen/attention", {"model": "tiny", "prompt": long_prompt})
    o = jbody(b) or {}
    check("attention: a long prompt is cropped to the last block_size (32) tokens",
          s == 200 and o.get("tokens") == list(long_prompt[-32:]) and len(o["attention"][0][0]) == 32, b[:200])
    # images
    if not a.no_images:
        def png(what, path, obj, w=None, h_=None):
            s, h, b = post(path, obj)
            good = s == 200 and h.get("content-type") == "image/png" and b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR"
            check(what, good, "HTTP %d %s %r" % (s, h.get("content-type"), b[:120]))
            return b if good else None
        b1 = png("POST images/sample (VAE): a PNG", "/v1/nanogen/images/sample", {"model": "vae", "n": 4, "seed": 1})
        b2 = png("images/sample: the same seed gives the same PNG", "/v1/nanogen/images/sample", {"model": "vae", "n": 4, "seed": 1})
        if b1 and b2:
            check("images/sample: the same seed, the same bytes", b1 == b2, "different PNGs")
        png("images/sample (GAN): a PNG", "/v1/nanogen/images/sample", {"model": "gan", "n": 2, "seed": 2})
        d = png("POST images/decode (VAE, z of 2): a PNG", "/v1/nanogen/images/decode", {"model": "vae", "z": [0.5, -1]})
        if d:
            import struct
            check("images/decode: one 28x28 picture scaled x4 (112x112, and a border of at most 4)",
                  struct.unpack(">II", d[16:24]) in ((112, 112), (116, 116), (120, 120)),
                  struct.unpack(">II", d[16:24]))
        png("POST images/interpolate (VAE): a PNG", "/v1/nanogen/images/interpolate", {"model": "vae", "steps": 4, "seed": 1})
        png("images/interpolate (GAN): a PNG", "/v1/nanogen/images/interpolate", {"model": "gan", "steps": 3, "seed": 1})
        png("POST images/manifold (2-D VAE): a PNG", "/v1/nanogen/images/manifold", {"model": "vae", "n": 3})
    # HTTP: a chunked request body; two requests on one kept-alive connection
    try:
        sk = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        body = json.dumps({"model": "tiny", "prompt": "ROMEO:", "max_tokens": 5, "temperature": 0}).encode()
        parts = [body[:7], body[7:20], body[20:]]
        head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n%s" \
            "Connection: close\r\n\r\n" % (("Authorization: Bearer %s\r\n" % KEY) if KEY else "")
        sk.sendall(head.encode() + b"".join(b"%x\r\n%s\r\n" % (len(p_), p_) for p_ in parts) + b"0\r\n\r\n")
        got = b""
        while True:
            x = sk.recv(65536)
            if not x:
                break
            got += x
        sk.close()
        check("a chunked request body is read (200, the greedy text)", got.startswith(b"HTTP/1.1 200")
              and json.dumps(completion_text({"prompt": "ROMEO:", "max_tokens": 5, "temperature": 0}))[1:-1].encode() in got, got[:300])
    except OSError as e:
        fail("a chunked request body", e)
    c = http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT)
    codes = []
    for _ in range(3):
        c.request("POST", "/v1/completions", body=json.dumps({"model": "tiny", "prompt": "ROMEO:", "max_tokens": 3}),
                  headers=dict({"Content-Type": "application/json"}, **({"Authorization": "Bearer " + KEY} if KEY else {})))
        r = c.getresponse()
        r.read()
        codes.append(r.status)
    c.close()
    check("three completions on one kept-alive connection", codes == [200, 200, 200], codes)
    # health, metrics, the playground
    s, h, b = request("GET", "/healthz")
    check("GET /healthz: {status ok, models N}", s == 200 and jbody(b) == {"status": "ok", "models": 1 if a.no_images else 3}, b[:200])
    s, h, b = request("GET", "/metrics")
    txt = b.decode("utf-8", "replace")
    check("GET /metrics: Prometheus text with every metric",
          s == 200 and h.get("content-type", "").startswith("text/plain") and all(
              re.search(r"^%s[ {]" % re.escape(n), txt, re.M) for n in (
                  'nanogen_requests_total{code="200"}', "nanogen_tokens_generated_total", "nanogen_queue_length",
                  "nanogen_active_streams", "nanogen_request_seconds_bucket", "nanogen_first_token_seconds_bucket",
                  "nanogen_request_seconds_count", "nanogen_first_token_seconds_sum")), txt[:400])
    # (a request is counted when its answer has gone: poll a bounded number of times)
    def poll_at_least(name, want, polls=200):
        v = metric(name)
        for _ in range(polls):
            if v >= want:
                break
            time.sleep(0.05)
            v = metric(name)
        return v
    n404 = metric('nanogen_requests_total{code="404"}')
    request("GET", "/no/such/route")
    v = poll_at_least('nanogen_requests_total{code="404"}', n404 + 1)
    check("metrics: a 404 counts in nanogen_requests_total{code=\"404\"}", v >= n404 + 1, "%r before, %r after" % (n404, v))
    tok0 = metric("nanogen_tokens_generated_total")
    completion({"prompt": "ROMEO:", "max_tokens": 7})
    v = poll_at_least("nanogen_tokens_generated_total", tok0 + 7)
    check("metrics: nanogen_tokens_generated_total counts a completion's 7 tokens", v == tok0 + 7, (tok0, v))
    for path, ctype, mark in (("/", "text/html", b"<"), ("/app.js", "javascript", b""), ("/style.css", "text/css", b"")):
        s, h, b = request("GET", path)
        check("GET %s: 200, %s, not empty" % (path, ctype), s == 200 and ctype in h.get("content-type", "") and len(b) > 0
              and b.startswith(mark), "HTTP %d %s %d bytes" % (s, h.get("content-type"), len(b)))


def g_errors(a):
    inv = "invalid_request_error"
    r = request("POST", "/v1/completions", raw_body=b'{"model": "tiny", "prompt": ', headers={"Content-Type": "application/json"})
    check_error("bad JSON: 400 invalid_json", r, 400, inv, "invalid_json")
    for body in (b"", b"[]", b'"x"', b"null", b"\xff\xfe{}"):
        r = request("POST", "/v1/completions", raw_body=body, headers={"Content-Type": "application/json"})
        check_error("body %r: 400" % body, r, 400, inv)
    deep = b'{"model": "tiny", "prompt": "a", "x": ' + b"[" * 10000 + b"]" * 10000 + b"}"
    check_error("JSON nested 10000 deep: 400", request("POST", "/v1/completions", raw_body=deep,
                                                         headers={"Content-Type": "application/json"}), 400, inv)
    deep = b'{"model": "tiny", "prompt": "a", "x": ' + b'{"a":' * 100 + b"1" + b"}" * 100 + b"}"
    check_error("JSON objects nested 100 deep: 400", request("POST", "/v1/completions", raw_body=deep,
                                                           headers={"Content-Type": "application/json"}), 400, inv)
    # a wrong type or value for each field
    table = [
        ("model", 5), ("model", None), ("model", ["tiny"]),
        ("prompt", 5), ("prompt", {}), ("prompt", [1, 2]), ("prompt", ["a", "b"]), ("prompt", []),
        ("max_tokens", "5"), ("max_tokens", -1), ("max_tokens", 1.5), ("max_tokens", True),
        ("temperature", "x"), ("temperature", -1),
        ("top_p", "x"), ("top_p", -0.1), ("top_p", 1.5),
        ("n", 0), ("n", 9), ("n", "2"), ("n", 2.5),
        ("stream", "yes"), ("stream", 1),
        ("stop", 5), ("stop", ["a", "b", "c", "d", "e"]), ("stop", [1]), ("stop", {"a": 1}),
        ("seed", "x"), ("seed", 1.5),
        ("logprobs", 21), ("logprobs", -1), ("logprobs", "x"),
        ("top_k", -1), ("top_k", "x"), ("top_k", 0.5),
        ("echo", True), ("echo", "no"),
    ]
    for f, v in table:
        o = {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 4}
        o[f] = v
        check_error("completions %s: %s -> 400" % (f, json.dumps(v)), post("/v1/completions", o), 400, inv)
    check_error("a body without Content-Type: application/json -> 415", request(
        "POST", "/v1/completions", raw_body=b'{"model": "tiny", "prompt": "a"}', headers={"Content-Type": "text/plain"}), 415, inv)
    o = {"prompt": "ROMEO:"}
    check_error("completions without model: 400", post("/v1/completions", o), 400, inv)
    check_error("completions: unknown model -> 404 model_not_found", post("/v1/completions", {"model": "nope", "prompt": "a"}),
                404, inv, "model_not_found")
    check_error("completions: a prompt character the vocabulary lacks -> 400",
                post("/v1/completions", {"model": "tiny", "prompt": "\u4e2d\u6587", "max_tokens": 2}), 400, inv)
    check_error("completions: max_tokens over --max-tokens -> 400", post("/v1/completions", {
        "model": "tiny", "prompt": "a", "max_tokens": a.max_tokens + 1}), 400, inv)
    # the body's size: the answer must reach the client even if the server stops reading early
    big = json.dumps({"model": "tiny", "prompt": "a" * (2 << 20)}).encode()
    try:
        r = Raw("POST", "/v1/completions", body=big, send_body=False)
        try:
            r.sock.sendall(big)
        except OSError:
            pass
        r.read_all()
        res = (r.status, r.headers, r.data)
        r.close()
    except (OSError, RuntimeError) as e:
        res = (0, {}, str(e).encode())
    check_error("a 2 MiB body -> 413 body_too_large", res, 413, inv, "body_too_large")
    # routes and methods
    check_error("unknown route -> 404", request("GET", "/v1/nothing"), 404, inv)
    check_error("unknown route under /v1/nanogen -> 404", post("/v1/nanogen/nothing", {"model": "tiny"}), 404, inv)
    r = request("GET", "/v1/completions")
    check_error("GET /v1/completions -> 405", r, 405, inv)
    check("405 names the allowed method (Allow: POST)", "POST" in r[1].get("allow", ""), r[1])
    check_error("POST /v1/models -> 405", post("/v1/models", {}), 405, inv)
    check_error("DELETE /healthz -> 405", request("DELETE", "/healthz"), 405, inv)
    check_error("PUT /v1/completions -> 405", request("PUT", "/v1/completions", {"model": "tiny"}), 405, inv)
    # other routes' fields
    nx = [({"prompt": "a"}, 400), ({"model": "tiny", "prompt": 1}, 400), ({"model": "tiny", "prompt": "a", "top": 0}, 400),
          ({"model": "tiny", "prompt": "a", "top": 51}, 400), ({"model": "tiny", "prompt": "a", "temperatures": [1] * 9}, 400),
          ({"model": "tiny", "prompt": "a", "temperatures": [-1]}, 400), ({"model": "tiny", "prompt": "a", "temperatures": "1"}, 400),
          ({"model": "nope", "prompt": "a"}, 404)]
    for o, code in nx:
        check_error("next %s -> %d" % (json.dumps(o), code), post("/v1/nanogen/next", o), code, inv)
    for o, code in (({"model": "tiny", "prompt": 1}, 400), ({"model": "tiny", "prompt": ["a", "b"]}, 400),
                    ({"model": "nope", "prompt": "a"}, 404)):
        check_error("attention %s -> %d" % (json.dumps(o), code), post("/v1/nanogen/attention", o), code, inv)
    if not a.no_images:
        im = [("sample", {"model": "vae", "n": 0}, 400), ("sample", {"model": "vae", "n": 65}, 400),
              ("sample", {"model": "vae", "seed": "x"}, 400), ("sample", {"model": "tiny"}, 400), ("sample", {"model": "nope"}, 404),
              ("decode", {"model": "vae", "z": [0]}, 400), ("decode", {"model": "vae", "z": [0, "a"]}, 400),
              ("decode", {"model": "vae"}, 400), ("interpolate", {"model": "vae", "steps": 1}, 400),
              ("interpolate", {"model": "vae", "steps": 17}, 400), ("manifold", {"model": "gan"}, 400),
              ("manifold", {"model": "vae", "n": 21}, 400), ("manifold", {"model": "vae", "n": 1}, 400)]
        for route, o, code in im:
            check_error("images/%s %s -> %d" % (route, json.dumps(o), code), post("/v1/nanogen/images/" + route, o), code, inv)
        check_error("completions on an image model -> 400", post("/v1/completions", {"model": "vae", "prompt": "a"}), 400, inv)
    s, h, b = request("GET", "/healthz")
    check("the server still answers after every error", s == 200, s)


def g_same(a):
    """the plain, the streamed and `nanogen sample --batch` texts agree"""
    cases = [("temperature 0", {"temperature": 0}, dict(temperature=0)),
             ("temperature 0.9 seed 7", {"temperature": 0.9, "seed": 7}, dict(temperature=0.9, seed=7)),
             ("top_k 5 seed 9", {"temperature": 1, "top_k": 5, "seed": 9}, dict(temperature=1, seed=9, extra=["--top-k", "5"])),
             ("top_p 0.8 seed 4", {"temperature": 1, "top_p": 0.8, "seed": 4}, dict(temperature=1, seed=4, extra=["--top-p", "0.8"]))]
    for prompt, n_tok in (("ROMEO:", 80), ("ROMEO:\nO, she doth teach the torches to burn bright!\n", 20)):
        for name, fields, cli in cases:
            what = "%s, %d tokens, %d-character prompt" % (name, n_tok, len(prompt))
            req = dict(fields, prompt=prompt, max_tokens=n_tok)
            plain = completion_text(req)
            streamed = streamed_texts(req)[0]
            ref = sample_cli(a, a.ng, a.dir, prompt, n_tok, **cli)
            if not ref.startswith(prompt):   # sample echoes the prompt first
                fail(what + ": sample echoes the prompt", repr(ref[:80]))
                continue
            ref = ref[len(prompt):]
            check(what + ": plain == streamed", plain == streamed, "%r vs %r" % (plain, streamed))
            check(what + ": plain == nanogen sample --batch --num-samples 2 (sample 1)", plain == ref,
                  "server %r vs sample %r" % (plain, ref))
    # choice i uses seed S+i: choice 1 of seed 7 is sample 1 of seed 8
    o = jbody(completion({"prompt": "ROMEO:", "max_tokens": 30, "temperature": 0.9, "seed": 7, "n": 2})[2]) or {}
    ref = sample_cli(a, a.ng, a.dir, "ROMEO:", 30, 0.9, 8)[6:]
    check("n 2, seed 7: choice 1 == nanogen sample --seed 8 (sample 1)", (o.get("choices") or [{}, {}])[1].get("text") == ref,
          "%r vs %r" % (o.get("choices"), ref))


def g_independent(a):
    req = {"prompt": "JULIET:", "max_tokens": 60, "temperature": 0.9, "seed": 42}
    alone = completion_text(req)
    alone_s = streamed_texts(req)[0]
    others_tokens = 400
    for attempt in range(5):
        # 8 streams with other prompts and seeds, long enough to still run when the request ends
        others = []
        for k in range(8):
            r = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ABCDEFGH"[k] + "O", "max_tokens": others_tokens,
                                                "temperature": 1.0, "seed": 100 + k, "stream": True})
            others.append(r)
        firsts = [r.next_event() for r in others]   # each has its first token: all 8 are in the pool
        results_ = {}

        def run(key, fn):
            try:
                results_[key] = fn()
            except Exception as e:
                results_[key] = e
        th = [threading.Thread(target=run, args=("plain", lambda: completion_text(req))),
              threading.Thread(target=run, args=("streamed", lambda: streamed_texts(req)[0]))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        busy = metric("nanogen_active_streams")   # the 8 still run: they ran all along the two requests
        ends = []
        for r in others:
            evs = [e for e in iter(r.next_event, None)]
            ends.append(evs[-1] if evs else None)
            r.close()
        if busy < 1 and attempt < 4:
            others_tokens *= 4   # the others ended first on this machine: longer ones (a bound in tokens)
            continue
        check("independence: the 8 other streams ran during the request (%d tokens each, %d still active after it)"
              % (others_tokens, busy), busy >= 1 and all(f and f != "[DONE]" for f in firsts), busy)
        check("independence: the 8 other streams ended with [DONE]", all(e == "[DONE]" for e in ends), ends)
        for key, al in (("plain", alone), ("streamed", alone_s)):
            v = results_.get(key)
            check("independence (%s): temperature 0.9, seed 42: the same text alone and beside 8 streams" % key,
                  v == al, "alone %r, beside %r" % (al, v))
        break


def g_faults(a):
    def quiet():
        return poll_metric("nanogen_active_streams", 0)
    check("faults: no stream active at the start", quiet() == 0, "nanogen_active_streams stays > 0")
    big = a.max_tokens
    # a client that disconnects mid-stream
    tok0 = metric("nanogen_tokens_generated_total")
    r = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": big, "stream": True})
    e = r.next_event()
    r.close()
    left = quiet()
    made = metric("nanogen_tokens_generated_total") - tok0
    check("faults: a client gone mid-stream frees its slot (active streams back to 0)", e and left == 0, "active %r" % left)
    check("faults: ... and its generation stopped (%d of %d tokens drawn)" % (made, big), made < big / 2, made)
    # a client that stalls reading (a long stream it does not read) and one sending its body byte by byte
    stall = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": big, "stream": True})
    stall.read_head()
    body = json.dumps({"model": "tiny", "prompt": "ROMEO:", "max_tokens": 5, "temperature": 0}).encode()
    slow = Raw("POST", "/v1/completions", body=body, send_body=False)
    for k in range(len(body) // 2):
        slow.sock.sendall(body[k:k + 1])
        time.sleep(0.002)
    idle = socket.create_connection((HOST, PORT), timeout=TIMEOUT)   # connected, says nothing
    idle.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")      # half a head
    t = completion_text({"prompt": "ROMEO:", "max_tokens": 5, "temperature": 0})
    ref = completion_text({"prompt": "ROMEO:", "max_tokens": 5, "temperature": 0})  # (the same request again)
    check("faults: a request completes while a reader stalls, a body comes byte by byte and a head is half sent",
          len(t) == 5 and t == ref, repr(t))
    n_models = request("GET", "/healthz")
    check("faults: /healthz answers meanwhile", n_models[0] == 200, n_models[0])
    for k in range(len(body) // 2, len(body)):
        slow.sock.sendall(body[k:k + 1])
        time.sleep(0.002)
    data = slow.read_all()
    o = jbody(data) or {}
    check("faults: the byte-by-byte body is answered in full (200, the same text)",
          slow.status == 200 and (o.get("choices") or [{}])[0].get("text") == t, "HTTP %r %r" % (slow.status, data[:200]))
    slow.close()
    check("faults: the stalled reader's stream is still open (no [DONE] read)", stall.status == 200 and not stall.eof, stall.status)
    stall.close()
    idle.close()
    left = quiet()
    check("faults: the stalled reader gone, its slot is freed", left == 0, "active %r" % left)
    # many disconnects at once
    rs = [Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": big, "stream": True, "seed": k})
          for k in range(6)]
    for r in rs:
        r.next_event()
    for r in rs:
        r.close()
    left = quiet()
    check("faults: 6 clients gone at once free their 6 slots", left == 0, "active %r" % left)
    # a request whose connection closes before its body ends, and a plain (not streamed) request abandoned
    half = Raw("POST", "/v1/completions", body=body, send_body=False)
    half.sock.sendall(body[:10])
    half.close()
    # (200000 tokens: if it is not cancelled it still ends, within the polls or soon after)
    plain_max = 200000
    tok0 = metric("nanogen_tokens_generated_total")
    plain = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": plain_max})
    for _ in range(400):
        if metric("nanogen_active_streams") >= 1:
            break
        time.sleep(0.05)
    plain.close()
    left = quiet()
    made = metric("nanogen_tokens_generated_total") - tok0
    check("faults: a plain (not streamed) request abandoned frees its slot (%d of %d tokens drawn)" % (made, plain_max),
          left == 0 and made < plain_max / 2, "active %r, %d tokens drawn" % (left, made))
    s, h, b = request("GET", "/healthz")
    check("faults: the server still answers", s == 200, s)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def g_leak(a):
    if not a.pid:
        fail("leak", "no --pid")
        return

    def mixed(k):
        kind = k % 5
        if kind == 0:
            completion({"prompt": "ROMEO:", "max_tokens": 100, "logprobs": 5, "seed": k})
        elif kind == 1:
            completion({"prompt": "ROMEO:", "max_tokens": 100, "stream": True, "logprobs": 2, "n": 2, "seed": k})
        elif kind == 2:
            r = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 1000, "stream": True})
            r.next_event()
            r.close()
        elif kind == 3:
            post("/v1/nanogen/next", {"model": "tiny", "prompt": "ROMEO:" * 4, "temperatures": [0.5, 1, 2]})
            post("/v1/nanogen/attention", {"model": "tiny", "prompt": "ROMEO:" * 4})
        else:
            request("POST", "/v1/completions", raw_body=b'{"model": "tiny", "prompt": [[[', headers={"Content-Type": "application/json"})
            post("/v1/completions", {"model": "nope", "prompt": "a"})
            if not a.no_images:
                post("/v1/nanogen/images/sample", {"model": "vae", "n": 16, "seed": k})

    def batch(n, base):
        th = [threading.Thread(target=lambda j=j: [mixed(base + j + 4 * i) for i in range(n // 4)]) for j in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join()
    batch(100, 0)
    poll_metric("nanogen_active_streams", 0)
    r0 = rss_kb(a.pid)
    batch(200, 1000)
    poll_metric("nanogen_active_streams", 0)
    r1 = rss_kb(a.pid)
    # tests/test_serve.sh starts the server with MALLOC_ARENA_MAX=2: its RSS then follows the heap
    # (flat within 0.1 MB here), not the number of malloc arenas its threads happened to create
    bound = 2048
    check("no leak: RSS after 200 more requests %d kB <= %d kB after the warm-up + %d kB" % (r1, r0, bound), r1 <= r0 + bound,
          "grew by %d kB" % (r1 - r0))


def access_headers(h):
    return {k: v for k, v in h.items() if k.startswith("access-control-")}


def g_nocors(a):
    origin = {"Origin": "http://example.org"}
    for what, r in (("GET /v1/models", request("GET", "/v1/models", headers=origin)),
                    ("POST /v1/completions", post("/v1/completions", {"model": "tiny", "prompt": "a", "max_tokens": 1}, headers=origin)),
                    ("GET /", request("GET", "/", headers=origin)),
                    ("an error", request("GET", "/v1/nope", headers=origin)),
                    ("OPTIONS /v1/completions", request("OPTIONS", "/v1/completions", headers=dict(origin, **{
                        "Access-Control-Request-Method": "POST"})))):
        check("no --cors: no Access-Control-* header on %s" % what, not access_headers(r[1]), access_headers(r[1]))
    r = request("OPTIONS", "/v1/completions", headers=dict(origin, **{"Access-Control-Request-Method": "POST"}))
    check("no --cors: OPTIONS is not allowed (405)", r[0] == 405, r[0])


def g_limited(a):
    global KEY
    origin = a.cors
    key, KEY = KEY, None
    check_error("--api-key: GET /v1/models without a key -> 401", request("GET", "/v1/models"), 401, "authentication_error")
    check_error("--api-key: a wrong key -> 401", request("GET", "/v1/models", headers={"Authorization": "Bearer x" + key}), 401,
                "authentication_error")
    check_error("--api-key: not Bearer -> 401", request("GET", "/v1/models", headers={"Authorization": "Basic " + key}), 401,
                "authentication_error")
    check_error("--api-key: POST /v1/completions without a key -> 401", post("/v1/completions", {"model": "tiny", "prompt": "a"}),
                401, "authentication_error")
    check_error("--api-key: POST /v1/nanogen/next without a key -> 401", post("/v1/nanogen/next", {"model": "tiny", "prompt": "a"}),
                401, "authentication_error")
    check_error("--api-key: unknown /v1/ route without a key -> 401", request("GET", "/v1/nothing"), 401, "authentication_error")
    for p in ("/", "/app.js", "/style.css", "/healthz", "/metrics"):
        check("--api-key: GET %s stays open" % p, request("GET", p)[0] == 200, "not 200")
    KEY = key
    s, h, b = request("GET", "/v1/models")
    check("--api-key: the right key -> 200", s == 200, s)
    # CORS
    h = request("GET", "/v1/models", headers={"Origin": origin})[1]
    check("--cors: Access-Control-Allow-Origin is the origin given", h.get("access-control-allow-origin") == origin, access_headers(h))
    h = post("/v1/completions", {"model": "tiny", "prompt": "a", "max_tokens": 1}, headers={"Origin": origin})[1]
    check("--cors: ... on a completion too", h.get("access-control-allow-origin") == origin, access_headers(h))
    KEY = None
    s, h, b = request("OPTIONS", "/v1/completions", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
    KEY = key
    check("--cors: the OPTIONS preflight (no key needed): 2xx, the origin, POST, the Authorization and Content-Type headers",
          200 <= s < 300 and h.get("access-control-allow-origin") == origin and "POST" in h.get("access-control-allow-methods", "")
          and "authorization" in h.get("access-control-allow-headers", "").lower()
          and "content-type" in h.get("access-control-allow-headers", "").lower(), "HTTP %d %r" % (s, access_headers(h)))
    check_error("--max-streams 1: n 2 -> 400", post("/v1/completions", {"model": "tiny", "prompt": "a", "n": 2, "max_tokens": 1}),
                400, "invalid_request_error")
    # the queue: --max-streams 1 --queue 1
    check("queue: nothing active at the start", poll_metric("nanogen_active_streams", 0) == 0, "active streams")
    big = a.max_tokens
    first = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": big, "stream": True})
    e = first.next_event()
    check("queue: the first stream runs", e and e != "[DONE]" and poll_metric("nanogen_active_streams", 1) == 1, e)
    second = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 3, "stream": True})
    check("queue: the second waits in the queue", poll_metric("nanogen_queue_length", 1) == 1, "queue length not 1")
    third = post("/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 3, "stream": True})
    check_error("queue: the third -> 429 rate_limit_error queue_full", third, 429, "rate_limit_error", "queue_full")
    plain = post("/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 3})
    check_error("queue: a plain request too -> 429", plain, 429, "rate_limit_error", "queue_full")
    first.close()
    evs = []
    ev = second.next_event()
    while ev is not None:
        evs.append(ev)
        ev = second.next_event()
    second.close()
    check("queue: the first gone, the queued one runs to [DONE]", second.status == 200 and evs and evs[-1] == "[DONE]", evs[-3:])
    s, h, b = post("/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 3})
    check("queue: free again: 200", s == 200, s)


def g_timeout(a):
    """a server started with --name fast --timeout 1 and NANOGEN_API_KEY=KEY (given as --key)"""
    global KEY
    key, KEY = KEY, None
    check_error("NANOGEN_API_KEY: GET /v1/models without the key -> 401", request("GET", "/v1/models"), 401, "authentication_error")
    KEY = key
    s, h, b = request("GET", "/v1/models")
    check("NANOGEN_API_KEY: with the key -> 200; --name: the model is 'fast'",
          s == 200 and [m.get("id") for m in (jbody(b) or {}).get("data", [])] == ["fast"], b[:200])
    big = a.max_tokens
    r = Raw("POST", "/v1/completions", {"model": "fast", "prompt": "ROMEO:", "max_tokens": big, "stream": True})
    evs = []
    ev = r.next_event()
    while ev is not None:
        evs.append(ev)
        ev = r.next_event()
    r.close()
    errs = [o["error"] for o in (jbody(e.encode()) for e in evs[:-1]) if isinstance(o, dict) and isinstance(o.get("error"), dict)]
    check("--timeout 1: a stream of %d tokens ends early with an error event (code timeout), then [DONE]" % big,
          r.status == 200 and evs and evs[-1] == "[DONE]" and len(evs) < big and errs and errs[0].get("code") == "timeout"
          and errs[0].get("type") == "server_error", "%d events, the last %r" % (len(evs), evs[-3:]))
    check_error("--timeout 1: a plain completion of %d tokens -> 503 timeout" % big,
                completion({"prompt": "ROMEO:", "max_tokens": big}, model="fast"), 503, "server_error", "timeout")
    check("--timeout: nothing left active", poll_metric("nanogen_active_streams", 0) == 0, "active streams")


def g_shutdown(a):
    r = Raw("POST", "/v1/completions", {"model": "tiny", "prompt": "ROMEO:", "max_tokens": a.max_tokens, "stream": True})
    e = r.next_event()
    os.kill(a.pid, signal.SIGTERM)
    evs = [e]
    while True:
        ev = r.next_event()
        if ev is None:
            break
        evs.append(ev)
    r.close()
    check("SIGTERM: an open stream ends cleanly (its finish chunk, the usage chunk, [DONE])", len(evs) >= 3 and evs[-1] == "[DONE]"
          and (jbody(evs[-2].encode()) or {}).get("choices") == [] and len(evs) < a.max_tokens,
          "%d events, the last %r" % (len(evs), evs[-2:]))


def main():
    global HOST, PORT, KEY
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--key")
    ap.add_argument("--cors", default="http://example.org")
    ap.add_argument("--ng")
    ap.add_argument("--dir")
    ap.add_argument("--max-tokens", type=int, default=1000000, help="the server's --max-tokens")
    ap.add_argument("--max-streams", type=int, default=16, help="the server's --max-streams")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("groups", nargs="+")
    a = ap.parse_args()
    HOST, PORT, KEY = a.host, a.port, a.key
    for g in a.groups:
        fn = globals().get("g_" + g)
        if not fn:
            fail(g, "no such group")
            continue
        try:
            fn(a)
        except Exception as e:   # a group that cannot go on is one failure, named
            import traceback
            fail("%s (stopped)" % g, "%s: %s | %s" % (type(e).__name__, e, traceback.format_exc().splitlines()[-3].strip()))
    sys.exit(1 if results["fail"] else 0)


if __name__ == "__main__":
    main()
