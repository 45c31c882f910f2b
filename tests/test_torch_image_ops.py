#!/usr/bin/env python3
"""nanogen's image ops vs torch.nn.functional and autograd on the same numbers.

build/tests/tools/image_ops_dump writes, for each case, the inputs, weights, outputs, a random
output gradient dy and nanogen's input/weight gradients to one safetensors file; this script
reads it with a plain reader (json + numpy), recomputes everything with PyTorch (outputs,
gradients of sum(y * dy), BatchNorm running statistics) and requires a relative error
(||a - b|| / ||b||) of at most 1e-4 on every tensor.
Needs Debian's python3-torch and python3-numpy; prints "N passed, N failed".
"""
import json, os, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngtest  # noqa: E402
from ngtest import check, read_safetensors, rel_err  # noqa: E402

from ngtest import BUILD  # noqa: E402

TOL = 1e-4
ngtest.need_torch("tests/test_torch_image_ops.py")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


worst = {}


def compare(case, what, ours, ref):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ours = np.asarray(ours).reshape(ref.shape) if np.asarray(ours).size == ref.size else ours
    e = rel_err(ours, ref)
    worst[case] = max(worst.get(case, 0.0), e)
    check(e <= TOL, f"{case}.{what}: relative error {e:.2e} (shapes {np.shape(ours)} vs {ref.shape})")


def leaves(T, case, names, grad=True):
    return [torch.tensor(T[f"{case}.{n}"], dtype=torch.float64, requires_grad=grad) for n in names]


def grads(T, case, y, dy_name, named):
    """Backward sum(y * dy) in float64 and compare every named leaf's gradient."""
    dy = torch.tensor(T[f"{case}.{dy_name}"], dtype=torch.float64).reshape(y.shape)
    compare(case, "y", T[f"{case}.y"], y)
    y.backward(dy)
    for n, t in named:
        key = f"{case}.d{n}"
        check(key in T, f"nanogen gradient {key}")
        if key in T:
            compare(case, "d" + n, T[key], t.grad)


def test_conv(T):
    for case, bias in (("conv2d", True), ("conv2d_nobias", False)):
        names = ["x", "w"] + (["b"] if bias else [])
        ts = leaves(T, case, names)
        y = F.conv2d(ts[0], ts[1], ts[2] if bias else None, stride=2, padding=1)
        grads(T, case, y, "dy", zip(names, ts))
    case = "conv_transpose2d"
    ts = leaves(T, case, ["x", "w", "b"])
    y = F.conv_transpose2d(ts[0], ts[1], ts[2], stride=2, padding=1)
    check(tuple(y.shape[2:]) == (10, 12), f"conv_transpose2d output size {tuple(y.shape)}")
    grads(T, case, y, "dy", zip(["x", "w", "b"], ts))


def test_batchnorm(T):
    for case, training in (("batchnorm2d", True), ("batchnorm1d", True), ("batchnorm2d_eval", False)):
        x, w, b = leaves(T, case, ["x", "w", "b"])
        rm = torch.tensor(T[f"{case}.running_mean0"], dtype=torch.float64)
        rv = torch.tensor(T[f"{case}.running_var0"], dtype=torch.float64)
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.1, eps=1e-5)
        grads(T, case, y, "dy", (("x", x), ("w", w), ("b", b)))
        # training: momentum 0.1 and the unbiased variance; eval: untouched
        compare(case, "running_mean", T[f"{case}.running_mean"], rm)
        compare(case, "running_var", T[f"{case}.running_var"], rv)


def test_pool_pointwise(T):
    for case, f in (("maxpool_k2s2", lambda x: F.max_pool2d(x, 2, 2)), ("maxpool_k3s2", lambda x: F.max_pool2d(x, 3, 2)),
                    ("avgpool_k2s2", lambda x: F.avg_pool2d(x, 2, 2)), ("leaky_relu", lambda x: F.leaky_relu(x, 0.2)),
                    ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)):
        (x,) = leaves(T, case, ["x"])
        grads(T, case, f(x), "dy", (("x", x),))


def test_losses(T):
    cases = (("bce_mean", ["a", "b"], lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="mean")),
             ("bce_sum", ["a", "b"], lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum")),
             ("mse_mean", ["a", "b"], lambda a, b: F.mse_loss(a, b, reduction="mean")),
             ("kl_sum", ["mu", "logvar"], lambda m, v: -0.5 * torch.sum(1 + v - m.pow(2) - v.exp())),
             ("kl_mean", ["mu", "logvar"], lambda m, v: -0.5 * torch.sum(1 + v - m.pow(2) - v.exp()) / m.shape[0]))
    for case, names, f in cases:
        ts = leaves(T, case, names)
        grads(T, case, f(*ts), "dy", zip(names, ts))
    case = "reparam"
    mu, lv = leaves(T, case, ["mu", "logvar"])
    eps = torch.tensor(T["reparam.eps"], dtype=torch.float64)
    grads(T, case, mu + torch.exp(0.5 * lv) * eps, "dy", (("mu", mu), ("logvar", lv)))
    check("reparam.deps" not in T, "eps must get no gradient")


def main():
    tool = os.path.join(BUILD, "tests", "tools", "image_ops_dump")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "image_ops.safetensors")
        r = subprocess.run([tool, path], capture_output=True, text=True)
        check(r.returncode == 0, "image_ops_dump ran: " + r.stderr)
        if r.returncode:
            ngtest.finish("tests/test_torch_image_ops.py")
        T = read_safetensors(path)[0]
    torch.set_default_dtype(torch.float64)
    for t in (test_conv, test_batchnorm, test_pool_pointwise, test_losses):
        t(T)
    print("worst relative error per case: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    ngtest.finish("tests/test_torch_image_ops.py")


if __name__ == "__main__":
    main()
