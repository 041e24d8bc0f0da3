/* mnist.c — IDX datasets (MNIST, Fashion-MNIST), plain or gzip; CIFAR-10 from
   its tar.gz archive or its extracted directory; batching.

   Design:
   - Nothing read from a file is trusted. Sizes from headers are only ever
     compared with the number of bytes actually present, never used to
     allocate, so a hostile header cannot make us allocate or read out of
     bounds; output of the decompressor is capped (MN_MAX_FILE) so a gzip
     bomb is an error, not an exhausted machine.
   - Our own inflate (RFC 1951) and gzip reader (RFC 1952), so the library
     needs nothing but libc. Huffman codes are decoded with a lookup table
     indexed by the next MN_FAST_BITS input bits; the rare longer codes fall
     back to a canonical decode (count per length), never a tree walk.
   - Strictness: every gzip member's CRC-32 and length are checked, and bytes
     after the last member are an error (gzip(1) only warns about them; for a
     data file they mean a damaged or wrongly concatenated download). Every
     tar header's checksum is checked, and a size is believed only up to the
     bytes that follow it.
   - Tar is read in memory, after inflating the whole archive (CIFAR-10's is
     185 MB; MN_MAX_ARCHIVE caps it): members are pointers into that buffer,
     and nothing is ever extracted or written.
   - No global state, no printing, no exit: errors are a vae_status plus one
     line naming the file and the problem. Private names start with mn_ so
     that this file can share a translation unit with vae.c (the tests do).
*/
#include "mnist.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MN_MAX_FILE ((size_t)1 << 30)   /* largest file, and largest decompressed file */
#define MN_MAX_PIXELS (1L << 24)        /* largest image, rows * cols */
#define MN_FAST_BITS 10                 /* lookup-table width for Huffman codes */
#define MN_MAX_BITS 15                  /* longest code deflate allows */

/* The allocator hooks of vae.c (see vae.h), which have no realloc: buffers
   grow by copying, and are never shrunk. */
#if defined(VAE_MALLOC) != defined(VAE_FREE)
#error "define both VAE_MALLOC and VAE_FREE, or neither"
#endif
#ifndef VAE_MALLOC
#define VAE_MALLOC(n) malloc(n)
#define VAE_FREE(p) free(p)
#endif

/* p (old_len bytes used, or NULL) moved into a new block of new_len >=
   old_len bytes; NULL, with p untouched, when there is no memory. */
static void *mn_grow(void *p, size_t old_len, size_t new_len)
{
    void *q = VAE_MALLOC(new_len);
    if (q && p) {
        memcpy(q, p, old_len);
        VAE_FREE(p);
    }
    return q;
}

// ---- errors ----

/* Formats one line into err (err_len bytes, always terminated); a NULL err or
   zero err_len is allowed and ignored. */
