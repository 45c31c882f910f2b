#!/usr/bin/env python3
"""The kernels the PyTorch reference runs in this environment, as one JSON line: PyTorch's
version, its BLAS (and, for OpenBLAS, the kernel set the loaded library picked: the same
OPENBLAS_CORETYPE rule as nanogen's process), oneDNN's version (its convolutions), the default
thread count. make bench prints it beside nanogen's, so a ratio says what it compared."""
import ctypes, json, re
import torch

cfg = torch.__config__.show()
blas = re.search(r"BLAS_INFO=(\w+)", cfg)
dnn = re.search(r"(?:oneDNN|MKL-DNN) v([0-9.]+)", cfg)
core = None
for line in open("/proc/self/maps"):
    if "libopenblas" in line:
        path = line.split()[-1]
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            pass
        break
print(json.dumps({"torch": torch.__version__, "blas": blas.group(1) if blas else "?", "openblas_core": core,
                  "onednn": dnn.group(1) if dnn else None, "threads": torch.get_num_threads()}))
