"""model.py — the PyTorch twin of the C library's model (vae.h), shared by the
reference scripts in tests/ref/ and bench/torch_bench.py.

Run these scripts with Debian's PyTorch (apt-get install python3-torch) and
the system interpreter, /usr/bin/python3. CI never needs PyTorch: the scripts'
outputs are committed.

The model, exactly as vae.c computes it:
  encoder  h = x (B, D); for each hidden width w: h = act(Linear(h))
           mu = enc.mu(h), logvar = enc.logvar(h)            (B, Z)
  sampling row r = b*k + i is sample i of image b:
           z = mu_rep + exp(0.5 * logvar_rep) * eps          (B*k, Z)
  decoder  h = z; the hidden widths in reverse: h = act(Linear(h))
           logits = dec.out(h)                               (B*k, D)
  log w  = log p(x|z) + log p(z) - log q(z|x)                (B, k)
  ELBO-k: mean_i log w_i;  IWAE-k: logsumexp_i log w_i - log k
  loss   = -mean over images of the bound.
Parameter names are the C library's: enc.0.weight (out, in), enc.0.bias, ...,
enc.mu.*, enc.logvar.*, dec.0.* (Z -> last hidden width), ..., dec.out.*.
"""
import gzip
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ACTS = ("tanh", "relu", "leaky_relu")


def act_fn(name):
    if name == "tanh":
        return torch.tanh
    if name == "relu":
        return F.relu
    if name == "leaky_relu":
        return lambda t: F.leaky_relu(t, 0.01)
    raise ValueError("unknown activation " + name)


class VAE(nn.Module):
    """MLP VAE/IWAE; parameters named as in the C library."""

    def __init__(self, D, Z, hidden, act="tanh"):
        super().__init__()
        self.D, self.Z, self.hidden = D, Z, list(hidden)
        self.act_name = act
        self.act = act_fn(act)
        enc = nn.ModuleDict()
        prev = D
        for i, w in enumerate(hidden):
            enc[str(i)] = nn.Linear(prev, w)
            prev = w
        enc["mu"] = nn.Linear(prev, Z)
        enc["logvar"] = nn.Linear(prev, Z)
        dec = nn.ModuleDict()
        prev = Z
        for i, w in enumerate(reversed(hidden)):
            dec[str(i)] = nn.Linear(prev, w)
            prev = w
        dec["out"] = nn.Linear(prev, D)
        self.enc, self.dec = enc, dec

    def param_list(self):
        """(name, tensor) in the C library's order: enc layers, mu, logvar,
        dec layers, out; weight before bias."""
        out = []
        n = len(self.hidden)
        for part, keys in (("enc", [str(i) for i in range(n)] + ["mu", "logvar"]),
                           ("dec", [str(i) for i in range(n)] + ["out"])):
            mods = getattr(self, part)
            for key in keys:
                out.append(("%s.%s.weight" % (part, key), mods[key].weight))
                out.append(("%s.%s.bias" % (part, key), mods[key].bias))
        return out

    def encode(self, x):
        h = x
        for i in range(len(self.hidden)):
            h = self.act(self.enc[str(i)](h))
        return self.enc["mu"](h), self.enc["logvar"](h)

    def decode(self, z):
        h = z
        for i in range(len(self.hidden)):
            h = self.act(self.dec[str(i)](h))
        return self.dec["out"](h)

    def logw(self, x, k, eps=None):
        """log importance weights (B, k). eps (B*k, Z) or None to draw it."""
        B = x.shape[0]
        mu, logvar = self.encode(x)
        mu_r = mu.repeat_interleave(k, 0)
        logvar_r = logvar.repeat_interleave(k, 0)
        std_r = torch.exp(0.5 * logvar_r)
        if eps is None:
            eps = torch.randn_like(mu_r)
        z = mu_r + std_r * eps
        logits = self.decode(z)
        x_r = x.repeat_interleave(k, 0)
        log_px = -F.binary_cross_entropy_with_logits(logits, x_r, reduction="none").sum(-1)
        log_pz = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(-1)
        log_qz = torch.distributions.Normal(mu_r, std_r).log_prob(z).sum(-1)
        return (log_px + log_pz - log_qz).view(B, k)

    def bound(self, x, objective, k, eps=None):
        """Per-image bound (B,)."""
        lw = self.logw(x, k, eps)
        if objective == "elbo":
            return lw.mean(1)
        if objective == "iwae":
            return torch.logsumexp(lw, 1) - math.log(k)
        raise ValueError("unknown objective " + objective)


def blas_library():
    """Path of the BLAS this process loaded (Debian's torch calls whatever
    libblas.so.3 the alternatives system points to: the reference netlib BLAS
    is several times slower than OpenBLAS)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.split()[-1]})
        return ", ".join(libs) or "none found"
    except OSError:
        return "unknown"


# ---- data ----

def read_idx(path):
    """An IDX file (plain or .gz) as a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError("%s: truncated" % path)
    return arr.reshape(shape)


def find_idx(data_dir, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError("no %s[.gz] in %s" % (stem, data_dir))


def load_images(data_dir, split):
    """split 'train' or 't10k': (n, 784) float32 binarised as pixel >= 128."""
    imgs = read_idx(find_idx(data_dir, "%s-images-idx3-ubyte" % split))
    imgs = imgs.reshape(imgs.shape[0], -1)
    return torch.from_numpy((imgs >= 128).astype(np.float32))
