#!/usr/bin/python3
"""golden_conv.py — writes tests/ref/golden_conv.txt, the PyTorch float64
reference that tests/test_conv_parity.c compares the library's conv
networks against: for each case its configuration (as vae_config keys),
inputs, noise and weights (in PyTorch's names, shapes and order, which the
library's tensor API keeps), the mean bound and the gradient of the loss
(minus the mean bound) for every parameter.

    /usr/bin/python3 tests/ref/golden_conv.py [--out tests/ref/golden_conv.txt]

The networks are built here from the same description text the library
reads (fc, conv, convt, view, activations), with the encoder's head (mu and
logvar, or mu and one log sigma for the isotropic posterior) and the
decoder ending at the image. Images are channels last in the library
(x rows, eps rows b * k + i) and channels first here: x is permuted on the
way in, the decoder's output on the way out. Every input is rounded to
float32 first, so the C library receives exactly the numbers used here.
Needs Debian's python3-torch; CI does not: the output is committed.

Format, one block per case:
    case <name>
    config <key> <value...>            any number, read by vae_config_set
    tensor <name> <ndim> <d0> ... then the values, row-major, %.17g
    ...   x (B, D), eps (B*k, Z), each parameter, grad.<param> for each
    scalar bound <value>
    end
"""
import argparse
import math

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
LOG_2PI = math.log(2 * math.pi)
ACTS = {"relu": F.relu, "tanh": torch.tanh, "leakyrelu": lambda v: F.leaky_relu(v, 0.01)}

CASES = [
    dict(name="strided", rows=6, cols=6, channels=1, latent=3, batch=3, k=1, objective="elbo",
         encoder="conv 3 3 s2 p1,tanh,conv 4 2,tanh", decoder="fc 12,tanh,view 3 2 2,convt 4 3 s2 p1 o1,tanh,convt 1 3",
         likelihood="bernoulli", kl="mc", posterior="diagonal", mean="sigmoid"),
    dict(name="model-a-small", rows=8, cols=8, channels=1, latent=2, batch=3, k=3, objective="elbo",
         encoder="conv 3 3,relu,conv 2 3,relu", decoder="fc 32,view 2 4 4,relu,convt 3 3,relu,convt 1 3",
         likelihood="gaussian", kl="analytic", posterior="isotropic", mean="linear"),
    dict(name="model-b-small", rows=7, cols=7, channels=2, latent=3, batch=2, k=4, objective="iwae",
         encoder="conv 3 4 s3 p2,leakyrelu,fc 6,relu", decoder="fc 6,relu,fc 27,relu,view 3 3 3,convt 2 4 s3 p2 o1",
         likelihood="bernoulli", kl="mc", posterior="diagonal", mean="sigmoid"),
    dict(name="odd-colour", rows=9, cols=9, channels=3, latent=2, batch=2, k=2, objective="elbo",
         encoder="conv 4 1,tanh,conv 5 7 s2 p2", decoder="fc 45,view 5 3 3,tanh,convt 3 5 s3 p1",
         likelihood="gaussian", kl="mc", posterior="diagonal", mean="sigmoid"),
]


def items(spec):
    out = []
    for it in spec.split(","):
        w = it.split()
        d = {"kind": w[0], "s": 1, "p": 0, "o": 0}
        if w[0] in ("conv", "convt"):
            d["c"], d["k"] = int(w[1]), int(w[2])
            for opt in w[3:]:
                d[opt[0]] = int(opt[1:])
        elif w[0] == "fc":
            d["n"] = int(w[1])
        elif w[0] == "view":
            d["shape"] = tuple(int(v) for v in w[1:4])
        out.append(d)
    return out


def plan(spec, shape):
    """Layers (kind, shapes, act) from a description and the input shape
    (c, h, w), or (n,) for values."""
    layers = []
    for it in items(spec):
        if it["kind"] in ACTS:
            layers[-1]["act"] = it["kind"]
        elif it["kind"] == "view":
            layers[-1]["view"] = it["shape"]
            shape = it["shape"]
        elif it["kind"] == "fc":
            n_in = math.prod(shape)
            layers.append(dict(kind="fc", n_in=n_in, n_out=it["n"], act=None))
            shape = (it["n"],)
        else:
            c, h, w = shape
            k, s, p = it["k"], it["s"], it["p"]
            if it["kind"] == "conv":
                oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
                wshape = (it["c"], c, k, k)
            else:
                oh, ow = (h - 1) * s - 2 * p + k + it["o"], (w - 1) * s - 2 * p + k + it["o"]
                wshape = (c, it["c"], k, k)
            layers.append(dict(kind=it["kind"], wshape=wshape, k=k, s=s, p=p, o=it["o"], act=None, c_out=it["c"]))
            shape = (it["c"], oh, ow)
    return layers, shape


def weight_shape(L):
    return (L["n_out"], L["n_in"]) if L["kind"] == "fc" else L["wshape"]


def bias_len(L):
    return L["n_out"] if L["kind"] == "fc" else L["c_out"]


def fan_in(L):
    return L["n_in"] if L["kind"] == "fc" else L["wshape"][1] * L["k"] * L["k"]


def run(layers, params, prefix, h):
    for i, L in enumerate(layers):
        w, b = params["%s.weight" % prefix[i]], params["%s.bias" % prefix[i]]
        if L["kind"] == "fc":
            h = F.linear(h.flatten(1), w, b)
        elif L["kind"] == "conv":
            h = F.conv2d(h, w, b, stride=L["s"], padding=L["p"])
        else:
            h = F.conv_transpose2d(h, w, b, stride=L["s"], padding=L["p"], output_padding=L["o"])
        if "view" in L:
            h = h.reshape(h.shape[0], *L["view"])
        if L["act"]:
            h = ACTS[L["act"]](h)
    return h


