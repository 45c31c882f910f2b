"""tests/ngtest.py - helpers shared by the Python tests: pass/fail/skip counting with the closing
"NAME: N passed, N failed, N skipped" line (after one "skipped: N x REASON" line per distinct
reason, which tests/run.sh adds up), where things are (the command, the build, the text corpus),
the PyTorch prerequisites, a plain safetensors reader and writer (json + numpy, no nanogen code)
and the relative error ||a - b|| / ||b||. The PyTorch reference models are tests/torch_ref.py."""
import json, os, struct, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))                   # the tools (tests/tools)
NANOGEN = os.environ.get("NANOGEN_BIN", os.path.join(ROOT, "nanogen"))         # SANITIZE=1: build-san/nanogen

passed = failed = skipped = 0
skip_reasons = {}   # reason -> checks skipped, in the order first seen


def check(ok, what):
    """Count one check; print what failed."""
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def skip(reason, n=1, what=""):
    """Count n checks not made (what: which ones) because of `reason`, a fixed sentence (the
    runner lists each distinct reason once, so put no numbers or paths that vary in it)."""
    global skipped
    skipped += n
    skip_reasons[reason] = skip_reasons.get(reason, 0) + n
    print(f"skip {what + ': ' if what else ''}{n} check{'' if n == 1 else 's'}: {reason}")


def finish(name):
    """Print the skip reasons and the closing line; exit non-zero if anything failed."""
    for reason, n in skip_reasons.items():
        print(f"skipped: {n} x {reason}")
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 0)


def need_torch(name):
    """numpy and torch must import (the suite needs them: scripts/deps.sh test installs
    python3-torch and python3-numpy), else the test file fails with its closing line."""
    try:
        import numpy, torch  # noqa: F401
    except ImportError as e:
        print("cannot import torch/numpy:", e)
        check(False, "python3-torch and python3-numpy are needed")
        finish(name)


def corpus():
    """The text corpus of the tests: $NG_SHAKESPEARE, else what scripts/corpus.sh prints (Tiny
    Shakespeare when a copy is here, else nanogen's own sources as ASCII text, always there)."""
    path = os.environ.get("NG_SHAKESPEARE") or subprocess.run(
        ["sh", os.path.join(ROOT, "scripts", "corpus.sh")], capture_output=True, text=True).stdout.strip()
    return os.path.join(ROOT, path)


def read_safetensors(path):
    """Standard safetensors: 8-byte little-endian header size, JSON header, F32 data.
    Returns ({name: numpy array}, metadata dict)."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", e
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).copy()
    return out, meta


DTYPES = {"F32": "<f4", "F16": "<f2"}


def write_safetensors(path, tensors, metadata, order=None, gap=0, dtype="F32"):
    """Standard safetensors with json + numpy: 8-byte little-endian header size, JSON header
    (name -> dtype, shape, data_offsets; "__metadata__" of strings), then the data. `order`
    lays the data out in another order than the header's, `gap` leaves unused bytes between
    tensors, dtype F32, F16 or BF16 (BF16: the top 16 bits of each F32, rounded to nearest even).
    Integer arrays (PyTorch's num_batches_tracked) are written as I64 whatever `dtype` says."""
    import numpy as np
    header, blobs, offset = {"__metadata__": metadata}, {}, 0
    for name in order or list(tensors):
        a = np.asarray(tensors[name])
        dt = dtype
        if np.issubdtype(a.dtype, np.integer):
            raw, dt = np.ascontiguousarray(a, dtype="<i8").tobytes(), "I64"
        elif dtype == "BF16":
            u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
            raw = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()
        else:
            raw = np.ascontiguousarray(a, dtype=np.float32).astype(DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs[name] = raw
        offset += len(raw) + gap
    data = bytearray(offset)
    for name in blobs:
        b, e = header[name]["data_offsets"]
        data[b:e] = blobs[name]
    h = json.dumps({k: header[k] for k in ["__metadata__"] + list(tensors)}).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(data))


def rel_err(a, b):
    """||a - b|| / ||b|| in double precision."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64); b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
