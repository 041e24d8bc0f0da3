/* mnist.c — IDX datasets (MNIST, Fashion-MNIST), plain or gzip, and batching.

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
     data file they mean a damaged or wrongly concatenated download).
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
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        unsigned char *raw;
        size_t raw_len;
        char why[200];
        st = vae_gunzip(data, len, MN_MAX_FILE, &raw, &raw_len, why, sizeof why);
        VAE_FREE(data);
        if (st) {
            mn_errf(err, err_len, "%s: %s", path, why);
            return st;
        }
        data = raw;
        len = raw_len;
    }

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
