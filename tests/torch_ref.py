"""tests/torch_ref.py - the PyTorch reference models the tests compare nanogen against, written
from SPEC.md's model definitions (each class below states the one it implements):

- GPT(vocab_size, block_size, n_layer, n_head, n_embd, dropout, gelu="tanh", bias=True):
  pre-LayerNorm decoder, learned positions, fused q/k/v, causal attention, tanh-GELU MLP (or
  the exact one, gelu="exact"; bias=False: nanoGPT's linears without bias and LayerNorms with a
  weight only), tied output head; forward(idx, targets=None) -> (logits, mean cross-entropy or None);
- VAE(hidden=400, latent=20, inputs=784): encode(x) -> (mu, logvar), decode(z) -> logits;
- G(nz=100), D(): the 28x28 DCGAN generator (z -> tanh image) and discriminator (image -> logit);
- idx_images(folder, split): Fashion-MNIST's IDX pictures as an (N, 784) tensor in [0, 1].

The state_dict() names and shapes are those of nanogen's checkpoints (DEVELOPERS.md,
"Checkpoints"): `wte.weight` (V, C), `wpe.weight` (T, C), `h.{i}.ln_1|c_attn|c_proj|ln_2|c_fc|
mlp_proj.weight|bias`, `ln_f.*`; the VAE's `fc1`, `mu`, `logvar`, `fc3`, `fc4`; the DCGAN's `fc`,
`bn0`, `up1`, `bn1`, `up2` (G) and `c1`, `c2`, `bn2`, `fc` (D). No other tensors: the causal
mask is built in forward, not kept as a buffer. The tests load nanogen's tensors into these
models with load_state_dict(strict=True) and write their state_dict() for nanogen to read.
This file is the tests' own; ../shared/bench holds the benchmark scripts, which the tests do not
use. Needs Debian's python3-torch (1.13 has no scaled_dot_product_attention: attention is
written out).
"""
import gzip, math, os, struct

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


# ------------------------------------------------------------------------------------ GPT
class LayerNorm(nn.Module):
    """LayerNorm over the last dimension, eps 1e-5, with a bias or not (torch 1.13's nn.LayerNorm
    has no bias=False): state_dict `weight` and, with a bias, `bias`."""

    def __init__(self, n, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    """x + drop(c_proj(attn(ln_1(x)))), then x + drop(mlp_proj(gelu_tanh(c_fc(ln_2(x)))))."""

    def __init__(self, n_embd, n_head, dropout, gelu="tanh", bias=True):
        super().__init__()
        self.n_head, self.dropout, self.gelu = n_head, dropout, gelu
        self.ln_1 = LayerNorm(n_embd, bias)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)     # q, k, v in one (3C, C) weight
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.ln_2 = LayerNorm(n_embd, bias)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def heads(self, t, B, T, C):
        """(B, T, C) -> (B, H, T, C/H)"""
        return t.reshape(B, T, self.n_head, C // self.n_head).permute(0, 2, 1, 3)

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = (self.heads(t, B, T, C) for t in self.c_attn(x).chunk(3, dim=-1))
        scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(C // self.n_head))
        future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=1)
        p = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        p = F.dropout(p, self.dropout, self.training)
        y = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, C)
        return self.c_proj(y)

    def forward(self, x):
        x = x + F.dropout(self.attention(self.ln_1(x)), self.dropout, self.training)
        h = F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh" if self.gelu == "tanh" else "none")
        return x + F.dropout(self.mlp_proj(h), self.dropout, self.training)


class GPT(nn.Module):
    """The SPEC.md GPT. Init: weight matrices and embeddings N(0, 0.02), c_proj and mlp_proj
    weights N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weights 1."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0, gelu="tanh", bias=True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd {n_embd} is not divisible by n_head {n_head}")
        self.block_size, self.dropout = block_size, dropout
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout, gelu, bias) for _ in range(n_layer)])
        self.ln_f = LayerNorm(n_embd, bias)
        small = 0.02 / math.sqrt(2 * n_layer)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    p.normal_(0.0, small if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02)
                elif name.endswith(".bias"):
                    p.zero_()
                else:
                    p.fill_(1.0)   # LayerNorm weights

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        if T > self.block_size:
            raise ValueError(f"{T} tokens, block size {self.block_size}")
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        x = F.dropout(x, self.dropout, self.training)
        for block in self.h:
            x = block(x)
        logits = torch.matmul(self.ln_f(x), self.wte.weight.t())   # the head is tied to wte
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ------------------------------------------------------------------------------------ VAE
class VAE(nn.Module):
    """inputs -> hidden (ReLU) -> mu, logvar (latent); latent -> hidden (ReLU) -> inputs logits."""

    def __init__(self, hidden=400, latent=20, inputs=784):
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, inputs)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        """Logits of the pixels (sigmoid gives the picture)."""
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


# ------------------------------------------------------------------------------------ DCGAN
class G(nn.Module):
    """z (nz) -> 6272 (no bias) -> BatchNorm -> ReLU -> 128x7x7 -> ConvTranspose 128->64 (k4 s2 p1,
    no bias) -> BatchNorm -> ReLU -> ConvTranspose 64->1 (k4 s2 p1) -> tanh: 1x28x28."""

    def __init__(self, nz=100):
        super().__init__()
        self.fc = nn.Linear(nz, 128 * 7 * 7, bias=False)
        self.bn0 = nn.BatchNorm1d(128 * 7 * 7)
        self.up1 = nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.up2 = nn.ConvTranspose2d(64, 1, kernel_size=4, stride=2, padding=1)

    def forward(self, z):
        x = F.relu(self.bn0(self.fc(z))).reshape(z.shape[0], 128, 7, 7)
        x = F.relu(self.bn1(self.up1(x)))
        return torch.tanh(self.up2(x))


class D(nn.Module):
    """1x28x28 -> Conv 1->64 (k4 s2 p1) -> LeakyReLU 0.2 -> Conv 64->128 (k4 s2 p1, no bias) ->
    BatchNorm -> LeakyReLU 0.2 -> flatten -> 6272 -> 1 logit."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 64, kernel_size=4, stride=2, padding=1)
        self.c2 = nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(self.bn2(self.c2(x)), 0.2)
        return self.fc(x.reshape(x.shape[0], -1))


# ------------------------------------------------------------------------------------ data
def idx_images(folder, split):
    """Pictures of an IDX file (train-images-idx3-ubyte or t10k-..., .gz or not) in `folder`, as
    a float32 tensor (N, rows*cols) scaled to [0, 1]."""
    stem = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}[split]
    path = os.path.join(folder, stem)
    if not os.path.exists(path):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or ndim != 3:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes with 3 dimensions")
    n, rows, cols = struct.unpack(">III", raw[4:16])
    pixels = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=16)
    return torch.from_numpy(pixels.reshape(n, rows * cols).astype(np.float32) / 255.0)