def f32(t):
    return t.float().double()


def emit(out, name, t):
    t = t.detach().double().contiguous()
    shape = list(t.shape) if t.dim() else [1]
    out.write("tensor %s %d %s\n" % (name, len(shape), " ".join(str(d) for d in shape)))
    out.write("\n".join("%.17g" % v for v in t.flatten().tolist()) + "\n")


def case(c, gen, out):
    C, H, W, Z, B, k = c["channels"], c["rows"], c["cols"], c["latent"], c["batch"], c["k"]
    D = C * H * W
    iso = c["posterior"] == "isotropic"
    enc, eshape = plan(c["encoder"], (C, H, W))
    dec, dshape = plan(c["decoder"], (Z,))
    assert dshape == (C, H, W), dshape
    enc.append(dict(kind="fc", n_in=math.prod(eshape), n_out=Z + 1 if iso else 2 * Z, act=None))
    enames = ["enc.%d" % i for i in range(len(enc) - 1)] + ["enc.head"]
    dnames = ["dec.%d" % i for i in range(len(dec) - 1)] + ["dec.out"]
    params = {}
    order = []
    for L, n in list(zip(enc, enames)) + list(zip(dec, dnames)):
        bound = 1.5 / math.sqrt(fan_in(L))
        w = f32((torch.rand(weight_shape(L), generator=gen) * 2 - 1) * bound)
        sgn = torch.where(torch.rand(bias_len(L), generator=gen) < 0.5, -1.0, 1.0)
        b = f32(sgn * (0.05 + 0.45 * torch.rand(bias_len(L), generator=gen)))
        params[n + ".weight"], params[n + ".bias"] = w, b
    gauss = c["likelihood"] == "gaussian"
    if gauss:
        params["lik.log_sigma"] = f32(torch.rand(1, generator=gen) * 1.5 - 1.0)
    x = torch.rand(B, H, W, C, generator=gen)
    x = f32(x if gauss else (x < 0.5).double())
    eps = f32(torch.randn(B * k, Z, generator=gen))
    # the library's names: the head split into mu and logvar (log sigma)
    hw, hb = params.pop("enc.head.weight"), params.pop("enc.head.bias")
    second = "enc.log_sigma" if iso else "enc.logvar"
    named = {}
    for n in enames[:-1]:
        named[n + ".weight"], named[n + ".bias"] = params[n + ".weight"], params[n + ".bias"]
    named["enc.mu.weight"], named["enc.mu.bias"] = hw[:Z], hb[:Z]
    named[second + ".weight"], named[second + ".bias"] = hw[Z:], hb[Z:]
    for n in dnames:
        named[n + ".weight"], named[n + ".bias"] = params[n + ".weight"], params[n + ".bias"]
    if gauss:
        named["lik.log_sigma"] = params["lik.log_sigma"]
    leaves = {n: v.clone().requires_grad_(True) for n, v in named.items()}
    p = dict(leaves)
    p["enc.head.weight"] = torch.cat([leaves["enc.mu.weight"], leaves[second + ".weight"]])
    p["enc.head.bias"] = torch.cat([leaves["enc.mu.bias"], leaves[second + ".bias"]])
    h = run(enc, p, enames, x.permute(0, 3, 1, 2))
    mu = h[:, :Z]
    logvar = 2 * h[:, Z:].expand(B, Z) if iso else h[:, Z:]
    mu_r, lv_r = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)
    z = mu_r + torch.exp(0.5 * lv_r) * eps
    out_chw = run(dec, p, dnames, z)
    l = out_chw.permute(0, 2, 3, 1).reshape(B * k, D)
    xr = x.reshape(B, D).repeat_interleave(k, 0)
    if gauss:
        mean = l if c["mean"] == "linear" else torch.sigmoid(l)
        ls = p["lik.log_sigma"][0]
        log_px = -0.5 * D * (LOG_2PI + 2 * ls) - ((xr - mean) ** 2).sum(1) * torch.exp(-2 * ls) / 2
    else:
        log_px = (xr * l - F.softplus(l)).sum(1)
    if c["kl"] == "analytic":
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        lpq = -kl.repeat_interleave(k)
    else:
        lpq = 0.5 * (eps.pow(2) + lv_r - z.pow(2)).sum(1)
    logw = (log_px + lpq).reshape(B, k)
    if c["objective"] == "iwae":
        bound = (torch.logsumexp(logw, 1) - math.log(k)).mean()
    else:
        bound = logw.mean(1).mean()
    (-bound).backward()
    out.write("case %s\n" % c["name"])
    cfg = dict(input_dim=D, image_rows=H, image_cols=W, image_channels=C, latent_dim=Z, max_batch=B, k=k,
               objective=c["objective"], encoder=c["encoder"], decoder=c["decoder"], likelihood=c["likelihood"],
               kl=c["kl"], posterior=c["posterior"], mean=c["mean"])
    for key, v in cfg.items():
        out.write("config %s %s\n" % (key, v))
    emit(out, "x", x.reshape(B, D))
    emit(out, "eps", eps)
    for n, v in leaves.items():
        emit(out, n, v)
    for n, v in leaves.items():
        emit(out, "grad." + n, v.grad)
    out.write("scalar bound %.17g\nend\n" % bound.item())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/ref/golden_conv.txt")
    ap.add_argument("--seed", type=int, default=4321)
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(a.seed)
    with open(a.out, "w") as out:
        out.write("# golden_conv.txt — PyTorch float64 reference for tests/test_conv_parity.c\n")
        out.write("# written by: /usr/bin/python3 tests/ref/golden_conv.py --seed %d (torch %s)\n"
                  % (a.seed, torch.__version__))
        for c in CASES:
            case(c, gen, out)


if __name__ == "__main__":
    main()
