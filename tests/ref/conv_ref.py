#!/usr/bin/python3
"""conv_ref.py — PyTorch references of the course's two conv VAEs, for the
comparison tools/conv_models.sh prints (the README's table). Prints, per
epoch, a CSV line
    epoch,train_bound,test_bound,seconds,peak_rss_mb
train_bound: the mean of the per-batch mean bounds as the batches were seen
(before each update); test_bound: the mean bound per image over the test
set, the training objective and samples, no grad; seconds: the epoch's
training time; peak_rss_mb: the process's peak resident memory so far.

  a  the UBC CPEN 455 SimpleVAE: Conv2d(1,32,5) ReLU Conv2d(32,32,5) ReLU
     Flatten Linear(12800, K+1): K means and one log sigma for all of them
     (q = N(mu, s^2 I)); Linear(K,12800) Unflatten(32,20,20) ReLU
     ConvTranspose2d(32,32,5) ReLU ConvTranspose2d(32,1,5), the Gaussian's
     mean, linear; one learned log sigma_x (from 0), full constant; exact
     KL; K = 2; 10 samples per image; Adam lr 1e-3 eps 1e-8; batch 256.
  b  the lecture's strided conv VAE: Conv2d(1,32,3,2,1) ReLU
     Conv2d(32,64,3,2,1) ReLU Flatten Linear(3136,256) ReLU, mean and
     log-variance heads to 20; Linear(20,256) ReLU Linear(256,3136) ReLU
     view(64,7,7) ConvTranspose2d(64,32,3,2,1,1) ReLU
     ConvTranspose2d(32,1,3,2,1,1), logits; binary cross-entropy against
     the grey pixels plus the analytic KL; one sample; Adam lr 1e-3;
     batch 128.
Pixels are pixel / 255, not binarised. Needs Debian's python3-torch (and
libopenblas0-openmp: with netlib's BLAS its transposed convolutions are
very slow); CI does not run it.

    /usr/bin/python3 tests/ref/conv_ref.py --model b --epochs 3 --seed 1 \\
        [--threads 1] [--data data/mnist-full] [--limit N]
"""
import argparse
import gzip
import math
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    assert magic == 2051, path
    return np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, 1, rows, cols)


def find(data, name):
    for p in (os.path.join(data, name + ".gz"), os.path.join(data, name)):
        if os.path.exists(p):
            return p
    raise SystemExit("conv_ref: no %s[.gz] in %s" % (name, data))


class ModelA(nn.Module):
    def __init__(self, K=2):
        super().__init__()
        self.K = K
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.Conv2d(32, 32, 5), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(20 * 20 * 32, K + 1))
        self.dec = nn.Sequential(nn.Linear(K, 12800), nn.Unflatten(1, (32, 20, 20)), nn.ReLU(),
                                 nn.ConvTranspose2d(32, 32, 5), nn.ReLU(), nn.ConvTranspose2d(32, 1, 5))
        self.log_sigma_x = nn.Parameter(torch.zeros(()))
        self.samples = 10

    def bound(self, x):
        h = self.enc(x)
        mu, log_s = h[:, :self.K], h[:, self.K:]
        n, K, S = x.shape[0], self.K, self.samples
        # exact KL(N(mu, s^2 I) || N(0, I))
        kl = 0.5 * (mu.pow(2).sum(1) + K * torch.exp(2 * log_s[:, 0]) - K - 2 * K * log_s[:, 0])
        z = mu.unsqueeze(1) + torch.exp(log_s).unsqueeze(1) * torch.randn(n, S, K)
        mean = self.dec(z.reshape(n * S, K)).reshape(n, S, -1)
        D = mean.shape[2]
        sq = (x.reshape(n, 1, D) - mean).pow(2).sum(2)
        log_px = -0.5 * D * LOG_2PI - D * self.log_sigma_x - 0.5 * sq * torch.exp(-2 * self.log_sigma_x)
        return log_px.mean(1) - kl


class ModelB(nn.Module):
    def __init__(self, L=20):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(3136, 256), nn.ReLU())
        self.mu = nn.Linear(256, L)
        self.logvar = nn.Linear(256, L)
        self.dec = nn.Sequential(nn.Linear(L, 256), nn.ReLU(), nn.Linear(256, 3136), nn.ReLU(),
                                 nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 3, 2, 1, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(32, 1, 3, 2, 1, 1))

    def bound(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.dec(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return log_px - kl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("a", "b"), required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="data/mnist-full")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    train = torch.from_numpy(idx_images(find(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255)
    test = torch.from_numpy(idx_images(find(a.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255)
    if a.limit:
        train, test = train[:a.limit], test[:max(1, a.limit // 6)]
    model = ModelA() if a.model == "a" else ModelB()
    batch = 256 if a.model == "a" else 128
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    print("epoch,train_bound,test_bound,seconds,peak_rss_mb", flush=True)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(train.shape[0])
        total, batches = 0.0, 0
        model.train()
        for i in range(0, train.shape[0], batch):
            x = train[order[i:i + batch]]
            b = model.bound(x).mean()
            opt.zero_grad()
            (-b).backward()
            opt.step()
            total += b.item()
            batches += 1
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            tb = sum(model.bound(test[i:i + 500]).sum().item() for i in range(0, test.shape[0], 500))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("%d,%.4f,%.4f,%.3f,%.0f" % (epoch, total / batches, tb / test.shape[0], seconds, rss), flush=True)


if __name__ == "__main__":
    main()
