"""tests/ngtest.py - helpers shared by the Python tests: pass/fail counting with the closing
"NAME: N passed, N failed" line, a plain safetensors reader (json + numpy, no nanogen code)
and the relative error ||a - b|| / ||b||."""
import json, struct, sys

passed = failed = 0


def check(ok, what):
    """Count one check; print what failed."""
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def finish(name):
    """Print the closing line and exit non-zero if anything failed."""
    print(f"{name}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


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


def rel_err(a, b):
    """||a - b|| / ||b|| in double precision."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64); b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))
