#!/usr/bin/python3
"""golden.py — writes tests/ref/golden.txt, the PyTorch reference that
tests/test_parity.c compares vae.c against: for 9 small cases (3 activations
x ELBO-1, ELBO-5, IWAE-5) the inputs, noise, weights, the mean bound and the
gradient of the loss (minus the mean bound) for every parameter.

    /usr/bin/python3 tests/ref/golden.py [--out tests/ref/golden.txt] [--seed 1234]

Needs Debian's PyTorch (apt-get install python3-torch); CI does not: the
output is committed. Computes in float64. Every input (x, eps, weights) is
first rounded to float32, so the C library, which works in float, receives
exactly the numbers the reference used, and the only difference left is its
own float32 arithmetic.

Format, one block per case:
    case <act> <objective> <k>
    dims <D> <Z> <B> <n_hidden> <h1> <h2> ...
    tensor <name> <ndim> <d0> [<d1>]    then d0*d1 values, row-major, %.17g
    ...   x (B, D), eps (B*k, Z), each parameter, grad.<param> for each
    scalar bound <value>                the mean bound over the batch
    end
Lines starting with '#' are comments.
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import VAE, ACTS, blas_library  # noqa: E402

D, Z, B = 20, 4, 3
HIDDEN = [16, 12]
CASES = [(a, o, k) for a in ACTS for (o, k) in (("elbo", 1), ("elbo", 5), ("iwae", 5))]
WEIGHT_SCALE = 1.5  # times PyTorch's +-1/sqrt(fan_in): units neither saturated nor tiny


def f32(t):
    """Round to float32 and back: exactly representable in the C library."""
    return t.float().double()


def make_case(act, objective, k, gen):
    model = VAE(D, Z, HIDDEN, act).double()
    with torch.no_grad():
        for name, p in model.param_list():
            fan_in = p.shape[1] if p.dim() == 2 else None
            if p.dim() == 2:
                bound = WEIGHT_SCALE / math.sqrt(fan_in)
                w = (torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            else:
                # biases: nonzero, either sign, magnitude in [0.05, 0.5]
                mag = 0.05 + 0.45 * torch.rand(p.shape, generator=gen, dtype=torch.float64)
                sign = torch.where(torch.rand(p.shape, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
                w = mag * sign
            p.copy_(f32(w))
    x = (torch.rand(B, D, generator=gen, dtype=torch.float64) < 0.5).double()
    eps = f32(torch.randn(B * k, Z, generator=gen, dtype=torch.float64))

    model.zero_grad()
    bound = model.bound(x, objective, k, eps).mean()
    (-bound).backward()

    # float32 run of the same computation: how far plain float arithmetic
    # lands from the float64 reference (documents the tolerance's margin).
    m32 = VAE(D, Z, HIDDEN, act)
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
    for act, objective, k in CASES:
        tensors, bound, worst32, stats = make_case(act, objective, k, gen)
        out.append("")
        out.append("# %s; torch float32 vs this reference: worst relative error %.2g" % (stats, worst32))
        out.append("case %s %s %d" % (act, objective, k))
        out.append("dims %d %d %d %d %s" % (D, Z, B, len(HIDDEN), " ".join(str(h) for h in HIDDEN)))
        for name, t in tensors:
            out.append(fmt_tensor(name, t))
        out.append("scalar bound %.17g" % bound)
        out.append("end")
        print("%-10s %s k=%d bound %.6f  float32 worst rel err %.2g  %s"
              % (act, objective, k, bound, worst32, stats))
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
