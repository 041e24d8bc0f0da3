#!/usr/bin/python3
"""train_ref.py — PyTorch training reference for the quality check: trains the
same model as the C library and prints, per epoch, a CSV line
    epoch,train_bound,test_bound,seconds[,perplexity]
train_bound: mean of the per-batch mean bounds during the epoch (as the
batches were seen, before each update); test_bound: mean bound per image over
the whole test set with the training objective and k, in eval mode, no grad,
batched. seconds: the epoch's training time (without the test pass).
perplexity (mog prior only): exp(entropy) of the mixture weights at the end
of the epoch, the number of components in effective use; a collapsing
mixture shows here long before it shows in the bound.

Reference configuration (the defaults): 784-200-200-50, tanh, Adam lr 1e-3,
betas (0.9, 0.999), eps 1e-4, batch 20, ELBO k = 1, PyTorch's default Linear
initialisation, static binarisation (pixel >= 128), full training set
shuffled each epoch.

    /usr/bin/python3 tests/ref/train_ref.py --epochs 10 --threads 1 \\
        [--data /usr/share/datasets/fashion-mnist] [--seed 1] [--k 1] \\
        [--objective elbo|iwae] [--batch 20] [--holdout N] [--limit N] \\
        [--likelihood bernoulli|gaussian] [--sigma S] [--binarize static|none] \\
        [--prior normal|mog] [--components K] [--kl mc|analytic]

The model parts (see model.py for the formulas): --likelihood gaussian reads
the images as pixel/255 (--binarize none, its default; Bernoulli's default
is static) with one isotropic sigma, learned (--sigma 0, the default, from
log sigma = 0) or fixed (--sigma S > 0). With a learned sigma the bound is a
log-density of continuous data, so it is positive: several hundred nats on
Fashion-MNIST, where Bernoulli bounds are negative. --prior mog learns a
mixture of K Gaussians (--components, default 16; means N(0, 1), log
variances 0, equal weights to start). --kl analytic replaces the Monte-Carlo
KL with the closed form; it needs the ELBO and the normal prior, and is
refused otherwise. Adam trains every parameter, the new ones included.

--holdout N trains on all but the last N training images and tests on those
N instead of the t10k file. --limit N first keeps only the first N training
images (quick checks). Needs Debian's PyTorch (apt-get install
python3-torch) and the system python; CI does not run it. Install
libopenblas0-openmp too: Debian's torch multiplies matrices in the system BLAS,
and the default netlib one makes an epoch about 4 times slower (the BLAS in use
is printed as a comment).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import VAE, ACTS, KLS, LIKELIHOODS, PRIORS, blas_library, load_images  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description="PyTorch training reference for vae")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="directory of IDX files (train-images-idx3-ubyte[.gz], t10k-...)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--objective", choices=("elbo", "iwae"), default="elbo")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--holdout", type=int, default=0,
                    help="test on the last N training images instead of the t10k file")
    ap.add_argument("--hidden", default="200,200", help="hidden widths, comma-separated")
    ap.add_argument("--latent", type=int, default=50)
    ap.add_argument("--activation", choices=ACTS, default="tanh")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--test-batch", type=int, default=500)
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N training images (0: all)")
    ap.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli")
    ap.add_argument("--sigma", type=float, default=0.0,
                    help="Gaussian likelihood's fixed sigma; 0 learns it")
    ap.add_argument("--binarize", choices=("static", "none"), default=None,
                    help="static: pixel >= 128; none: pixel/255 "
                         "(default: static for bernoulli, none for gaussian)")
    ap.add_argument("--prior", choices=PRIORS, default="normal")
    ap.add_argument("--components", type=int, default=16, help="K of the mog prior")
    ap.add_argument("--kl", choices=KLS, default="mc")
    args = ap.parse_args()
    if args.kl == "analytic" and args.objective != "elbo":
        ap.error("--kl analytic works with --objective elbo only")
    if args.kl == "analytic" and args.prior != "normal":
        ap.error("--kl analytic needs --prior normal (the KL to a mixture has no closed form)")
    if args.sigma < 0:
        ap.error("--sigma must be > 0, or 0 to learn it")
    if args.prior == "mog" and args.components < 1:
        ap.error("--components must be >= 1")
    if args.limit < 0:
        ap.error("--limit must be >= 0")
    if args.binarize is None:
        args.binarize = "none" if args.likelihood == "gaussian" else "static"
    return args


def test_bound(model, x, objective, k, batch):
    """Mean bound per image over x, in eval mode without gradients."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb = x[i:i + batch]
            total += model.bound(xb, objective, k).double().sum().item()
    model.train()
    return total / x.shape[0]


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train = load_images(args.data, "train", args.binarize)
    if args.limit > 0:
        train = train[:args.limit]
    if args.holdout > 0:
        if args.holdout >= train.shape[0]:
            sys.exit("--holdout %d leaves no training images" % args.holdout)
        test = train[-args.holdout:]
        train = train[:-args.holdout]
    else:
        test = load_images(args.data, "t10k", args.binarize)

    hidden = [int(h) for h in args.hidden.split(",") if h]
    model = VAE(train.shape[1], args.latent, hidden, args.activation,
                likelihood=args.likelihood, sigma=args.sigma, prior=args.prior,
                components=args.components, kl=args.kl)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-4)

    print("# torch %s; command: %s %s" % (torch.__version__, sys.executable, " ".join(sys.argv)))
    print("# blas: %s" % blas_library())
    print("# %d train / %d test images, %d-%s-%d %s, %s k=%d, batch %d, Adam lr %g eps 1e-4, seed %d, threads %d"
          % (train.shape[0], test.shape[0], train.shape[1], "-".join(map(str, hidden)), args.latent,
             args.activation, args.objective, args.k, args.batch, args.lr, args.seed, args.threads))
    print("# likelihood %s%s, binarize %s, prior %s, kl %s"
          % (args.likelihood,
             "" if args.likelihood != "gaussian" else
             (" sigma learned" if args.sigma == 0 else " sigma %g" % args.sigma),
             args.binarize, args.prior if args.prior == "normal" else "mog K=%d" % args.components,
             args.kl))
    mog = args.prior == "mog"
    print("epoch,train_bound,test_bound,seconds" + (",perplexity" if mog else ""))
    sys.stdout.flush()
    n = train.shape[0]
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total, batches = 0.0, 0
        for i in range(0, n, args.batch):
            xb = train[perm[i:i + args.batch]]
            bound = model.bound(xb, args.objective, args.k).mean()
            opt.zero_grad()
            (-bound).backward()
            opt.step()
            total += bound.item()
            batches += 1
        seconds = time.perf_counter() - t0
        tb = test_bound(model, test, args.objective, args.k, args.test_batch)
        row = "%d,%.4f,%.4f,%.2f" % (epoch, total / batches, tb, seconds)
        if mog:
            row += ",%.4f" % model.prior_perplexity()
        print(row)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
