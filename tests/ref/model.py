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

Likelihood p(x|z), from the decoder's logits l (B*k, D):
  bernoulli  x binary: sum_d x_d log sigmoid(l_d) + (1 - x_d) log sigmoid(-l_d)
  gaussian   x = pixel/255 in [0, 1]: mean mu = sigmoid(l), one isotropic
             sigma, fixed (sigma > 0) or learned (sigma = exp(lik.log_sigma));
             -D/2 log(2 pi sigma^2) - sum_d (x_d - mu_d)^2 / (2 sigma^2),
             the constant included, so the bound is a true (continuous) density.
Prior p(z):
  normal     N(0, I)
  mog        K components: weights pi = softmax(prior.logit), component c is
             N(prior.mean[c], diag exp(prior.logvar[c]));
             log p(z) = logsumexp_c [log pi_c + sum_j log N(z_j; mean_cj, exp(logvar_cj))]
KL term:
  mc         the Monte-Carlo form above (log p(z) - log q(z|x) at the sample)
  analytic   ELBO with the normal prior only: mean_i log p(x|z_i) - KL(q || N(0, I)),
             KL = 0.5 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j); z_i is still
             drawn with the reparameterisation for the likelihood term.

Parameter names are the C library's: enc.0.weight (out, in), enc.0.bias, ...,
enc.mu.*, enc.logvar.*, dec.0.* (Z -> last hidden width), ..., dec.out.*, then
lik.log_sigma (1,) when sigma is learned, then prior.mean (K, Z),
prior.logvar (K, Z), prior.logit (K,) for the mog prior. Their initialisation
here (what train_ref.py trains from): log_sigma 0, mean N(0, 1), logvar 0,
logit 0.
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
LIKELIHOODS = ("bernoulli", "gaussian")
PRIORS = ("normal", "mog")
KLS = ("mc", "analytic")
LOG_2PI = math.log(2 * math.pi)


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

    def __init__(self, D, Z, hidden, act="tanh", likelihood="bernoulli", sigma=0.0,
                 prior="normal", components=0, kl="mc"):
        """sigma: the Gaussian likelihood's fixed sigma, or 0 to learn it.
        components: K of the mog prior (ignored for the normal prior)."""
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError("unknown likelihood " + likelihood)
        if prior not in PRIORS:
            raise ValueError("unknown prior " + prior)
        if kl not in KLS:
            raise ValueError("unknown kl " + kl)
        if sigma < 0:
            raise ValueError("sigma must be > 0 (fixed) or 0 (learned)")
        if prior == "mog" and components < 1:
            raise ValueError("the mog prior needs components >= 1")
        if kl == "analytic" and prior != "normal":
            raise ValueError("the analytic KL needs the normal prior")
        self.likelihood, self.prior, self.kl = likelihood, prior, kl
        self.sigma = float(sigma)
        self.components = components if prior == "mog" else 0
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
        # Created after the Linear layers, so that the configurations without
        # them draw exactly the same initial weights as before.
        self.log_sigma = None
        if likelihood == "gaussian" and self.sigma == 0:
            self.log_sigma = nn.Parameter(torch.zeros(1))
        self.prior_mean = self.prior_logvar = self.prior_logit = None
        if prior == "mog":
            K = self.components
            self.prior_mean = nn.Parameter(torch.randn(K, Z))
            self.prior_logvar = nn.Parameter(torch.zeros(K, Z))
            self.prior_logit = nn.Parameter(torch.zeros(K))

    def param_list(self):
        """(name, tensor) in the C library's order: enc layers, mu, logvar,
        dec layers, out; weight before bias; then lik.log_sigma (learned
        sigma only); then prior.mean, prior.logvar, prior.logit (mog only)."""
        out = []
        n = len(self.hidden)
        for part, keys in (("enc", [str(i) for i in range(n)] + ["mu", "logvar"]),
                           ("dec", [str(i) for i in range(n)] + ["out"])):
            mods = getattr(self, part)
            for key in keys:
                out.append(("%s.%s.weight" % (part, key), mods[key].weight))
                out.append(("%s.%s.bias" % (part, key), mods[key].bias))
        if self.log_sigma is not None:
            out.append(("lik.log_sigma", self.log_sigma))
        if self.prior == "mog":
            out += [("prior.mean", self.prior_mean), ("prior.logvar", self.prior_logvar),
                    ("prior.logit", self.prior_logit)]
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

    def log_px(self, logits, x_r):
        """log p(x|z) per row (B*k,), from the decoder's logits."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x_r, reduction="none").sum(-1)
        D = logits.shape[1]
        sq = (x_r - torch.sigmoid(logits)).pow(2).sum(-1)
        if self.log_sigma is not None:
            # -D/2 log(2 pi sigma^2) = -D/2 log(2 pi) - D log_sigma
            return -0.5 * D * LOG_2PI - D * self.log_sigma - 0.5 * sq * torch.exp(-2 * self.log_sigma)
        return -0.5 * D * math.log(2 * math.pi * self.sigma ** 2) - sq / (2 * self.sigma ** 2)

    def log_pz(self, z):
        """log p(z) per row (B*k,), the full density (-0.5 log 2 pi per unit)."""
        if self.prior == "normal":
            # as it always was computed: golden.txt's first cases depend on these bits
            return torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(-1)
        # (N, 1, Z) against (K, Z): per-component diagonal Gaussian log-density
        d = z.unsqueeze(1) - self.prior_mean
        comp = -0.5 * (LOG_2PI + self.prior_logvar + d.pow(2) * torch.exp(-self.prior_logvar)).sum(-1)
        return torch.logsumexp(F.log_softmax(self.prior_logit, 0) + comp, 1)

    def prior_perplexity(self):
        """exp(entropy of the mixture weights): the number of components in
        effective use (1 for the normal prior)."""
        if self.prior != "mog":
            return 1.0
        with torch.no_grad():
            logp = F.log_softmax(self.prior_logit.double(), 0)
            return math.exp(-(logp.exp() * logp).sum().item())

    def _sample(self, x, k, eps):
        mu, logvar = self.encode(x)
        mu_r = mu.repeat_interleave(k, 0)
        logvar_r = logvar.repeat_interleave(k, 0)
        std_r = torch.exp(0.5 * logvar_r)
        if eps is None:
            eps = torch.randn_like(mu_r)
        z = mu_r + std_r * eps
        return mu, logvar, mu_r, std_r, z

    def logw(self, x, k, eps=None):
        """log importance weights (B, k). eps (B*k, Z) or None to draw it."""
        B = x.shape[0]
        _, _, mu_r, std_r, z = self._sample(x, k, eps)
        log_px = self.log_px(self.decode(z), x.repeat_interleave(k, 0))
        log_qz = torch.distributions.Normal(mu_r, std_r).log_prob(z).sum(-1)
        return (log_px + self.log_pz(z) - log_qz).view(B, k)

    def bound(self, x, objective, k, eps=None):
        """Per-image bound (B,)."""
        if objective not in ("elbo", "iwae"):
            raise ValueError("unknown objective " + objective)
        if self.kl == "analytic":
            # the KL is a property of q only: it cannot enter IWAE's
            # per-sample weights, hence ELBO only
            if objective != "elbo":
                raise ValueError("the analytic KL works with the ELBO only")
            B = x.shape[0]
            mu, logvar, _, _, z = self._sample(x, k, eps)
            log_px = self.log_px(self.decode(z), x.repeat_interleave(k, 0)).view(B, k)
            kl = 0.5 * (mu.pow(2) + torch.exp(logvar) - 1 - logvar).sum(-1)
            return log_px.mean(1) - kl
        lw = self.logw(x, k, eps)
        if objective == "elbo":
            return lw.mean(1)
        return torch.logsumexp(lw, 1) - math.log(k)


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


def load_images(data_dir, split, binarize="static"):
    """split 'train' or 't10k': (n, 784) float32. binarize 'static': pixel >= 128
    (for the Bernoulli likelihood); 'none': pixel/255, divided in float32 as the
    C library does, so both see the same numbers (for the Gaussian one)."""
    imgs = read_idx(find_idx(data_dir, "%s-images-idx3-ubyte" % split))
    imgs = imgs.reshape(imgs.shape[0], -1)
    if binarize == "static":
        return torch.from_numpy((imgs >= 128).astype(np.float32))
    if binarize == "none":
        return torch.from_numpy(imgs.astype(np.float32) / np.float32(255))
    raise ValueError("unknown binarize " + binarize)
