#!/usr/bin/python3
"""golden.py — writes tests/ref/golden.txt, the PyTorch reference that
tests/test_parity.c compares vae.c against: for 17 small cases the inputs,
noise, weights, the mean bound and the gradient of the loss (minus the mean
bound) for every parameter. The first 9 (3 activations x ELBO-1, ELBO-5,
IWAE-5, Bernoulli likelihood, normal prior, Monte-Carlo KL) are the original
ones, unchanged; the 8 after them exercise the Gaussian likelihood (learned
and fixed sigma), the mixture-of-Gaussians prior and the analytic KL (see
model.py for the formulas).

    /usr/bin/python3 tests/ref/golden.py [--out tests/ref/golden.txt] [--seed 1234]

Needs Debian's PyTorch (apt-get install python3-torch); CI does not: the
output is committed. Computes in float64. Every input (x, eps, weights,
sigma) is first rounded to float32, so the C library, which works in float,
receives exactly the numbers the reference used, and the only difference
left is its own float32 arithmetic.

All cases draw from one generator, in file order: a new case appended at the
end leaves the ones before it byte-identical. Within a case: each parameter in
param_list order, then x, then eps. Weights are uniform +-1.5/sqrt(fan_in),
biases +-[0.05, 0.5]; the newer parameters are drawn so that their gradients
are clearly non-zero: lik.log_sigma uniform in [-1, 0.5], prior.mean N(0, 1),
prior.logvar uniform in [-0.5, 0.5], prior.logit N(0, 0.5^2). x is binary
(p = 1/2) for the Bernoulli likelihood, uniform in [0, 1] for the Gaussian.

OpenBLAS picks its kernels by CPU (or by OPENBLAS_CORETYPE), and other
kernels change the last digits of the float64 results (~1e-16, far below the
C test's tolerance, but the file would no longer diff clean). The committed
file was written with the SkylakeX kernels, so on a CPU with AVX-512 this
script sets OPENBLAS_CORETYPE=SkylakeX for itself, overriding the environment
(some machines export Haswell), and reproduces the file byte for byte; it
prints the kernels it used. Without AVX-512 only the last digits can differ.

Format, one block per case:
    case <act> <objective> <k>
    dims <D> <Z> <B> <n_hidden> <h1> <h2> ...
    model <likelihood> <sigma> <prior> <components> <kl>      (optional)
    tensor <name> <ndim> <d0> [<d1>]    then d0*d1 values, row-major, %.17g
    ...   x (B, D), eps (B*k, Z), each parameter, grad.<param> for each
    scalar bound <value>                the mean bound over the batch
    end
The model line: likelihood bernoulli|gaussian; sigma 0 when learned (or for
Bernoulli), else the fixed sigma, written as the shortest decimal that reads
back as the float32 the reference used; prior normal|mog; components K for
mog, 0 for normal; kl mc|analytic. A case without it is
    model bernoulli 0 normal 0 mc
Parameters in param_list order: enc.*, enc.mu.*, enc.logvar.*, dec.*,
dec.out.*, then lik.log_sigma (1) if sigma is learned, then prior.mean (K Z),
prior.logvar (K Z), prior.logit (K) for mog.
Lines starting with '#' are comments.
"""
import argparse
import math
import os
import sys



def _has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


# Must happen before torch loads OpenBLAS, which reads it once (see above).
CORETYPE_WAS = os.environ.get("OPENBLAS_CORETYPE")
if _has_avx512():
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import VAE, ACTS, blas_library  # noqa: E402

D, Z, B = 20, 4, 3
HIDDEN = [16, 12]
# (act, objective, k, likelihood, sigma, prior, components, kl); sigma 0 = learned
DEFAULT_MODEL = ("bernoulli", 0.0, "normal", 0, "mc")
CASES = [(a, o, k) + DEFAULT_MODEL
         for a in ACTS for (o, k) in (("elbo", 1), ("elbo", 5), ("iwae", 5))]
