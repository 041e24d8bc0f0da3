#!/usr/bin/env python3
"""png_check.py: an independent decoder for tools/png.c's output, run by
tests/test_png.c.

  png_check.py png FILE.png RAW WIDTH HEIGHT CHANNELS
  png_check.py zlib FILE.z RAW

Checks the PNG signature, the chunk order (IHDR, IDAT..., IEND), every
chunk's CRC (zlib.crc32), the IHDR fields, then decompresses with Python's
zlib (which checks the zlib header and Adler-32), undoes the five filter
types and compares the pixels with RAW byte for byte. The stream is also
decoded a second time by the small inflater below, which accepts only the
block types png.c writes (stored and fixed Huffman) and counts what it sees.

On success it prints one line
  ok fixed=N stored=N matches=N maxlen=N maxdist=N filters=N,N,N,N,N
(blocks of each type, back-references, the longest and the farthest, rows
with each filter type) and exits 0; otherwise it prints the problem and
exits 1.
"""
import struct
import sys
import zlib

LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
            163, 195, 227, 258]
LEN_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
             2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
DIST_EXTRA = [max(0, i // 2 - 1) for i in range(30)]


class Fail(Exception):
    pass


class Bits:
    """Deflate's bit order: the first bit is bit 0 of the first byte."""

    def __init__(self, data):
        self.data, self.at, self.acc, self.n = data, 0, 0, 0

    def get(self, n):
        while self.n < n:
            if self.at >= len(self.data):
                raise Fail("deflate stream ends early")
            self.acc |= self.data[self.at] << self.n
            self.at += 1
            self.n += 8
        v = self.acc & ((1 << n) - 1)
        self.acc >>= n
        self.n -= n
        return v

    def align(self):
        """Drops the rest of a partly read byte; whole bytes read ahead go
        back to the input."""
        self.at -= self.n // 8
        self.acc, self.n = 0, 0

    def end(self):
        """Where the next unread byte is."""
        return self.at - self.n // 8

    def fixed_symbol(self):
        """A literal/length symbol in the fixed code (RFC 1951 3.2.6): the
        next 9 bits, looked up, then as many used as the code is long."""
        while self.n < 9 and self.at < len(self.data):
            self.acc |= self.data[self.at] << self.n
            self.at += 1
            self.n += 8
        sym, length = FIXED[self.acc & 511]
        if length > self.n:
            raise Fail("deflate stream ends early")
        self.acc >>= length
        self.n -= length
        return sym

    def raw_bytes(self, n):
        """The next n bytes, after align."""
        if self.n or self.at + n > len(self.data):
            raise Fail("stored block past the end")
        self.at += n
        return self.data[self.at - n:self.at]


def fixed_table():
    """Every 9-bit window (first bit in bit 0) to (symbol, code length)."""
    table = [None] * 512
    for sym in range(288):
        length, code = ((8, 0x30 + sym) if sym < 144 else (9, 0x190 + sym - 144) if sym < 256
                        else (7, sym - 256) if sym < 280 else (8, 0xc0 + sym - 280))
        rev = int("{:0{}b}".format(code, length)[::-1], 2)
        for high in range(1 << (9 - length)):
            table[rev | high << length] = (sym, length)
    return table


FIXED = fixed_table()


def inflate(stream, stats):
    """The raw deflate stream, decoded; blocks of type 2 (dynamic codes)
    are refused, since png.c never writes them."""
    bits, out = Bits(stream), bytearray()
    while True:
        final, btype = bits.get(1), bits.get(2)
        if btype == 0:
            stats["stored"] += 1
            bits.align()
            n, nn = bits.get(16), bits.get(16)
            if n != nn ^ 0xffff:
                raise Fail("stored block LEN/NLEN mismatch")
            out += bits.raw_bytes(n)
        elif btype == 1:
            stats["fixed"] += 1
            while True:
                sym = bits.fixed_symbol()
                if sym < 256:
                    out.append(sym)
                    continue
                if sym == 256:
                    break
                if sym > 285:
                    raise Fail("length symbol %d" % sym)
                length = LEN_BASE[sym - 257] + bits.get(LEN_EXTRA[sym - 257])
                dsym = int("{:05b}".format(bits.get(5))[::-1], 2)
                if dsym > 29:
                    raise Fail("distance symbol %d" % dsym)
                dist = DIST_BASE[dsym] + bits.get(DIST_EXTRA[dsym])
                if dist > 32768 or dist > len(out):
                    raise Fail("distance %d too far back" % dist)
                for _ in range(length):
                    out.append(out[-dist])
                stats["matches"] += 1
                stats["maxlen"] = max(stats["maxlen"], length)
                stats["maxdist"] = max(stats["maxdist"], dist)
        else:
            raise Fail("block type %d" % btype)
        if final:
            return bytes(out), bits.end()


def check_zlib(z, stats):
    """Header, both decoders agree, Adler-32, nothing after the end."""
    if len(z) < 6 or z[0] != 0x78 or (z[0] * 256 + z[1]) % 31 or z[1] & 0x20:
        raise Fail("bad zlib header %s" % z[:2].hex())
    try:
        data = zlib.decompress(z)
    except zlib.error as e:
        raise Fail("zlib: %s" % e)
    mine, end = inflate(z[2:], stats)
    if mine != data:
        raise Fail("the two decoders differ")
    if end + 2 + 4 != len(z):
        raise Fail("%d bytes after the deflate stream" % (len(z) - end - 6))
    if struct.unpack(">I", z[-4:])[0] != zlib.adler32(data):
        raise Fail("bad Adler-32")
    return data


def unfilter(data, width, height, channels, stats):
    row, bpp = width * channels, channels
    if len(data) != height * (row + 1):
        raise Fail("%d bytes of image data, expected %d" % (len(data), height * (row + 1)))
    out, prev = bytearray(), bytearray(row)
    for y in range(height):
        ftype = data[y * (row + 1)]
        line = bytearray(data[y * (row + 1) + 1:(y + 1) * (row + 1)])
        if ftype > 4:
            raise Fail("row %d: filter type %d" % (y, ftype))
        stats["filters"][ftype] += 1
        for i in range(row):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return bytes(out)


def check_png(png, width, height, channels, stats):
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise Fail("bad signature")
    at, types, idat = 8, [], b""
    while at < len(png):
        if at + 12 > len(png):
            raise Fail("truncated chunk at %d" % at)
        n, ctype = struct.unpack(">I4s", png[at:at + 8])
        body = png[at + 8:at + 8 + n]
        if len(body) != n or at + 12 + n > len(png):
            raise Fail("truncated %s chunk" % ctype)
        crc = struct.unpack(">I", png[at + 8 + n:at + 12 + n])[0]
        if crc != zlib.crc32(ctype + body):
            raise Fail("bad CRC in %s chunk at %d" % (ctype, at))
        types.append(ctype)
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
            want = (width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
            if ihdr != want:
                raise Fail("IHDR %s, expected %s" % (ihdr, want))
        elif ctype == b"IDAT":
            idat += body
        at += 12 + n
    shape = b"".join(b"D" if t == b"IDAT" else t[:1] for t in types)
    if not (shape.startswith(b"ID") and shape.endswith(b"I") and shape[1:-1] == b"D" * (len(types) - 2)):
        raise Fail("chunks %s, expected IHDR IDAT... IEND" % [t.decode() for t in types])
    return unfilter(check_zlib(idat, stats), width, height, channels, stats)


def main():
    stats = {"fixed": 0, "stored": 0, "matches": 0, "maxlen": 0, "maxdist": 0, "filters": [0] * 5}
    try:
        with open(sys.argv[2], "rb") as f:
            encoded = f.read()
        with open(sys.argv[3], "rb") as f:
            raw = f.read()
        if sys.argv[1] == "png":
            decoded = check_png(encoded, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), stats)
        else:
            decoded = check_zlib(encoded, stats)
        if decoded != raw:
            diff = next((i for i in range(min(len(raw), len(decoded))) if raw[i] != decoded[i]), None)
            raise Fail("decoded %d bytes differ from the raw %d (first at %s)" % (len(decoded), len(raw), diff))
    except (Fail, OSError, IndexError, ValueError) as e:
        print("png_check: %s: %s" % (sys.argv[2], e))
        return 1
    print("ok fixed=%d stored=%d matches=%d maxlen=%d maxdist=%d filters=%s" % (
        stats["fixed"], stats["stored"], stats["matches"], stats["maxlen"], stats["maxdist"],
        ",".join(map(str, stats["filters"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
