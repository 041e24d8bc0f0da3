#!/usr/bin/env python3
"""Writes the seed corpora corpus/gzip/ and corpus/idx/ (run from anywhere).

The seeds are small on purpose: libFuzzer mutates them, so each one stands
for a feature of the format (a block type, a header flag, a member boundary,
an error path) rather than for realistic data. Python's zlib writes the
deflate streams, so the output is the same on every machine with the same
zlib; the committed files are what the fuzzers start from, and this script
says how they were made."""
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def deflate(data, level=9, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    return c.compress(data) + c.flush()


def trailer(data):
    return struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def gzip(data, level=9, strategy=zlib.Z_DEFAULT_STRATEGY):
    """A one-member gzip file with the plainest header (no name, mtime 0)."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflate(data, level, strategy) + trailer(data)


class Bits:
    """deflate's bit order: fields least significant bit first, Huffman
    codes most significant bit first."""

    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def bits(self, v, n):
        for i in range(n):
            self.acc |= ((v >> i) & 1) << self.n
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                self.acc, self.n = 0, 0

    def huff(self, code, n):
        for i in reversed(range(n)):
            self.bits((code >> i) & 1, 1)

    def done(self):
        if self.n:
            self.bits(0, 8 - self.n)
        return bytes(self.out)


def gzip_fixed_far(lead):
    """A fixed-Huffman stream: lead, a zero byte, 127 matches of 258 zeros at
    distance 1, then a 3-byte match at distance 32768. With lead = b"a" that
    reaches the 'a' exactly; with no lead it reaches one byte before the
    start, and the stream is corrupt."""
    b = Bits()
    b.bits(1, 1)                       # BFINAL
    b.bits(1, 2)                       # fixed Huffman
    for c in lead + b"\0":
        b.huff(0x30 + c, 8)            # literals 0..143: 8-bit codes from 0x30
    for _ in range(127):
        b.huff(0xC5, 8)                # symbol 285: length 258
        b.huff(0, 5)                   # distance code 0: distance 1
    out = lead + bytes(1 + 127 * 258)
    b.huff(1, 7)                       # symbol 257: length 3
    b.huff(29, 5)                      # distance code 29: 24577 + 13 extra bits
    b.bits(32768 - 24577, 13)
    b.huff(0, 7)                       # symbol 256: end of block
    if len(out) >= 32768:
        out += out[len(out) - 32768:][:3]
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b.done() + trailer(out)


def idx(ndim, dims, payload):
    return struct.pack(">I", 0x0800 | ndim) + b"".join(struct.pack(">I", d) for d in dims) + payload


rnd = random.Random(1)
# 3 images of 4 x 5, labels for them: the smallest files with every field
pixels = bytes(rnd.choice((0, 0, 0, 128, 255)) for _ in range(3 * 4 * 5))
images = idx(3, (3, 4, 5), pixels)
labels = idx(1, (3,), bytes((7, 2, 1)))

# ---- gzip: every block type, header field and member boundary ----
write("gzip", "images-9.gz", gzip(images, 9))
write("gzip", "labels-1.gz", gzip(labels, 1))
write("gzip", "stored.gz", gzip(images, 0))                           # block type 0
write("gzip", "fixed.gz", gzip(images * 4, 9, zlib.Z_FIXED))          # block type 1
write("gzip", "empty.gz", gzip(b""))
write("gzip", "multi.gz", gzip(images, 9) + gzip(b"") + gzip(labels, 1))
# skewed symbol frequencies give codes longer than the 10-bit lookup table
skew = bytearray()
for i in range(18):
    skew += bytes([i]) * (1 + (1 << i) // 64)
rnd.shuffle(skew)
write("gzip", "long-codes.gz", gzip(bytes(skew), 9, zlib.Z_HUFFMAN_ONLY))
# a match 32768 bytes back, the farthest deflate allows (zlib never makes
# one: its matches stop 262 bytes short), and one a byte too far
write("gzip", "far.gz", gzip_fixed_far(b"a"))
write("gzip", "too-far.gz", gzip_fixed_far(b""))
# 1000 empty fixed-Huffman blocks, then 'x': fuzz_idx found that each such
# 10-bit block rebuilt the fixed tables, 1.5 s per MB of input
b = Bits()
for _ in range(1000):
    b.bits(0, 1), b.bits(1, 2), b.huff(0, 7)
b.bits(1, 1), b.bits(1, 2), b.huff(0x30 + ord("x"), 8), b.huff(0, 7)
write("gzip", "fixed-blocks.gz",
      b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b.done() + trailer(b"x"))
# FEXTRA, FNAME, FCOMMENT and FHCRC in one header (FTEXT too)
head = b"\x1f\x8b\x08" + bytes([1 | 2 | 4 | 8 | 16]) + b"\x00\x00\x00\x00\x02\x03"
head += struct.pack("<H", 4) + b"ab\x00\x00" + b"name\x00" + b"comment\x00"
head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
write("gzip", "header-flags.gz", head + deflate(labels) + trailer(labels))
# malformed: each is a distinct error path
good = gzip(images, 9)
write("gzip", "bad-crc.gz", good[:-8] + bytes([good[-8] ^ 1]) + good[-7:])
write("gzip", "truncated.gz", good[: len(good) // 2])
write("gzip", "trailing.gz", good + b"\x00\x00")
write("gzip", "block-type-3.gz", good[:10] + b"\x07" + good[11:])
stored = gzip(labels, 0)
write("gzip", "stored-nlen.gz", stored[:13] + bytes([stored[13] ^ 1]) + stored[14:])

# ---- IDX: plain and gzip, and each header check ----
write("idx", "images.idx3", images)
write("idx", "labels.idx1", labels)
write("idx", "images.idx3.gz", gzip(images, 9))
write("idx", "labels.idx1.gz", gzip(labels, 6))
write("idx", "truncated.idx3", images[:-1])
write("idx", "too-long.idx1", labels + b"\x00")
write("idx", "zero-dim.idx3", idx(3, (3, 0, 5), b""))
write("idx", "huge-image.idx3", idx(3, (1, 0x10000, 0x10000), b"\x00"))
write("idx", "short-header.idx3", images[:10])
write("idx", "bad-magic.idx3", idx(2, (3, 20), pixels))