static void mn_errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (!err || err_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

// ---- inflate (RFC 1951) ----

typedef struct {
    /* fast[bits] for the next MN_FAST_BITS input bits (first bit lowest):
       (symbol << 4) | code length, or 0 when the code is longer (or unused) */
    uint16_t fast[1 << MN_FAST_BITS];
    uint16_t count[MN_MAX_BITS + 1]; /* number of codes of each length */
    uint16_t sorted[288];            /* symbols in canonical code order */
} mn_huffman;

typedef struct {
    const unsigned char *in;
    size_t in_len, pos;     /* pos: next byte not yet in the bit buffer */
    uint64_t bits;          /* unread bits, next one lowest; bits above nbits are 0 */
    int nbits;
    unsigned char *out;     /* output of all members so far, capacity out_cap */
    size_t out_len, out_cap, max_out;
    size_t start;           /* where this member's output begins: no distance reaches before it */
    const char *err;        /* why decoding stopped (static string) */
    int kind;               /* and what kind of failure that was: MN_CORRUPT, ... */
    int fixed;              /* lit and dist hold the fixed codes */
    mn_huffman lit, dist;
} mn_inflater;

static const uint16_t mn_len_base[29] = {
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char mn_len_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t mn_dist_base[30] = {
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
    257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char mn_dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

enum { MN_CORRUPT, MN_TRUNCATED, MN_TOO_BIG, MN_NOMEM };

/* Records why decoding stopped; returns -1 so that callers can
   `return mn_fail(...)`. The first failure wins. */
static int mn_fail(mn_inflater *s, int kind, const char *why)
{
    if (!s->err) {
        s->err = why;
        s->kind = kind;
    }
    return -1;
}

/* Tops the bit buffer up to at least 57 bits, or to whatever input is left:
   enough for the longest symbol with all its extra bits (15+5+15+13). */
static inline void mn_refill(mn_inflater *s)
{
    while (s->nbits <= 56 && s->pos < s->in_len) {
        s->bits |= (uint64_t)s->in[s->pos++] << s->nbits;
        s->nbits += 8;
    }
}

/* Makes n <= 32 bits available; 0 when the input ends first. */
static inline int mn_need(mn_inflater *s, int n)
{
    if (s->nbits < n)
        mn_refill(s);
    if (s->nbits >= n)
        return 1;
    mn_fail(s, MN_TRUNCATED, "truncated deflate data");
    return 0;
}

/* Consumes n bits that mn_need made available; returns them, first bit lowest. */
static inline uint32_t mn_take(mn_inflater *s, int n)
{
    uint32_t v = (uint32_t)(s->bits & (((uint64_t)1 << n) - 1));
    s->bits >>= n;
    s->nbits -= n;
    return v;
}

/* Builds decoding tables for the code lengths len[0..n) (0: symbol unused).
   Over-subscribed lengths are always an error. An incomplete set is an error
   too, except where deflate allows it: when allow_sparse and at most one code
   is used, of length 1 (a block with no matches, or with one distance). */
static int mn_huff_build(mn_huffman *h, const unsigned char *len, int n, int allow_sparse)
{
    uint16_t offs[MN_MAX_BITS + 1];
    int i, b, k, left = 1, used = 0;
    unsigned code = 0, idx = 0;

    memset(h->count, 0, sizeof h->count);
    for (i = 0; i < n; i++)
        h->count[len[i]]++;
    for (b = 1; b <= MN_MAX_BITS; b++) {
        left = (left << 1) - h->count[b];
        used += h->count[b];
        if (left < 0)
            return -1;
    }
    if (left > 0 && !(allow_sparse && (used == 0 || (used == 1 && h->count[1] == 1))))
        return -1;

    offs[1] = 0;
    for (b = 1; b < MN_MAX_BITS; b++)
        offs[b + 1] = (uint16_t)(offs[b] + h->count[b]);
    for (i = 0; i < n; i++)
        if (len[i])
            h->sorted[offs[len[i]]++] = (uint16_t)i;

    /* Canonical codes are consecutive within a length, in symbol order, and
       are sent first bit = most significant: the table is indexed by the
       bit-reversed code, repeated over every value of the bits that follow. */
    memset(h->fast, 0, sizeof h->fast);
    for (b = 1; b <= MN_FAST_BITS; b++) {
        for (k = 0; k < h->count[b]; k++, idx++, code++) {
            unsigned rev = 0, r;
            for (i = 0; i < b; i++)
                rev |= ((code >> i) & 1u) << (b - 1 - i);
            for (r = rev; r < (1u << MN_FAST_BITS); r += 1u << b)
                h->fast[r] = (uint16_t)((h->sorted[idx] << 4) | b);
        }
        code <<= 1;
    }
    return 0;
}

/* Decodes one symbol; -1 on an unused code or truncated input. Bits past the
   end of the input read as 0: a code that fits in the real bits is then
   still decoded right, and one that does not means the input is cut short. */
static inline int mn_decode(mn_inflater *s, const mn_huffman *h)
{
    unsigned e, code = 0, first = 0, index = 0;
    int b;

    if (s->nbits < MN_MAX_BITS)
        mn_refill(s);
    e = h->fast[s->bits & ((1u << MN_FAST_BITS) - 1)];
    if (e) {
        if ((int)(e & 15) > s->nbits)
            return mn_fail(s, MN_TRUNCATED, "truncated deflate data");
        mn_take(s, (int)(e & 15));
        return (int)(e >> 4);
    }
    /* A code longer than the table: walk the canonical code one length at a
       time, first = the first code of length b, index = its symbol's rank. */
    for (b = 1; b <= MN_MAX_BITS; b++) {
        unsigned cnt = h->count[b];
        code |= (unsigned)(s->bits >> (b - 1)) & 1u;
        if (code - first < cnt) {
            if (b > s->nbits)
                return mn_fail(s, MN_TRUNCATED, "truncated deflate data");
            mn_take(s, b);
            return h->sorted[index + code - first];
        }
        index += cnt;
        first = (first + cnt) << 1;
        code <<= 1;
    }
    /* an unused code, unless the input ended: then the missing bits might
       have completed a valid one */
    if (s->nbits < MN_MAX_BITS)
        return mn_fail(s, MN_TRUNCATED, "truncated deflate data");
    return mn_fail(s, MN_CORRUPT, "invalid Huffman code");
}

/* Makes room for n more output bytes, growing geometrically up to max_out. */
static int mn_reserve(mn_inflater *s, size_t n)
{
    size_t cap;
    unsigned char *p;
    if (n <= s->out_cap - s->out_len)
        return 0;
    if (n > s->max_out - s->out_len)
        return mn_fail(s, MN_TOO_BIG, "decompressed data exceed the size limit");
    cap = s->out_cap < s->max_out / 2 ? s->out_cap * 2 : s->max_out;
    if (cap < s->out_len + n)
        cap = s->out_len + n;
    p = (unsigned char *)mn_grow(s->out, s->out_len, cap);
    if (!p)
        return mn_fail(s, MN_NOMEM, "out of memory");
    s->out = p;
    s->out_cap = cap;
    return 0;
}

/* A stored block: byte-aligned LEN, NLEN = ~LEN, then LEN raw bytes. */
static int mn_stored(mn_inflater *s)
{
    size_t len;
    const unsigned char *p;

    /* Drop the bits left in the current byte; the whole bytes still in the
       bit buffer are the last ones read, so give them back to the input. */
    mn_take(s, s->nbits & 7);
    s->pos -= (size_t)(s->nbits / 8);
    s->bits = 0;
    s->nbits = 0;
    if (s->in_len - s->pos < 4)
        return mn_fail(s, MN_TRUNCATED, "truncated deflate data");
    p = s->in + s->pos;
    len = (size_t)p[0] | (size_t)p[1] << 8;
    if ((p[0] ^ p[2]) != 0xff || (p[1] ^ p[3]) != 0xff)
        return mn_fail(s, MN_CORRUPT, "stored block length does not match its complement");
    s->pos += 4;
    if (s->in_len - s->pos < len)
        return mn_fail(s, MN_TRUNCATED, "truncated deflate data");
    if (mn_reserve(s, len))
        return -1;
    if (len)
        memcpy(s->out + s->out_len, s->in + s->pos, len);
    s->out_len += len;
    s->pos += len;
    return 0;
}

/* Decodes literals and matches with s->lit and s->dist up to end-of-block. */
static int mn_codes(mn_inflater *s)
{
    for (;;) {
        int sym = mn_decode(s, &s->lit);
        size_t len, dist;
        unsigned char *d;
        if (sym < 0)
            return -1;
        if (sym < 256) {
            if (s->out_len == s->out_cap && mn_reserve(s, 1))
                return -1;
            s->out[s->out_len++] = (unsigned char)sym;
            continue;
        }
        if (sym == 256)
            return 0;
        sym -= 257;
        if (sym >= 29)
            return mn_fail(s, MN_CORRUPT, "invalid length code");
        if (!mn_need(s, mn_len_extra[sym]))
            return -1;
        len = mn_len_base[sym] + mn_take(s, mn_len_extra[sym]);
        sym = mn_decode(s, &s->dist);
        if (sym < 0)
            return -1;
        if (sym >= 30)
            return mn_fail(s, MN_CORRUPT, "invalid distance code");
        if (!mn_need(s, mn_dist_extra[sym]))
            return -1;
        dist = mn_dist_base[sym] + mn_take(s, mn_dist_extra[sym]);
        if (dist > s->out_len - s->start)
            return mn_fail(s, MN_CORRUPT, "distance too far back");
        if (mn_reserve(s, len))
            return -1;
        d = s->out + s->out_len;
        if (dist >= len) {
            memcpy(d, d - dist, len);
        } else if (dist == 1) {
            memset(d, d[-1], len); /* runs of one byte: most of MNIST's background */
        } else {
            /* overlapping: a run that repeats the last dist bytes */
            const unsigned char *from = d - dist;
            size_t i;
            for (i = 0; i < len; i++)
                d[i] = from[i];
        }
        s->out_len += len;
    }
}

/* The fixed codes of RFC 1951 section 3.2.6, built only when the tables hold
   something else: an empty fixed block is 10 bits, and a table build for
   every 10 bits would make a hostile file hundreds of times slower to
   reject than real data are to read. */
static void mn_fixed_tables(mn_inflater *s)
{
    unsigned char len[288];
    int i;
    if (s->fixed)
        return;
    s->fixed = 1;
    for (i = 0; i < 288; i++)
        len[i] = (unsigned char)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
    mn_huff_build(&s->lit, len, 288, 0);
    for (i = 0; i < 32; i++)
        len[i] = 5;
    mn_huff_build(&s->dist, len, 32, 0);
}

/* Reads a dynamic block's code lengths (themselves Huffman coded) and builds
   s->lit and s->dist from them. */
static int mn_dynamic_tables(mn_inflater *s)
{
    static const unsigned char order[19] = {
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned char len[286 + 30];
    int nlit, ndist, ncl, i, n;

    s->fixed = 0;
    if (!mn_need(s, 14))
        return -1;
    nlit = (int)mn_take(s, 5) + 257;
    ndist = (int)mn_take(s, 5) + 1;
    ncl = (int)mn_take(s, 4) + 4;
    if (nlit > 286 || ndist > 30)
        return mn_fail(s, MN_CORRUPT, "too many length or distance codes");
    memset(len, 0, 19);
    for (i = 0; i < ncl; i++) {
        if (!mn_need(s, 3))
            return -1;
        len[order[i]] = (unsigned char)mn_take(s, 3);
    }
    /* s->dist holds the code-length code until the real tables are built */
    if (mn_huff_build(&s->dist, len, 19, 0))
        return mn_fail(s, MN_CORRUPT, "invalid code-length code");

    /* Literal/length and distance lengths form one sequence: a repeat may
       run from one into the other. */
    for (n = 0; n < nlit + ndist;) {
        int sym = mn_decode(s, &s->dist), rep;
        unsigned char v = 0;
        if (sym < 0)
            return -1;
        if (sym < 16) {
            len[n++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) {
            if (n == 0)
                return mn_fail(s, MN_CORRUPT, "repeated code length with no previous length");
            if (!mn_need(s, 2))
                return -1;
            v = len[n - 1];
            rep = 3 + (int)mn_take(s, 2);
        } else if (sym == 17) {
            if (!mn_need(s, 3))
                return -1;
            rep = 3 + (int)mn_take(s, 3);
        } else {
            if (!mn_need(s, 7))
                return -1;
            rep = 11 + (int)mn_take(s, 7);
        }
        if (rep > nlit + ndist - n)
            return mn_fail(s, MN_CORRUPT, "code lengths run past the end of the table");
        memset(len + n, v, (size_t)rep);
        n += rep;
    }
    if (len[256] == 0)
        return mn_fail(s, MN_CORRUPT, "no end-of-block code");
    if (mn_huff_build(&s->lit, len, nlit, 1))
        return mn_fail(s, MN_CORRUPT, "invalid literal/length code lengths");
    if (mn_huff_build(&s->dist, len + nlit, ndist, 1))
        return mn_fail(s, MN_CORRUPT, "invalid distance code lengths");
    return 0;
}

/* Inflates one deflate stream starting at s->pos, appending to s->out. On
   success s->pos is the first byte after the stream (its last partial byte
   counts as used). */
static int mn_inflate(mn_inflater *s)
{
    int final;
    do {
        int type, r;
        if (!mn_need(s, 3))
            return -1;
        final = (int)mn_take(s, 1);
        type = (int)mn_take(s, 2);
        if (type == 0) {
            r = mn_stored(s);
        } else if (type == 1) {
            mn_fixed_tables(s);
            r = mn_codes(s);
        } else if (type == 2) {
            r = mn_dynamic_tables(s);
            if (r == 0)
                r = mn_codes(s);
        } else {
            r = mn_fail(s, MN_CORRUPT, "invalid block type");
        }
        if (r)
            return -1;
    } while (!final);
    mn_take(s, s->nbits & 7);
    s->pos -= (size_t)(s->nbits / 8);
    s->bits = 0;
    s->nbits = 0;
    return 0;
}

// ---- gzip (RFC 1952) ----

/* Skips a member header at s->pos, checking what can be checked. member is
   the member's number, so that bytes after the last member can be named as
   such. Returns 0 or -1 with the reason in err. */
static int mn_gzip_header(mn_inflater *s, int member, char *err, size_t err_len)
{
    const unsigned char *p = s->in + s->pos;
    size_t avail = s->in_len - s->pos, at = 10;
    unsigned flg;

    if (avail < 2 || p[0] != 0x1f || p[1] != 0x8b) {
        if (avail == 1 && p[0] == 0x1f)
            goto truncated;
        if (member == 0)
            mn_errf(err, err_len, "not a gzip file (bad magic bytes)");
        else
            mn_errf(err, err_len, "%lu bytes of trailing data after the gzip stream",
                    (unsigned long)avail);
        return -1;
    }
    if (avail < 10)
        goto truncated;
    if (p[2] != 8) {
        mn_errf(err, err_len, "unknown gzip compression method %u", (unsigned)p[2]);
        return -1;
    }
    flg = p[3];
    if (flg & 0xe0) {
        mn_errf(err, err_len, "reserved gzip header flags set (0x%02x)", flg);
        return -1;
    }
    if (flg & 4) { /* FEXTRA: XLEN, then XLEN bytes */
        size_t xlen;
        if (avail - at < 2)
            goto truncated;
        xlen = (size_t)p[at] | (size_t)p[at + 1] << 8;
        at += 2;
        if (avail - at < xlen)
            goto truncated;
        at += xlen;
    }
    if (flg & 8) { /* FNAME, zero-terminated */
        const unsigned char *z = (const unsigned char *)memchr(p + at, 0, avail - at);
        if (!z)
            goto truncated;
        at = (size_t)(z - p) + 1;
    }
    if (flg & 16) { /* FCOMMENT, zero-terminated */
        const unsigned char *z = (const unsigned char *)memchr(p + at, 0, avail - at);
        if (!z)
            goto truncated;
        at = (size_t)(z - p) + 1;
    }
    if (flg & 2) { /* FHCRC: low 16 bits of the CRC-32 of the header so far */
        if (avail - at < 2)
            goto truncated;
        if ((vae_crc32(0, p, at) & 0xffffu) != ((unsigned)p[at] | (unsigned)p[at + 1] << 8)) {
            mn_errf(err, err_len, "gzip header CRC mismatch");
            return -1;
        }
        at += 2;
    }
    s->pos += at;
    return 0;
truncated:
    mn_errf(err, err_len, "truncated gzip header");
    return -1;
}

/* As documented in mnist.h. Every member's CRC-32 and length are checked;
   anything after the last member other than another member is an error;
   an empty input is not a gzip file. On success *out is never NULL, even for
   an empty payload; on failure *out is NULL and *out_len 0. */
vae_status vae_gunzip(const unsigned char *in, size_t in_len, size_t max_out,
                      unsigned char **out, size_t *out_len, char *err, size_t err_len)
{
    mn_inflater *s;
    vae_status st = VAE_ERR_FORMAT;
    size_t cap;
    int member;

    if (err && err_len)
        err[0] = '\0';
    if (!out || !out_len || (!in && in_len) || max_out == 0) {
        mn_errf(err, err_len, "vae_gunzip: NULL argument or zero output limit");
        return VAE_ERR_ARG;
    }
    *out = NULL;
    *out_len = 0;
    if (in_len == 0) {
        mn_errf(err, err_len, "empty input, not a gzip file");
        return VAE_ERR_FORMAT;
    }
    s = (mn_inflater *)VAE_MALLOC(sizeof *s);
    if (!s) {
        mn_errf(err, err_len, "out of memory");
        return VAE_ERR_NOMEM;
    }
    memset(s, 0, sizeof *s);
    s->in = in;
    s->in_len = in_len;
    s->max_out = max_out;

    /* The last four bytes are the last member's length mod 2^32: a good first
       guess for the buffer. Believe it only up to 64 times the input, so that
       a small hostile file cannot claim a huge buffer; beyond that the buffer
       grows as data actually come out. */
    cap = in_len >= 4 ? vae_get_le32(in + in_len - 4) : 0;
    if (cap / 64 > in_len)
        cap = in_len * 64;
    if (cap > max_out)
        cap = max_out;
    if (cap < 1)
        cap = 1;
    s->out = (unsigned char *)VAE_MALLOC(cap);
    if (!s->out) {
        mn_errf(err, err_len, "out of memory");
        st = VAE_ERR_NOMEM;
        goto free_state;
    }
    s->out_cap = cap;

    for (member = 0; member == 0 || s->pos < in_len; member++) {
        uint32_t crc, size;
        if (mn_gzip_header(s, member, err, err_len))
            goto free_out;
        s->start = s->out_len;
        if (mn_inflate(s)) {
            if (s->kind == MN_NOMEM) {
                st = VAE_ERR_NOMEM;
                mn_errf(err, err_len, "out of memory");
            } else if (s->kind == MN_TOO_BIG) {
                mn_errf(err, err_len, "decompressed data exceed the limit of %lu bytes",
                        (unsigned long)max_out);
            } else if (s->kind == MN_TRUNCATED) {
                mn_errf(err, err_len, "truncated gzip stream (deflate data end early)");
            } else {
                mn_errf(err, err_len, "corrupt gzip stream: %s (near byte %lu)", s->err,
                        (unsigned long)s->pos);
            }
            goto free_out;
        }
        if (in_len - s->pos < 8) {
            mn_errf(err, err_len, "truncated gzip stream (trailer missing or cut)");
            goto free_out;
        }
        crc = vae_crc32(0, s->out + s->start, s->out_len - s->start);
        size = (uint32_t)(s->out_len - s->start);
        if (crc != vae_get_le32(in + s->pos)) {
            mn_errf(err, err_len, "gzip CRC-32 mismatch (member %d): the data are corrupt",
                    member + 1);
            goto free_out;
        }
        if (size != vae_get_le32(in + s->pos + 4)) {
            mn_errf(err, err_len, "gzip length mismatch (member %d): the data are corrupt",
                    member + 1);
            goto free_out;
        }
        s->pos += 8;
    }

    /* never NULL, even when empty; the first guess of its size is the last
       trailer's, so a one-member file wastes nothing */
    *out = s->out;
    *out_len = s->out_len;
    VAE_FREE(s);
    return VAE_OK;

free_out:
    VAE_FREE(s->out);
free_state:
    VAE_FREE(s);
    return st;
}

// ---- files ----

/* A big-endian 32-bit number, as IDX headers store them. */
static uint32_t mn_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Where *data (from VAE_MALLOC, len bytes) starts with the gzip magic,
   replaces it by its inflated contents (at most max bytes); compression
   is told by the bytes, not the name. On failure *data is freed. */
static vae_status mn_gunzip_if_gzip(const char *path, unsigned char **data, size_t *len, size_t max, char *err,
                                    size_t err_len)
{
    unsigned char *raw;
    size_t raw_len;
    char why[200];
    vae_status st;
    if (*len < 2 || (*data)[0] != 0x1f || (*data)[1] != 0x8b)
        return VAE_OK;
    st = vae_gunzip(*data, *len, max, &raw, &raw_len, why, sizeof why);
    VAE_FREE(*data);
    *data = NULL;
    if (st) {
        mn_errf(err, err_len, "%s: %s", path, why);
        return st;
    }
    *data = raw;
    *len = raw_len;
    return VAE_OK;
}

/* Parses an IDX file of unsigned bytes with ndim dimensions (3: images, 1:
   labels) held in memory: data (len bytes, from VAE_MALLOC) is taken over,
   and freed or kept as the payload. It is gzip-compressed when it starts with
   the gzip magic. Errors begin with path, the file it came from. On success
   *payload (data or the decompressed buffer, never NULL) holds the bytes after
   the header and dims[0..ndim) the checked dimensions: each in 1..INT_MAX, and
   for images rows * cols at most MN_MAX_PIXELS. It is mn_load_idx without the
   file, so that a fuzzer can feed it bytes. */
static vae_status mn_parse_idx(unsigned char *data, size_t len, int ndim,
                               unsigned char **payload, int *dims, const char *path,
                               char *err, size_t err_len)
{
    size_t header = 4 + 4 * (size_t)ndim, have;
    uint32_t magic, want = 0x0800u | (uint32_t)ndim, d[3];
    uint64_t expect = 1;
    vae_status st;
    int i;

    *payload = NULL;
    if ((st = mn_gunzip_if_gzip(path, &data, &len, MN_MAX_FILE, err, err_len)) != VAE_OK)
        return st;

    st = VAE_ERR_FORMAT;
    if (len < 4) {
        mn_errf(err, err_len, "%s: truncated IDX header (%lu bytes)", path, (unsigned long)len);
        goto free_data;
    }
    magic = mn_be32(data);
    if (magic != want) {
        mn_errf(err, err_len, "%s: not an IDX %s file (magic 0x%08lx, expected 0x%08lx)", path,
                ndim == 3 ? "image" : "label", (unsigned long)magic, (unsigned long)want);
        goto free_data;
    }
    if (len < header) {
        mn_errf(err, err_len, "%s: truncated IDX header (%lu bytes)", path, (unsigned long)len);
        goto free_data;
    }
    for (i = 0; i < ndim; i++) {
        d[i] = mn_be32(data + 4 + 4 * i);
        if (d[i] == 0 || d[i] > INT_MAX) {
            mn_errf(err, err_len, "%s: dimension %d is %lu (must be 1..%d)", path, i + 1,
                    (unsigned long)d[i], INT_MAX);
            goto free_data;
        }
        if (i == 2 && (uint64_t)d[1] * d[2] > (uint64_t)MN_MAX_PIXELS) {
            mn_errf(err, err_len, "%s: images of %lux%lu are larger than %ld pixels", path,
                    (unsigned long)d[1], (unsigned long)d[2], MN_MAX_PIXELS);
            goto free_data;
        }
        dims[i] = (int)d[i];
        expect *= d[i]; /* at most 2^31 * 2^24: no overflow */
    }
    have = len - header;
    if (expect != have) {
        if (ndim == 3)
            mn_errf(err, err_len,
                    "%s: header says %lu images of %lux%lu but the file holds %lu bytes of pixels"
                    " (%s)", path, (unsigned long)d[0], (unsigned long)d[1], (unsigned long)d[2],
                    (unsigned long)have, expect > have ? "truncated" : "too long");
        else
            mn_errf(err, err_len,
                    "%s: header says %lu labels but the file holds %lu bytes of labels (%s)", path,
                    (unsigned long)d[0], (unsigned long)have, expect > have ? "truncated" : "too long");
        goto free_data;
    }

    /* keep only the payload (the header's bytes stay allocated) */
    memmove(data, data + header, have);
    *payload = data;
    return VAE_OK;

free_data:
    VAE_FREE(data);
    return st;
}

/* Reads an IDX file with ndim dimensions (3: images, 1: labels), plain or
   gzip, as mn_parse_idx describes. */
static vae_status mn_load_idx(const char *path, int ndim, unsigned char **payload, int *dims,
                              char *err, size_t err_len)
{
    unsigned char *data;
    size_t len;
    vae_status st;

    *payload = NULL;
    st = vae_read_file(path, MN_MAX_FILE, &data, &len, err, err_len);
    if (st)
        return st;
    return mn_parse_idx(data, len, ndim, payload, dims, path, err, err_len);
}

// ---- datasets ----

/* As documented in mnist.h: *ds is overwritten (never freed: pass a zeroed or
   freed dataset), and on failure holds no memory. */
vae_status vae_dataset_load(vae_dataset *ds, const char *images, const char *labels)
{
    int idims[3], ldims[1];
    vae_status st;

    if (!ds)
        return VAE_ERR_ARG;
    memset(ds, 0, sizeof *ds);
    if (!images) {
        mn_errf(ds->error, sizeof ds->error, "vae_dataset_load: no image file given");
        return VAE_ERR_ARG;
    }
    st = mn_load_idx(images, 3, &ds->pixels, idims, ds->error, sizeof ds->error);
    if (st)
        return st;
    if (labels) {
        st = mn_load_idx(labels, 1, &ds->labels, ldims, ds->error, sizeof ds->error);
        if (st)
            goto free_pixels;
        if (ldims[0] != idims[0]) {
            mn_errf(ds->error, sizeof ds->error, "%s: %d labels, but %s holds %d images", labels,
                    ldims[0], images, idims[0]);
            st = VAE_ERR_FORMAT;
            goto free_labels;
        }
    }
    ds->n = idims[0];
    ds->rows = idims[1];
    ds->cols = idims[2];
    ds->channels = 1;
    ds->dim = idims[1] * idims[2];
    return VAE_OK;

free_labels:
    VAE_FREE(ds->labels);
free_pixels:
    VAE_FREE(ds->pixels);
    memset(ds, 0, offsetof(vae_dataset, error));
    return st;
}

/* Finds dir/name or dir/name.gz, in that order. Returns the newly allocated path of
   the first that can be opened, or of the first that exists but cannot be
   (so that loading it reports why); NULL with *st = VAE_OK when neither
   exists, NULL with *st = VAE_ERR_NOMEM when memory runs out. */
static char *mn_find(const char *dir, const char *name, vae_status *st)
{
    static const char *const suffix[2] = {"", ".gz"};
    size_t dlen = strlen(dir);
    int sep = dlen > 0 && dir[dlen - 1] != '/', i;
    char *path = (char *)VAE_MALLOC(dlen + 1 + strlen(name) + 4);

    *st = VAE_OK;
    if (!path) {
        *st = VAE_ERR_NOMEM;
        return NULL;
    }
    for (i = 0; i < 2; i++) {
        FILE *f;
        sprintf(path, "%s%s%s%s", dir, sep ? "/" : "", name, suffix[i]);
        errno = 0;
        f = fopen(path, "rb");
        if (f) {
            fclose(f);
            return path;
        }
#ifdef ENOENT
        if (errno && errno != ENOENT)
            return path;
#endif
    }
    VAE_FREE(path);
    return NULL;
}

/* Loads dir/<images> with dir/<labels> if that exists into *ds. Returns
   VAE_OK with ds->n = 0 when the images are optional and absent. */
static vae_status mn_load_pair(vae_dataset *ds, const char *dir, const char *images,
                               const char *labels, int required)
{
    char *ipath, *lpath;
    vae_status st;

    memset(ds, 0, sizeof *ds);
    ipath = mn_find(dir, images, &st);
    if (!ipath) {
        if (st)
            mn_errf(ds->error, sizeof ds->error, "%s: out of memory", dir);
        else if (required) {
            mn_errf(ds->error, sizeof ds->error, "%s: no %s or %s.gz", dir, images, images);
            st = VAE_ERR_IO;
        }
        return st;
    }
    lpath = mn_find(dir, labels, &st);
    if (st) {
        mn_errf(ds->error, sizeof ds->error, "%s: out of memory", dir);
        goto free_ipath;
    }
    st = vae_dataset_load(ds, ipath, lpath);
    VAE_FREE(lpath);
free_ipath:
    VAE_FREE(ipath);
    return st;
}

/* As documented in mnist.h. dir/name is preferred to dir/name.gz when both
   exist; a test set that exists but cannot be read fails the whole call, with
   both datasets empty. */
vae_status vae_dataset_load_dir(vae_dataset *train, vae_dataset *test, const char *dir)
{
    vae_status st;

    if (!train || !test || !dir) {
        if (train)
            mn_errf(train->error, sizeof train->error, "vae_dataset_load_dir: NULL argument");
        return VAE_ERR_ARG;
    }
    memset(test, 0, sizeof *test);
    st = mn_load_pair(train, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 1);
    if (st)
        return st;
    st = mn_load_pair(test, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 0);
    if (st) {
        vae_dataset_free(train);
        memcpy(train->error, test->error, sizeof train->error);
    }
    return st;
}

// ---- tar (ustar and GNU) ----

/* A tar archive is a sequence of 512-byte blocks: for each member a header
   (name, mode, owner, size, time, checksum, type, ...), then its data padded
   to whole blocks; a zero block ends it. Only what a reader of data files
   needs is read: the name, the type and the size. */

#define MN_TAR_BLOCK 512
#define MN_TAR_HNAME 258 /* a header's own name: prefix (155) "/" name (100), NUL */
#define MN_TAR_NAME 1024 /* longest name kept (GNU long names), with its NUL */

typedef struct {
    const unsigned char *buf; /* the whole archive, len bytes */
    size_t len, pos;          /* pos: the next header */
} mn_tar;

typedef struct {
    char name[MN_TAR_NAME];    /* its path; control bytes read as '?', so it prints on one line */
    int type;                  /* the typeflag byte: '0', '7' or 0 a regular file, '2' a symlink, ... */
    const unsigned char *data; /* its size bytes, inside the archive */
    size_t size;
    size_t offset;             /* of its header */
} mn_tar_member;

/* Appends the bytes of src[0..n) up to its first NUL to dst, which holds at
   bytes of cap; returns the new length. Stops at cap - 1 bytes, always
   terminates, and writes control bytes as '?'. */
static size_t mn_tar_copy(char *dst, size_t at, size_t cap, const unsigned char *src, size_t n)
{
    size_t i;
    for (i = 0; i < n && src[i] && at + 1 < cap; i++)
        dst[at++] = src[i] < 32 || src[i] == 127 ? '?' : (char)src[i];
    dst[at] = '\0';
    return at;
}

/* The name in header h into name (MN_TAR_HNAME bytes): POSIX ustar's
   prefix "/" name; GNU headers (magic "ustar  ") keep other fields where
   the prefix would be, and old ones have no magic: the name alone. */
static void mn_tar_header_name(const unsigned char *h, char *name)
{
    size_t at = 0;
    if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {
        at = mn_tar_copy(name, 0, MN_TAR_HNAME, h + 345, 155);
        name[at++] = '/';
    }
    mn_tar_copy(name, at, MN_TAR_HNAME, h, 100);
}

enum { MN_NUM_OK, MN_NUM_MALFORMED, MN_NUM_NEGATIVE, MN_NUM_OVERFLOW };

/* The number in the n-byte header field f: octal digits after optional
   spaces, ended by a space or NUL with only spaces and NULs after it (or by
   the field's end); or, where the first byte's top bit is set, GNU's
   base-256 (bit 6 of the first byte the sign, the rest big-endian).
   MN_NUM_OK with *v set, or why not. */
static int mn_tar_number(const unsigned char *f, size_t n, uint64_t *v)
{
    size_t i = 0;

    *v = 0;
    if (f[0] & 0x80) {
        if (f[0] & 0x40)
            return MN_NUM_NEGATIVE;
        *v = f[0] & 0x3f;
        for (i = 1; i < n; i++) {
            if (*v > UINT64_MAX >> 8)
                return MN_NUM_OVERFLOW;
            *v = *v << 8 | f[i];
        }
        return MN_NUM_OK;
    }
    while (i < n && f[i] == ' ')
        i++;
    if (i == n || f[i] < '0' || f[i] > '7')
        return MN_NUM_MALFORMED;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (*v > UINT64_MAX >> 3)
            return MN_NUM_OVERFLOW;
        *v = *v << 3 | (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return MN_NUM_MALFORMED;
    return MN_NUM_OK;
}

/* Whether header h's checksum field (8 bytes at 148, octal) holds the sum
   of its 512 bytes with that field read as spaces: unsigned, as POSIX says,
   or signed, as some old tars wrote it (GNU tar accepts both). */
static int mn_tar_checksum_ok(const unsigned char *h)
{
    uint64_t want;
    long unsigned_sum = 0, signed_sum = 0;
    int i;

    if (mn_tar_number(h + 148, 8, &want) != MN_NUM_OK)
        return 0;
    for (i = 0; i < MN_TAR_BLOCK; i++) {
        int b = i >= 148 && i < 156 ? ' ' : h[i];
        unsigned_sum += b;
        signed_sum += b < 128 ? b : b - 256;
    }
    return want == (uint64_t)unsigned_sum || (signed_sum >= 0 && want == (uint64_t)signed_sum);
}

static int mn_tar_zero_block(const unsigned char *h)
{
    int i;
    for (i = 0; i < MN_TAR_BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

/* Whether name has a ".." component or starts with '/': a path that could
   leave the directory it is extracted into. */
static int mn_tar_unsafe_name(const char *name)
{
    const char *p = name;
    if (*p == '/')
        return 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

/* The value of the "path" record in a pax extended header (data, size
   bytes of records "LENGTH key=value\n", LENGTH counting the whole record)
   into name (MN_TAR_NAME bytes). 1 when there is one, 0 when not, -1 when
   the records are malformed or the path too long. */
static int mn_tar_pax_path(const unsigned char *data, size_t size, char *name)
{
    size_t at = 0;
    int found = 0;

    while (at < size) {
        size_t len = 0, i = at;
        const unsigned char *rec = data + at, *eq;
        for (; i < size && data[i] >= '0' && data[i] <= '9'; i++) {
            if (len > size / 10)
                return -1;
            len = len * 10 + (size_t)(data[i] - '0');
        }
        /* digits, a space, a key, '=', a value, '\n', all within the data */
        if (i == at || i == size || data[i] != ' ' || len < i - at + 3 || len > size - at ||
            rec[len - 1] != '\n')
            return -1;
        eq = (const unsigned char *)memchr(data + i + 1, '=', len - (i - at) - 2);
        if (!eq)
            return -1;
        if ((size_t)(eq - (data + i + 1)) == 4 && memcmp(data + i + 1, "path", 4) == 0) {
            size_t n = (size_t)(rec + len - 1 - (eq + 1));
            if (n >= MN_TAR_NAME)
                return -1;
            mn_tar_copy(name, 0, MN_TAR_NAME, eq + 1, n);
            found = 1;
        }
        at += len;
    }
    return found;
}

/* Reads the member whose header is at t->pos into *m and moves t past its
   data. A GNU long-name record ('L') or the path record of a pax extended
   header ('x') names the member after it; other pax records, global pax
   headers ('g') and GNU long link names ('K') are skipped. Returns 1
   for a member; 0 at the end: the end of the buffer, or a zero block (tar
   writes two, then pads its last record with zeros; like GNU tar we stop
   at the first); -1 with the reason in err (err_len bytes), naming the
   member where its header could be read. Every member's data lie inside
   the buffer; the padding after the last one may be cut short. */
static int mn_tar_next(mn_tar *t, mn_tar_member *m, char *err, size_t err_len)
{
    char hname[MN_TAR_HNAME];
    int long_name = 0;

    for (;;) {
        const unsigned char *h = t->buf + t->pos, *data;
        size_t left = t->len - t->pos, step, offset = t->pos;
        uint64_t size;
        int r, type;

        if (left == 0 || (left >= MN_TAR_BLOCK && mn_tar_zero_block(h))) {
            if (long_name) {
                mn_errf(err, err_len, "a long name ('%s') with no member after it", m->name);
                return -1;
            }
            return 0;
        }
        if (left < MN_TAR_BLOCK) {
            mn_errf(err, err_len, "truncated archive: %lu bytes at byte %lu, less than a 512-byte header",
                    (unsigned long)left, (unsigned long)offset);
            return -1;
        }
        mn_tar_header_name(h, hname);
        if (!mn_tar_checksum_ok(h)) {
            if (offset == 0)
                mn_errf(err, err_len, "bad header checksum in the first header (member '%s'): "
                        "not a tar archive, or a corrupt one", hname);
            else
                mn_errf(err, err_len, "member '%s': bad header checksum (header at byte %lu)", hname,
                        (unsigned long)offset);
            return -1;
        }
        r = mn_tar_number(h + 124, 12, &size);
        if (r != MN_NUM_OK) {
            mn_errf(err, err_len, "member '%s': size field %s (header at byte %lu)", hname,
                    r == MN_NUM_NEGATIVE ? "is negative"
                    : r == MN_NUM_OVERFLOW ? "overflows 64 bits" : "is not an octal number",
                    (unsigned long)offset);
            return -1;
        }
        if (size > left - MN_TAR_BLOCK) {
            mn_errf(err, err_len, "member '%s' claims %llu bytes but only %lu follow its header: "
                    "a truncated or corrupt archive", hname, (unsigned long long)size,
                    (unsigned long)(left - MN_TAR_BLOCK));
            return -1;
        }
        data = h + MN_TAR_BLOCK;
        step = MN_TAR_BLOCK + ((size_t)size + MN_TAR_BLOCK - 1) / MN_TAR_BLOCK * MN_TAR_BLOCK;
        t->pos += step < left ? step : left;
        type = h[156];
        if (type == 'L') {
            const unsigned char *nul = (const unsigned char *)memchr(data, 0, (size_t)size);
            size_t n = nul ? (size_t)(nul - data) : (size_t)size;
            if (n >= MN_TAR_NAME) {
                mn_errf(err, err_len, "GNU long name of %lu bytes at byte %lu (the limit is %d)",
                        (unsigned long)n, (unsigned long)offset, MN_TAR_NAME - 1);
                return -1;
            }
            mn_tar_copy(m->name, 0, MN_TAR_NAME, data, n);
            long_name = 1;
            continue;
        }
        if (type == 'x') {
            r = mn_tar_pax_path(data, (size_t)size, m->name);
            if (r < 0) {
                mn_errf(err, err_len, "member '%s': malformed pax extended header, or a path in it "
                        "longer than %d bytes (header at byte %lu)", hname, MN_TAR_NAME - 1,
                        (unsigned long)offset);
                return -1;
            }
            long_name |= r;
            continue;
        }
        if (type == 'g' || type == 'K')
            continue;
        if (!long_name)
            memcpy(m->name, hname, strlen(hname) + 1);
        if (mn_tar_unsafe_name(m->name)) {
            mn_errf(err, err_len, "member '%s': a name with a '..' component or a leading '/' is "
                    "refused (nothing is extracted, but a well-made archive has no such names)", m->name);
            return -1;
        }
        m->type = type;
        m->data = data;
        m->size = (size_t)size;
        m->offset = offset;
        return 1;
    }
}

// ---- CIFAR-10 ----

/* Each batch is records of a label byte and the image as three planes, red,
   green, blue, each 32 x 32 row-major: (3, 32, 32), which are turned
   around to the library's (32, 32, 3). */

/* largest archive after inflating (the real one is 185 MB), and largest batch file */
#define MN_MAX_ARCHIVE ((size_t)256 << 20)
#define MN_CIFAR_SIDE 32
#define MN_CIFAR_PLANE (MN_CIFAR_SIDE * MN_CIFAR_SIDE) /* 1,024 pixels per channel */
#define MN_CIFAR_DIM (3 * MN_CIFAR_PLANE)              /* 3,072 bytes per image */
#define MN_CIFAR_RECORD (1 + MN_CIFAR_DIM)             /* 3,073: label, red, green, blue */
#define MN_CIFAR_BATCHES 6                             /* 5 training batches, then the test one */
#define MN_CIFAR_DIR "cifar-10-batches-bin"
#define MN_CIFAR_ARCHIVE "cifar-10-binary.tar.gz"

static const char *const mn_cifar_names[MN_CIFAR_BATCHES] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

/* The six batches, wherever they were found, and how to name each one in
   a message: "archive: member 'name'" or "dir/name". */
typedef struct {
    const unsigned char *data[MN_CIFAR_BATCHES]; /* the records, NULL until found */
    size_t len[MN_CIFAR_BATCHES];
    const char *path;                       /* the archive, or the directory */
    int in_archive;
    char member[MN_CIFAR_BATCHES][256];     /* in an archive: the member's name (cut for messages) */
} mn_cifar_parts;

/* The batch (0..5) that a member or file is, by its last path component
   (trailing slashes dropped); -1 when none. */
static int mn_cifar_batch(const char *name)
{
    size_t end = strlen(name), start;
    int b;
    while (end > 0 && name[end - 1] == '/')
        end--;
    for (start = end; start > 0 && name[start - 1] != '/'; start--)
        ;
    for (b = 0; b < MN_CIFAR_BATCHES; b++)
        if (strlen(mn_cifar_names[b]) == end - start &&
            memcmp(name + start, mn_cifar_names[b], end - start) == 0)
            return b;
    return -1;
}

/* The prefix of batch b's messages into buf. */
static void mn_cifar_where(char *buf, size_t n, const mn_cifar_parts *p, int b)
{
    size_t plen = strlen(p->path);
    if (p->in_archive)
        snprintf(buf, n, "%s: member '%s'", p->path, p->member[b]);
    else
        snprintf(buf, n, "%s%s%s", p->path, plen && p->path[plen - 1] != '/' ? "/" : "",
                 mn_cifar_names[b]);
}

/* The number of records in a batch of len bytes at rec, after checking that
   it is a whole number of them, at least one, and every label 0..9; -1 with
   the reason in err, which begins with where. */
static long mn_cifar_count(const unsigned char *rec, size_t len, const char *where, char *err,
                           size_t err_len)
{
    size_t n = len / MN_CIFAR_RECORD, i;

    if (len == 0 || len % MN_CIFAR_RECORD) {
        mn_errf(err, err_len, "%s: %lu bytes, not a whole number (>= 1) of %d-byte records "
                "(a label and 32x32x3 pixels)", where, (unsigned long)len, MN_CIFAR_RECORD);
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned label = rec[i * MN_CIFAR_RECORD];
        if (label > 9) {
            mn_errf(err, err_len, "%s: record %lu has label %u (must be 0..9)", where,
                    (unsigned long)i + 1, label);
            return -1;
        }
    }
    return (long)n;
}

/* One image's planes (3, 32, 32) to channels last (32, 32, 3). */
static void mn_cifar_interleave(unsigned char *out, const unsigned char *planes)
{
    int px, c;
    for (px = 0; px < MN_CIFAR_PLANE; px++)
        for (c = 0; c < 3; c++)
            out[px * 3 + c] = planes[c * MN_CIFAR_PLANE + px];
}

/* Fills *ds (zeroed) with batches first .. first + count - 1 of p, in order,
   after checking them all. On failure *ds holds no memory. */
static vae_status mn_cifar_fill(vae_dataset *ds, const mn_cifar_parts *p, int first, int count,
                                char *err, size_t err_len)
{
    char where[512];
    long n = 0, k;
    size_t i = 0, r;
    int b;

    for (b = first; b < first + count; b++) {
        mn_cifar_where(where, sizeof where, p, b);
        if ((k = mn_cifar_count(p->data[b], p->len[b], where, err, err_len)) < 0)
            return VAE_ERR_FORMAT;
        if (k > INT_MAX - n) {
            mn_errf(err, err_len, "%s: more than %d images in all", where, INT_MAX);
            return VAE_ERR_FORMAT;
        }
        n += k;
    }
    if ((size_t)n > (size_t)-1 / MN_CIFAR_DIM) {
        mn_errf(err, err_len, "%s: %ld images do not fit in memory", p->path, n);
        return VAE_ERR_NOMEM;
    }
    ds->pixels = (unsigned char *)VAE_MALLOC((size_t)n * MN_CIFAR_DIM);
    ds->labels = (unsigned char *)VAE_MALLOC((size_t)n);
    if (!ds->pixels || !ds->labels) {
        VAE_FREE(ds->pixels);
        VAE_FREE(ds->labels);
        ds->pixels = ds->labels = NULL;
        mn_errf(err, err_len, "%s: out of memory for %ld images", p->path, n);
        return VAE_ERR_NOMEM;
    }
    for (b = first; b < first + count; b++)
        for (r = 0; r < p->len[b] / MN_CIFAR_RECORD; r++, i++) {
            const unsigned char *rec = p->data[b] + r * MN_CIFAR_RECORD;
            ds->labels[i] = rec[0];
            mn_cifar_interleave(ds->pixels + i * MN_CIFAR_DIM, rec + 1);
        }
    ds->n = (int)n;
    ds->rows = ds->cols = MN_CIFAR_SIDE;
    ds->channels = 3;
    ds->dim = MN_CIFAR_DIM;
    return VAE_OK;
}

/* Training set = batches 0..4, test set = batch 5. On failure neither
   holds memory (their error fields are left alone: err may be one). */
static vae_status mn_cifar_split(vae_dataset *train, vae_dataset *test, const mn_cifar_parts *p,
                                 char *err, size_t err_len)
{
    vae_status st = mn_cifar_fill(train, p, 0, MN_CIFAR_BATCHES - 1, err, err_len);
    if (st)
        return st;
    st = mn_cifar_fill(test, p, MN_CIFAR_BATCHES - 1, 1, err, err_len);
    if (st) {
        VAE_FREE(train->pixels);
        VAE_FREE(train->labels);
        memset(train, 0, offsetof(vae_dataset, error));
    }
    return st;
}

/* Reads CIFAR-10 from an archive held in memory: data (len bytes, from
   VAE_MALLOC) is taken over and freed. It is gzip-compressed when it starts
   with the gzip magic, then a tar. *train and *test must be zeroed; errors
   begin with path. It is the archive reader without the file, so that a
   fuzzer can feed it bytes. */
static vae_status mn_parse_cifar_archive(unsigned char *data, size_t len, vae_dataset *train,
                                         vae_dataset *test, const char *path, char *err,
                                         size_t err_len)
{
    mn_cifar_parts p;
    mn_tar t;
    mn_tar_member m;
    char why[512];
    vae_status st = VAE_ERR_FORMAT;
    int r, b, members = 0;

    if ((st = mn_gunzip_if_gzip(path, &data, &len, MN_MAX_ARCHIVE, err, err_len)) != VAE_OK)
        return st;
    st = VAE_ERR_FORMAT;

    memset(&p, 0, sizeof p);
    p.path = path;
    p.in_archive = 1;
    t.buf = data;
    t.len = len;
    t.pos = 0;
    while ((r = mn_tar_next(&t, &m, why, sizeof why)) == 1) {
        members++;
        if ((b = mn_cifar_batch(m.name)) < 0)
            continue;
        if (m.type != '0' && m.type != '7' && m.type != 0) {
            int c = m.type >= 32 && m.type < 127 ? m.type : '?';
            mn_errf(err, err_len, "%s: member '%s' is %s (type '%c'), not a regular file: refused",
                    path, m.name, c == '1' ? "a hard link" : c == '2' ? "a symbolic link"
                    : c == '5' ? "a directory" : "a special member", c);
            goto free_data;
        }
        if (p.data[b]) {
            mn_errf(err, err_len, "%s: member '%s' is a second %s (the first is '%s')", path, m.name,
                    mn_cifar_names[b], p.member[b]);
            goto free_data;
        }
        p.data[b] = m.data;
        p.len[b] = m.size;
        mn_tar_copy(p.member[b], 0, sizeof p.member[b], (const unsigned char *)m.name, MN_TAR_NAME);
    }
    if (r < 0) {
        mn_errf(err, err_len, "%s: %s", path, why);
        goto free_data;
    }
    if (members == 0) {
        mn_errf(err, err_len, "%s: empty archive (no members)", path);
        goto free_data;
    }
    for (b = 0; b < MN_CIFAR_BATCHES; b++)
        if (!p.data[b]) {
            mn_errf(err, err_len, "%s: no %s in the archive (CIFAR-10's holds " MN_CIFAR_DIR
                    "/data_batch_1.bin .. data_batch_5.bin and test_batch.bin)", path, mn_cifar_names[b]);
            goto free_data;
        }
    st = mn_cifar_split(train, test, &p, err, err_len);
free_data:
    VAE_FREE(data);
    return st;
}

/* dir "/" name, newly allocated; NULL when memory runs out. */
static char *mn_join(const char *dir, const char *name)
{
    size_t dlen = strlen(dir);
    int sep = dlen > 0 && dir[dlen - 1] != '/';
    char *path = (char *)VAE_MALLOC(dlen + 1 + strlen(name) + 1);
    if (path)
        sprintf(path, "%s%s%s", dir, sep ? "/" : "", name);
    return path;
}

/* Whether dir/name is there: 1 when it opens, or fails to for a reason
   other than its absence (reading it then says why); 0 when it does not
   exist, or dir is not a directory; -1 when memory runs out. */
static int mn_present(const char *dir, const char *name)
{
    char *path = mn_join(dir, name);
    FILE *f;
    int found;

    if (!path)
        return -1;
    errno = 0;
    f = fopen(path, "rb");
    found = f != NULL;
    if (f)
        fclose(f);
#ifdef ENOENT
    else if (errno && errno != ENOENT)
        found = 1;
#endif
#ifdef ENOTDIR
    if (!f && errno == ENOTDIR)
        found = 0;
#endif
    VAE_FREE(path);
    return found;
}

/* Reads the six batches as plain files of dir. */
static vae_status mn_load_cifar_dir(vae_dataset *train, vae_dataset *test, const char *dir,
                                    char *err, size_t err_len)
{
    mn_cifar_parts p;
    unsigned char *buf[MN_CIFAR_BATCHES] = {NULL};
    vae_status st = VAE_OK;
    int b;

    memset(&p, 0, sizeof p);
    p.path = dir;
    for (b = 0; b < MN_CIFAR_BATCHES && st == VAE_OK; b++) {
        char *path = mn_join(dir, mn_cifar_names[b]);
        if (!path) {
            mn_errf(err, err_len, "%s: out of memory", dir);
            st = VAE_ERR_NOMEM;
            break;
        }
        st = vae_read_file(path, MN_MAX_ARCHIVE, &buf[b], &p.len[b], err, err_len);
        p.data[b] = buf[b];
        VAE_FREE(path);
    }
    if (st == VAE_OK)
        st = mn_cifar_split(train, test, &p, err, err_len);
    for (b = 0; b < MN_CIFAR_BATCHES; b++)
        VAE_FREE(buf[b]);
    return st;
}

/* vae_dataset_load_cifar, also telling the layout it tried; with_mnist
   says whether MNIST was looked for too (for the message when nothing is
   found). Errors go to train->error. */
static vae_status mn_load_cifar(vae_dataset *train, vae_dataset *test, const char *path,
                                int with_mnist, vae_data_layout *layout)
{
    char *found = NULL;
    const char *archive = path;
    unsigned char *data;
    size_t len;
    vae_status st;
    int r;

    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    /* the batches themselves, then the directory tar makes of them, then the
       archive as downloaded; else path itself is taken for the archive */
    *layout = VAE_DATA_CIFAR_DIR;
    r = mn_present(path, mn_cifar_names[0]);
    if (r > 0)
        return mn_load_cifar_dir(train, test, path, train->error, sizeof train->error);
    if (r == 0)
        r = mn_present(path, MN_CIFAR_DIR "/data_batch_1.bin");
    if (r > 0) {
        if (!(found = mn_join(path, MN_CIFAR_DIR)))
            goto nomem;
        st = mn_load_cifar_dir(train, test, found, train->error, sizeof train->error);
        VAE_FREE(found);
        return st;
    }
    *layout = VAE_DATA_CIFAR_ARCHIVE;
    if (r == 0)
        r = mn_present(path, MN_CIFAR_ARCHIVE);
    if (r > 0 && !(archive = found = mn_join(path, MN_CIFAR_ARCHIVE)))
        r = -1;
    if (r < 0)
        goto nomem;

    st = vae_read_file(archive, MN_MAX_ARCHIVE, &data, &len, train->error, sizeof train->error);
    if (st == VAE_ERR_IO && !found) {
        /* nothing we know in it, and not a file either: say what was looked for */
        char why[sizeof train->error];
        size_t plen = strlen(path);
        const char *reason = why;
        memcpy(why, train->error, sizeof why);
        if (strncmp(why, path, plen) == 0 && why[plen] == ':' && why[plen + 1] == ' ')
            reason += plen + 2;
        mn_errf(train->error, sizeof train->error,
                "%s: no %s" MN_CIFAR_DIR "/, data_batch_1.bin or " MN_CIFAR_ARCHIVE
                " in it, and it is not a readable archive (%s)", path,
                with_mnist ? "train-images-idx3-ubyte[.gz] (MNIST), " : "", reason);
    }
    if (st == VAE_OK)
        st = mn_parse_cifar_archive(data, len, train, test, archive, train->error,
                                    sizeof train->error);
    VAE_FREE(found);
    return st;

nomem:
    mn_errf(train->error, sizeof train->error, "%s: out of memory", path);
    return VAE_ERR_NOMEM;
}

/* As documented in mnist.h. */
vae_status vae_dataset_load_cifar(vae_dataset *train, vae_dataset *test, const char *path)
{
    vae_data_layout layout;
    if (!train || !test || !path) {
        if (train)
            mn_errf(train->error, sizeof train->error, "vae_dataset_load_cifar: NULL argument");
        return VAE_ERR_ARG;
    }
    return mn_load_cifar(train, test, path, 0, &layout);
}

/* As documented in mnist.h: MNIST when path/train-images-idx3-ubyte[.gz]
   is there, else CIFAR-10. */
vae_status vae_dataset_load_path(vae_dataset *train, vae_dataset *test, const char *path,
                                 vae_data_layout *layout)
{
    vae_data_layout found = VAE_DATA_MNIST;
    vae_status st;
    int r;

    if (!train || !test || !path) {
        if (train)
            mn_errf(train->error, sizeof train->error, "vae_dataset_load_path: NULL argument");
        return VAE_ERR_ARG;
    }
    r = mn_present(path, "train-images-idx3-ubyte");
    if (r == 0)
        r = mn_present(path, "train-images-idx3-ubyte.gz");
    if (r < 0) {
        memset(train, 0, sizeof *train);
        memset(test, 0, sizeof *test);
        mn_errf(train->error, sizeof train->error, "%s: out of memory", path);
        st = VAE_ERR_NOMEM;
    } else if (r > 0) {
        st = vae_dataset_load_dir(train, test, path);
    } else {
        st = mn_load_cifar(train, test, path, 1, &found);
    }
    if (layout)
        *layout = found;
    return st;
}

const char *vae_data_layout_name(vae_data_layout layout)
{
    switch (layout) {
    case VAE_DATA_MNIST:
        return "MNIST (IDX files)";
    case VAE_DATA_CIFAR_DIR:
        return "CIFAR-10 (" MN_CIFAR_DIR " directory)";
    case VAE_DATA_CIFAR_ARCHIVE:
        return "CIFAR-10 (tar archive)";
    }
    return "unknown layout";
}

/* As documented in mnist.h. Copies the last n images (and labels) into fresh
   blocks for *test, then shrinks *train's; on failure nothing changes and
   train->error says why. */
vae_status vae_dataset_holdout(vae_dataset *train, vae_dataset *test, int n)
{
    size_t keep, move;
    unsigned char *pix, *lab = NULL;

    if (n <= 0 || n >= train->n) {
        mn_errf(train->error, sizeof train->error,
                "cannot hold out %d of %d images (need 0 < n < %d)", n, train->n, train->n);
        return VAE_ERR_ARG;
    }
    if (test->n || test->pixels || test->labels) {
        mn_errf(train->error, sizeof train->error, "holdout: the test set is not empty");
        return VAE_ERR_ARG;
    }
    keep = (size_t)(train->n - n) * (size_t)train->dim;
    move = (size_t)n * (size_t)train->dim;
    pix = (unsigned char *)VAE_MALLOC(move);
    if (train->labels)
        lab = (unsigned char *)VAE_MALLOC((size_t)n);
    if (!pix || (train->labels && !lab)) {
        VAE_FREE(pix);
        VAE_FREE(lab);
        mn_errf(train->error, sizeof train->error, "holdout: out of memory");
        return VAE_ERR_NOMEM;
    }
    memcpy(pix, train->pixels + keep, move);
    if (lab)
        memcpy(lab, train->labels + (train->n - n), (size_t)n);

    memset(test, 0, sizeof *test);
    test->n = n;
    test->rows = train->rows;
    test->cols = train->cols;
    test->channels = train->channels;
    test->dim = train->dim;
    test->pixels = pix;
    test->labels = lab;
    train->n -= n;
    train->error[0] = '\0';
    return VAE_OK;
}

/* Frees both arrays and zeroes *ds, so that a second call (or NULL) is harmless. */
void vae_dataset_free(vae_dataset *ds)
{
    if (!ds)
        return;
    VAE_FREE(ds->pixels);
    VAE_FREE(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* As documented in mnist.h. idx[i] must be in 0..ds->n-1 (not checked: this
   is the inner loop of training). The static threshold is pixel >= 128,
   i.e. pixel / 255 >= 0.5; a dynamic draw is 1 when a uniform in [0, 1) is
   below pixel / 255, so 0 is always 0 and 255 always 1. */
void vae_dataset_batch(const vae_dataset *ds, const int *idx, int n, vae_binarize mode,
                       vae_rng *rng, float *out)
{
    size_t dim = (size_t)ds->dim, i, j;

    /* without a generator a dynamic draw cannot be made: fall back to the
       static threshold rather than crash */
    if (mode == VAE_BINARY_DYNAMIC && !rng)
        mode = VAE_BINARY_STATIC;
    for (i = 0; i < (size_t)(n > 0 ? n : 0); i++) {
        const unsigned char *x = ds->pixels + (size_t)idx[i] * dim;
        float *y = out + i * dim;
        if (mode == VAE_BINARY_STATIC) {
            for (j = 0; j < dim; j++)
                y[j] = x[j] >= 128 ? 1.0f : 0.0f; /* x / 255 >= 0.5 */
        } else if (mode == VAE_BINARY_DYNAMIC) {
            /* one draw per pixel, even black ones, so the stream advances by
               exactly n * dim draws per call */
            for (j = 0; j < dim; j++)
                y[j] = vae_rng_uniform(rng) < x[j] / 255.0 ? 1.0f : 0.0f;
        } else {
            for (j = 0; j < dim; j++)
                y[j] = x[j] / 255.0f;
        }
    }
}
