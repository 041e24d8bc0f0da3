#!/usr/bin/python3
"""torch_bench.py — training throughput of the reference model in PyTorch, to
compare with the C library (784-200-200-50, tanh, Adam lr 1e-3 eps 1e-4):

    a  ELBO k = 1,  batch 20
    b  ELBO k = 1,  batch 128
    c  IWAE k = 50, batch 20

For each configuration and thread count it trains on --images images (after
a short warm-up) and prints the time scaled to a 60,000-image epoch:

    torch <a|b|c> threads=<t> <seconds per 60000-image epoch>
    ...
    torch_best <a|b|c> <seconds>          (last, the best over the thread counts)

    /usr/bin/python3 bench/torch_bench.py [--images 60000] [--configs abc]
        [--threads 1,2] [--data DIR] [--warmup 50] [--seed 1]

Data: random binary images, or the binarised training images of an IDX
directory given with --data. Debian's torch does its matrix products in the
system BLAS: install libopenblas0-openmp (the OpenMP build, so that
torch.set_num_threads also bounds the BLAS threads) before timing, or it runs
on the reference netlib BLAS; the BLAS in use is printed as a comment. Needs Debian's PyTorch (apt-get install
python3-torch) and the system python; nothing in the build or CI runs it.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from model import VAE, blas_library, load_images  # noqa: E402

CONFIGS = {
    "a": ("elbo", 1, 20),
    "b": ("elbo", 1, 128),
    "c": ("iwae", 50, 20),
}
EPOCH = 60000


def parse_args():
    ap = argparse.ArgumentParser(description="PyTorch training throughput for vae")
    ap.add_argument("--images", type=int, default=EPOCH,
                    help="images to time per configuration (scaled to a 60000-image epoch)")
    ap.add_argument("--configs", default="abc", help="any of a, b, c")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--data", default=None, help="IDX directory (default: random binary images)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed steps before timing")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for c in args.configs:
        if c not in CONFIGS:
            ap.error("unknown configuration %r (choose from a, b, c)" % c)
    args.thread_list = [int(t) for t in args.threads.split(",") if t]
    if args.images < 1 or not args.thread_list or min(args.thread_list) < 1:
        ap.error("--images and --threads must be positive")
    return args


def run(data, objective, k, batch, threads, images, warmup, seed):
    """Seconds to train on `images` images, scaled to a 60000-image epoch."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = VAE(784, 50, [200, 200], "tanh")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    n = data.shape[0]
    pos = [0]

    def step():
        i = pos[0]
        if i + batch > n:
            i = 0
        pos[0] = i + batch
        xb = data[i:i + batch]
        bound = model.bound(xb, objective, k).mean()
        opt.zero_grad()
        (-bound).backward()
        opt.step()
        return bound

    for _ in range(warmup):
        step()
    steps = max(1, (images + batch - 1) // batch)
    t0 = time.perf_counter()
    for _ in range(steps):
        b = step()
    b.item()  # make sure the work is done
    seconds = time.perf_counter() - t0
    return seconds * EPOCH / (steps * batch)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    if args.data:
        data = load_images(args.data, "train")
    else:
        data = (torch.rand(EPOCH, 784) < 0.5).float()
    data = data[torch.randperm(data.shape[0])].contiguous()
    print("# torch %s; command: %s %s" % (torch.__version__, sys.executable, " ".join(sys.argv)))
    print("# blas: %s" % blas_library())
    sys.stdout.flush()
    bests = []
    for c in args.configs:
        objective, k, batch = CONFIGS[c]
        best = None
        for t in args.thread_list:
            s = run(data, objective, k, batch, t, args.images, args.warmup, args.seed)
            print("torch %s threads=%d %.2f" % (c, t, s))
            sys.stdout.flush()
            best = s if best is None or s < best else best
        bests.append((c, best))
    for c, best in bests:
        print("torch_best %s %.2f" % (c, best))


if __name__ == "__main__":
    main()
