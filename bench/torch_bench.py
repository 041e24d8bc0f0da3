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

Data: the shipped MNIST digits (data/mnist, binarised), as the C benchmark
uses, or the binarised training images of an IDX directory given with --data.
One thread is timed in CPU time (as the C benchmark is), more in wall time;
the run is timed in ten segments and the fastest, scaled to an epoch, is
reported (the others also measure the neighbours on a shared machine). Debian's torch does its matrix products in the
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
    # Denormals make IWAE on real images several times slower on x86; a
    # PyTorch user tuning for speed flushes them, so its best does too.
    torch.set_flush_denormal(True)
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
    # One thread: CPU time, as the C benchmark measures, so that time the
    # virtual machine's host steals counts for neither. More threads: wall
    # time (CPU time would add the threads up).
    # Ten segments timed on their own; the fastest, scaled to an epoch, is
    # the figure, as in the C benchmark.
    clock = time.process_time if threads == 1 else time.perf_counter
    seg = max(1, steps // 10)
    best = None
    done = 0
    while done < steps:
        c = min(seg, steps - done)
        t0 = clock()
        for _ in range(c):
            b = step()
        b.item()  # make sure the work is done
        t = (clock() - t0) / c
        best = t if best is None or t < best else best
        done += c
    return best * EPOCH / batch


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    if args.data:
        data = load_images(args.data, "train")
    else:
        # the shipped digits, as bench/bench_train.c uses: real images, not
        # random ones, so that both sides meet the same numerics
        data = load_images(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist"),
                           "t10k")
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
