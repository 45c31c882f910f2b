#!/usr/bin/env python3
"""Image-model checkpoints between nanogen and PyTorch, both ways, with no nanogen code on the
Python side (json + numpy + the reference models of tests/torch_ref.py: VAE, G, D).

Names: the VAE's tensors are the reference VAE's state_dict names (fc1, mu, logvar, fc3, fc4);
the DCGAN's are the generator's and the discriminator's state_dict names prefixed "G." and
"D." (G.fc.weight, G.bn0.running_mean, D.c1.bias ...). nanogen does not write BatchNorm's
num_batches_tracked (torch's load_state_dict fills it in) and ignores it when reading.

1. nanogen -> PyTorch: a VAE (20 batches) and a DCGAN (5 batches) trained by nanogen on
   Fashion-MNIST load into the reference models (load_state_dict strict=True); the decoder /
   generator images for the same z, the VAE encoder's mu and reconstruction logits and the
   discriminator's logits for the same test images agree within 1e-4 (eval mode: BatchNorm
   with the running statistics). nanogen's side is tests/tools/image_dump, which loads the
   checkpoint with ng_checkpoint_load, as every command does.
2. PyTorch -> nanogen: reference models with random weights (torch.manual_seed; BatchNorm
   weights, biases and running statistics random too) written from their state_dict (I64
   num_batches_tracked included) give nanogen the same outputs, and `nanogen sample` draws from
   them. One weight changed by 1e-3 is seen (the comparison can fail). Clear errors naming the
   tensor for a batch counter of the wrong shape, an I64 weight, an extra tensor, a missing
   running_var, and for missing image_config metadata.
Prints "N passed, N failed".
"""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngtest  # noqa: E402
from ngtest import check, read_safetensors, write_safetensors  # noqa: E402

from ngtest import BUILD, NANOGEN  # noqa: E402

DUMP = os.path.join(BUILD, "tests", "tools", "image_dump")
FASHION = os.environ.get("NG_FASHION", "/usr/share/datasets/fashion-mnist")
NAME = "tests/test_interop_images.py"
TOL = 1e-4
ngtest.need_torch(NAME)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch_ref  # noqa: E402
if not os.path.isdir(FASHION):
    print(f"no Fashion-MNIST at {FASHION} (set NG_FASHION)")
    ngtest.skip("dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)", what="all of it (or set NG_FASHION)")
    ngtest.finish(NAME)

torch.set_num_threads(1)
X_TEST = torch_ref.idx_images(FASHION, "test")[:16]          # (16, 784) in [0, 1]