N_ORIGINAL = len(CASES)  # these are written without a model line, as before
CASES += [
    ("tanh", "elbo", 1, "gaussian", 0.0, "normal", 0, "mc"),
    ("tanh", "iwae", 5, "gaussian", 0.0, "normal", 0, "mc"),
    ("relu", "elbo", 5, "gaussian", 0.3, "normal", 0, "mc"),
    ("tanh", "elbo", 5, "bernoulli", 0.0, "mog", 3, "mc"),
    ("leaky_relu", "iwae", 5, "bernoulli", 0.0, "mog", 3, "mc"),
    ("tanh", "elbo", 1, "bernoulli", 0.0, "normal", 0, "analytic"),
    ("relu", "elbo", 5, "bernoulli", 0.0, "normal", 0, "analytic"),
    ("tanh", "iwae", 5, "gaussian", 0.0, "mog", 3, "mc"),
]
WEIGHT_SCALE = 1.5  # times PyTorch's +-1/sqrt(fan_in): units neither saturated nor tiny


def f32(t):
    """Round to float32 and back: exactly representable in the C library."""
    return t.float().double()


def sigma_text(sigma):
    """The model line's sigma: shortest decimal of the float32 value."""
    return "0" if sigma == 0 else str(np.float32(sigma))


def make_case(act, objective, k, gen, likelihood, sigma, prior, components, kl):
    sigma = float(np.float32(sigma))  # what the C library holds
    cfg = dict(likelihood=likelihood, sigma=sigma, prior=prior, components=components, kl=kl)
    model = VAE(D, Z, HIDDEN, act, **cfg).double()
    with torch.no_grad():
        for name, p in model.param_list():
            fan_in = p.shape[1] if p.dim() == 2 else None
            if name == "lik.log_sigma":
                # sigma in [0.37, 1.65]: residuals^2 / sigma^2 neither ~D nor tiny
                w = -1.0 + 1.5 * torch.rand(p.shape, generator=gen, dtype=torch.float64)
            elif name == "prior.mean":
                w = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif name == "prior.logvar":
                w = torch.rand(p.shape, generator=gen, dtype=torch.float64) - 0.5
            elif name == "prior.logit":
                # unequal weights, none negligible
                w = 0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif p.dim() == 2:
                bound = WEIGHT_SCALE / math.sqrt(fan_in)
                w = (torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            else:
                # biases: nonzero, either sign, magnitude in [0.05, 0.5]
                mag = 0.05 + 0.45 * torch.rand(p.shape, generator=gen, dtype=torch.float64)
                sign = torch.where(torch.rand(p.shape, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
                w = mag * sign
            p.copy_(f32(w))
    if likelihood == "gaussian":
        x = f32(torch.rand(B, D, generator=gen, dtype=torch.float64))  # grey levels
    else:
        x = (torch.rand(B, D, generator=gen, dtype=torch.float64) < 0.5).double()
    eps = f32(torch.randn(B * k, Z, generator=gen, dtype=torch.float64))

    model.zero_grad()
    bound = model.bound(x, objective, k, eps).mean()
    (-bound).backward()

    # float32 run of the same computation: how far plain float arithmetic
    # lands from the float64 reference (documents the tolerance's margin).
    m32 = VAE(D, Z, HIDDEN, act, **cfg)
    with torch.no_grad():
        for (_, p32), (_, p64) in zip(m32.param_list(), model.param_list()):
            p32.copy_(p64.float())
    b32 = m32.bound(x.float(), objective, k, eps.float()).mean()
    (-b32).backward()
    worst32 = abs(b32.item() - bound.item()) / abs(bound.item())
    for (_, p32), (_, p64) in zip(m32.param_list(), model.param_list()):
        g64 = p64.grad
        err = (p32.grad.double() - g64).abs().max().item() / g64.abs().max().item()
        worst32 = max(worst32, err)

    # statistics of the hidden pre-activations, to show they are in range
    with torch.no_grad():
        pre = []
        h = x
        for i in range(len(HIDDEN)):
            a = model.enc[str(i)](h)
            pre.append(a)
            h = model.act(a)
        mu, logvar = model.enc["mu"](h), model.enc["logvar"](h)
        z = mu.repeat_interleave(k, 0) + torch.exp(0.5 * logvar.repeat_interleave(k, 0)) * eps
        h = z
        for i in range(len(HIDDEN)):
            a = model.dec[str(i)](h)
            pre.append(a)
            h = model.act(a)
        allpre = torch.cat([a.reshape(-1) for a in pre])
        stats = "pre-activations: mean |a| %.3f, |a| > 2.5: %.1f%%, a < 0: %.1f%%" % (
            allpre.abs().mean().item(), 100 * (allpre.abs() > 2.5).double().mean().item(),
            100 * (allpre < 0).double().mean().item())
        if model.log_sigma is not None:
            stats += ", sigma %.3f" % math.exp(model.log_sigma.item())
        if prior == "mog":
            stats += ", mixture perplexity %.3f" % model.prior_perplexity()

    tensors = [("x", x), ("eps", eps)]
    tensors += [(n, p.detach()) for n, p in model.param_list()]
    grads = []
    for n, p in model.param_list():
        g = p.grad.detach()
        # every gradient tensor must be far from zero, so that a relative
        # comparison in test_parity.c is meaningful
        assert g.abs().max().item() > 1e-3, "gradient of %s nearly zero" % n
        grads.append(("grad." + n, g))
    return tensors + grads, bound.item(), worst32, stats


def fmt_tensor(name, t):
    shape = list(t.shape)
    head = "tensor %s %d %s" % (name, len(shape), " ".join(str(s) for s in shape))
    vals = t.reshape(-1).tolist()
    lines = [head]
    for i in range(0, len(vals), 6):
        lines.append(" ".join("%.17g" % v for v in vals[i:i + 6]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "golden.txt"))
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    out = ["# golden.txt — PyTorch reference for tests/test_parity.c",
           "# written by: /usr/bin/python3 tests/ref/golden.py --seed %d" % args.seed,
           "# torch %s, float64; x, eps and weights rounded to float32 first" % torch.__version__,
           "# blas: %s (other BLAS libraries change the last digits)" % blas_library(),
           "# model: D=%d hidden=%s Z=%d B=%d; weights uniform +-%.1f/sqrt(fan_in), biases +-[0.05, 0.5]"
           % (D, HIDDEN, Z, B, WEIGHT_SCALE),
           "# grad.* is the gradient of the loss = -(mean bound over the batch)"]
    print("OPENBLAS_CORETYPE=%s%s" % (os.environ.get("OPENBLAS_CORETYPE", "(not set)"),
                                      "" if CORETYPE_WAS in (None, os.environ.get("OPENBLAS_CORETYPE"))
                                      else " (was %s in the environment)" % CORETYPE_WAS))
    for i, (act, objective, k, lik, sigma, prior, K, kl) in enumerate(CASES):
        tensors, bound, worst32, stats = make_case(act, objective, k, gen, lik, sigma, prior, K, kl)
        model_line = "model %s %s %s %d %s" % (lik, sigma_text(sigma), prior, K, kl)
        out.append("")
        out.append("# %s; torch float32 vs this reference: worst relative error %.2g" % (stats, worst32))
        out.append("case %s %s %d" % (act, objective, k))
        out.append("dims %d %d %d %d %s" % (D, Z, B, len(HIDDEN), " ".join(str(h) for h in HIDDEN)))
        if i >= N_ORIGINAL:
            out.append(model_line)
        for name, t in tensors:
            out.append(fmt_tensor(name, t))
        out.append("scalar bound %.17g" % bound)
        out.append("end")
        print("%-10s %s k=%d %-36s bound %11.6f  float32 worst rel err %.2g  %s"
              % (act, objective, k, model_line[6:], bound, worst32, stats))
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
