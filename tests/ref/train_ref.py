#!/usr/bin/python3
"""train_ref.py — PyTorch training reference for the quality check: trains the
same model as the C library and prints, per epoch, a CSV line
    epoch,train_bound,test_bound,seconds
train_bound: mean of the per-batch mean bounds during the epoch (as the
batches were seen, before each update); test_bound: mean bound per image over
the whole test set with the training objective and k, in eval mode, no grad,
batched. seconds: the epoch's training time (without the test pass).

Reference configuration (the defaults): 784-200-200-50, tanh, Adam lr 1e-3,
betas (0.9, 0.999), eps 1e-4, batch 20, ELBO k = 1, PyTorch's default Linear
initialisation, static binarisation (pixel >= 128), full training set
shuffled each epoch.

    /usr/bin/python3 tests/ref/train_ref.py --epochs 10 --threads 1 \\
        [--data /usr/share/datasets/fashion-mnist] [--seed 1] [--k 1] \\
        [--objective elbo|iwae] [--batch 20] [--holdout N]

--holdout N trains on all but the last N training images and tests on those
N instead of the t10k file. Needs Debian's PyTorch (apt-get install
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
from model import VAE, ACTS, blas_library, load_images  # noqa: E402


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
    return ap.parse_args()


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

    train = load_images(args.data, "train")
    if args.holdout > 0:
        if args.holdout >= train.shape[0]:
            sys.exit("--holdout %d leaves no training images" % args.holdout)
        test = train[-args.holdout:]
        train = train[:-args.holdout]
    else:
        test = load_images(args.data, "t10k")

    hidden = [int(h) for h in args.hidden.split(",") if h]
    model = VAE(train.shape[1], args.latent, hidden, args.activation)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-4)

    print("# torch %s; command: %s %s" % (torch.__version__, sys.executable, " ".join(sys.argv)))
    print("# blas: %s" % blas_library())
    print("# %d train / %d test images, %d-%s-%d %s, %s k=%d, batch %d, Adam lr %g eps 1e-4, seed %d, threads %d"
          % (train.shape[0], test.shape[0], train.shape[1], "-".join(map(str, hidden)), args.latent,
             args.activation, args.objective, args.k, args.batch, args.lr, args.seed, args.threads))
    print("epoch,train_bound,test_bound,seconds")
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
        print("%d,%.4f,%.4f,%.2f" % (epoch, total / batches, tb, seconds))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