def nanogen_outputs(d, z, x=None):
    """tests/tools/image_dump on checkpoint d: {"images", and "mu", "recon_logits" | "d_logits"}."""
    inp, out = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
    write_safetensors(inp, {"z": z} if x is None else {"z": z, "x": x}, {})
    r = subprocess.run([DUMP, d, inp, out], capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr
    return read_safetensors(out)[0], ""


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def torch_vae(vae, z, x):
    """The reference VAE in eval: decoder images at z, mu and the decoder's logits at mu for x."""
    with torch.no_grad():
        mu, _ = vae.encode(x)
        return {"images": torch.sigmoid(vae.decode(z)).view(-1, 1, 28, 28), "mu": mu, "recon_logits": vae.decode(mu)}


def torch_gan(g, d, z, x):
    g.eval(); d.eval()
    with torch.no_grad():
        return {"images": g(z), "d_logits": d(x.view(-1, 1, 28, 28))}


def compare(what, ours, ref, names):
    """Every output within TOL; returns the largest difference."""
    worst = 0.0
    for k in names:
        if ours is None or k not in ours:
            check(False, f"{what}: nanogen gave no '{k}'")
            continue
        check(ours[k].shape == tuple(ref[k].shape), f"{what}: {k} shape {ours[k].shape} vs {tuple(ref[k].shape)}")
        if ours[k].shape != tuple(ref[k].shape):
            continue
        m = max_diff(ours[k], ref[k].numpy())
        check(m <= TOL, f"{what}: {k} differs by {m:.3g} (> {TOL})")
        worst = max(worst, m)
        print(f"{what}: {k} {tuple(ref[k].shape)} max |nanogen - PyTorch| = {m:.3g}")
    return worst


def train(kind, d, batches):
    r = subprocess.run([NANOGEN, "train", kind, "--data", "fashion-mnist", "--out", d, "--epochs", "1",
                        "--max-batches", str(batches), "--threads", "1"], capture_output=True, text=True)
    check(r.returncode == 0, f"nanogen train {kind}: {r.stderr[-500:]}")
    return r.returncode == 0


def split(weights, prefix):
    return {k[len(prefix):]: torch.from_numpy(v) for k, v in weights.items() if k.startswith(prefix)}


def nanogen_to_torch(tmp):
    torch.manual_seed(7)
    # VAE
    d = os.path.join(tmp, "vae")
    if train("vae", d, 20):
        weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        cfg = json.loads(meta["image_config"])
        vae = torch_ref.VAE(cfg["hidden"], cfg["latent"])
        try:
            vae.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
            loaded = True
        except RuntimeError as e:
            loaded = False
            check(False, f"nanogen VAE into torch_ref.VAE (strict): {e}")
        if loaded:
            z = torch.randn(16, cfg["latent"])
            ours, err = nanogen_outputs(d, z.numpy(), X_TEST.numpy())
            check(ours is not None, "image_dump on the nanogen VAE: " + err)
            compare("nanogen -> PyTorch, VAE (20 batches)", ours, torch_vae(vae, z, X_TEST), ["images", "mu", "recon_logits"])
    # DCGAN
    d = os.path.join(tmp, "gan")
    if train("gan", d, 5):
        weights, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        cfg = json.loads(meta["image_config"])
        g, dd = torch_ref.G(cfg["latent"]), torch_ref.D()
        check(set(weights) == {"G." + k for k in g.state_dict() if not k.endswith("num_batches_tracked")} |
              {"D." + k for k in dd.state_dict() if not k.endswith("num_batches_tracked")},
              f"nanogen GAN tensors = G./D. + the reference state_dict names: {sorted(weights)}")
        try:
            g.load_state_dict(split(weights, "G."), strict=True)
            dd.load_state_dict(split(weights, "D."), strict=True)
            loaded = True
        except RuntimeError as e:
            loaded = False
            check(False, f"nanogen GAN into torch_ref.G / D (strict): {e}")
        if loaded:
            check(float(g.bn0.running_var.sub(1).abs().max()) > 1e-3, "5 trained batches moved G.bn0.running_var off 1")
            z = torch.randn(8, cfg["latent"])
            x = X_TEST * 2 - 1
            ours, err = nanogen_outputs(d, z.numpy(), x.numpy())
            check(ours is not None, "image_dump on the nanogen GAN: " + err)
            compare("nanogen -> PyTorch, DCGAN (5 batches)", ours, torch_gan(g, dd, z, x), ["images", "d_logits"])


def randomize_bn(model):
    """BatchNorm weight, bias and running statistics away from their 1/0 defaults."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.1); m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(17)


def torch_to_nanogen(tmp):
    d = os.path.join(tmp, "from_torch")
    os.makedirs(d)
    path = os.path.join(d, "model.safetensors")
    # VAE
    torch.manual_seed(11)
    vae = torch_ref.VAE()
    vae.eval()
    vsd = {k: v.numpy() for k, v in vae.state_dict().items()}
    vmeta = {"image_config": json.dumps({"model": "vae", "channels": 1, "height": 28, "width": 28, "hidden": 400, "latent": 20})}
    write_safetensors(path, vsd, vmeta)
    z = torch.randn(16, 20)
    ours, err = nanogen_outputs(d, z.numpy(), X_TEST.numpy())
    check(ours is not None, "image_dump on a PyTorch VAE state_dict: " + err)
    compare("PyTorch -> nanogen, VAE", ours, torch_vae(vae, z, X_TEST), ["images", "mu", "recon_logits"])
    r = subprocess.run([NANOGEN, "sample", d, "--out", os.path.join(tmp, "v.png"), "--n", "4", "--threads", "1"], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.getsize(os.path.join(tmp, "v.png")) > 100, "nanogen sample on a PyTorch VAE: " + r.stderr)

    # DCGAN: the whole state_dict of G and D, num_batches_tracked (I64) included
    torch.manual_seed(12)
    g, dd = torch_ref.G(), torch_ref.D()
    randomize_bn(g); randomize_bn(dd)
    sd = {"G." + k: v.numpy() for k, v in g.state_dict().items()}
    sd.update({"D." + k: v.numpy() for k, v in dd.state_dict().items()})
    check(sd["G.bn0.num_batches_tracked"].dtype == np.int64 and sd["G.bn0.num_batches_tracked"].shape == (),
          "torch's num_batches_tracked is an int64 scalar")
    gmeta = {"image_config": json.dumps({"model": "gan", "channels": 1, "height": 28, "width": 28, "latent": 100})}
    write_safetensors(path, sd, gmeta)
    z, x = torch.randn(8, 100), X_TEST * 2 - 1
    ref = torch_gan(g, dd, z, x)
    ours, err = nanogen_outputs(d, z.numpy(), x.numpy())
    check(ours is not None, "image_dump on a PyTorch G + D state_dict: " + err)
    compare("PyTorch -> nanogen, DCGAN", ours, ref, ["images", "d_logits"])
    r = subprocess.run([NANOGEN, "sample", d, "--out", os.path.join(tmp, "g.png"), "--n", "4", "--threads", "1"], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.getsize(os.path.join(tmp, "g.png")) > 100, "nanogen sample on a PyTorch DCGAN: " + r.stderr)

    # the comparison can fail: one weight of the generator's last layer off by 1e-3
    bad = dict(sd)
    bad["G.up2.bias"] = sd["G.up2.bias"] + 1e-3
    write_safetensors(path, bad, gmeta)
    ours, err = nanogen_outputs(d, z.numpy())
    m = max_diff(ours["images"], ref["images"].numpy()) if ours else 0.0
    check(m > TOL, f"a bias changed by 1e-3 is seen: images differ by {m:.3g}")
    print(f"PyTorch -> nanogen, DCGAN with G.up2.bias + 1e-3: images differ by {m:.3g} (> {TOL}: seen)")

    # what does not fit is named
    cases = [
        ("a batch counter of shape [2]", dict(sd, **{"G.bn1.num_batches_tracked": np.array([3, 4], np.int64)}), gmeta,
         "G.bn1.num_batches_tracked"),
        ("a weight stored as I64", dict(sd, **{"D.bn2.weight": np.ones(128, np.int64)}), gmeta, "'D.bn2.weight' has dtype I64"),
        ("a counter beside no BatchNorm", dict(sd, **{"G.fc.num_batches_tracked": np.array(1, np.int64)}), gmeta,
         "unexpected tensor 'G.fc.num_batches_tracked'"),
        ("an extra tensor", dict(sd, **{"G.extra": np.ones(3, np.float32)}), gmeta, "G.extra"),
        ("a missing running_var", {k: v for k, v in sd.items() if k != "D.bn2.running_var"}, gmeta, "D.bn2.running_var"),
        ("no image_config metadata", sd, {}, "image_config"),
        ("a VAE config on DCGAN tensors", sd, vmeta, "fc1.weight"),
    ]
    for what, tensors, md, word in cases:
        write_safetensors(path, tensors, md)
        r = subprocess.run([NANOGEN, "sample", d, "--out", os.path.join(tmp, "bad.png"), "--n", "4"], capture_output=True, text=True)
        check(0 < r.returncode < 128 and word in r.stderr and "nanogen:" in r.stderr and not os.path.exists(os.path.join(tmp, "bad.png")),
              f"{what}: clear error naming '{word}', got rc {r.returncode}: {r.stderr}")


with tempfile.TemporaryDirectory() as tmp:
    nanogen_to_torch(tmp)
    torch_to_nanogen(tmp)
ngtest.finish(NAME)
