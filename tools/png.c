/* png.c — PNG encoder: row filters, deflate with the fixed Huffman codes,
   zlib and PNG framing; see png.h. RFC 1950 (zlib), RFC 1951 (deflate) and
   the PNG specification are the references for every constant here. */
#include "png.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vae.h" /* vae_crc32 */

/* Filtered image data over this is refused: positions in the matcher's
   chains are int32_t, and every size below then fits a 32-bit size_t. */
#define MAX_DATA 0x7fffffffu
#define IDAT_MAX 65536u /* bytes of zlib stream per IDAT chunk */

static unsigned char *put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

// ---- deflate (RFC 1951) ----

#define WINDOW 32768    /* deflate's farthest distance */
#define MIN_MATCH 3
#define MAX_MATCH 258
#define HASH_BITS 15
#define MAX_CHAIN 64    /* candidates tried per position: speed against size */
#define GOOD_MATCH 8    /* after a match this long the lazy search tries MAX_CHAIN / 4 */
#define LAZY_MATCH 32   /* a match this long is taken without a lazy search */
#define NICE_MATCH 258  /* a match this long ends the search */
#define FAR_3 4096      /* a 3-byte match farther than this costs more than 3 literals */
#define BLOCK 65535     /* input bytes per block: the most a stored block holds */

typedef struct {
    unsigned char *p; /* output, sized by zlib_compress's bound */
    size_t len;
    uint32_t bits;    /* pending bits, the first to go in bit 0 */
    int nbits;        /* < 8 between calls */
} bitwriter;

/* Hash chains over the input: head[h] is the newest position whose next 3
   bytes hash to h, prev[pos % WINDOW] the one before it (-1: none). A slot
   of prev is reused only WINDOW positions later, when its old entry is out
   of reach anyway. */
typedef struct {
    const unsigned char *data;
    size_t n;
    size_t inserted; /* positions below this are in the chains */
    int32_t head[1 << HASH_BITS];
    int32_t prev[WINDOW];
    uint16_t code[288];       /* fixed literal/length codes, bit-reversed */
    unsigned char code_len[288];
} matcher;

/* Appends the low n bits of v (n <= 24), first bit first. */
static void put_bits(bitwriter *w, uint32_t v, int n)
{
    w->bits |= v << w->nbits;
    w->nbits += n;
    while (w->nbits >= 8) {
        w->p[w->len++] = (unsigned char)w->bits;
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

/* Huffman codes are sent from their top bit down, the opposite of every
   other field, so each is stored reversed. */
static uint32_t reverse_bits(uint32_t v, int n)
{
    uint32_t r = 0;
    while (n--) {
        r = r << 1 | (v & 1);
        v >>= 1;
    }
    return r;
}

static int floor_log2(uint32_t v)
{
    int b = 0;
    while (v >>= 1)
        b++;
    return b;
}

/* The fixed code of RFC 1951 3.2.6 for every literal/length symbol. */
static void fixed_codes_init(matcher *m)
{
    int s;
    for (s = 0; s < 288; s++) {
        int code = s < 144 ? 0x30 + s : s < 256 ? 0x190 + (s - 144) : s < 280 ? s - 256 : 0xc0 + (s - 280);
        int len = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
        m->code[s] = (uint16_t)reverse_bits((uint32_t)code, len);
        m->code_len[s] = (unsigned char)len;
    }
}

static uint32_t hash3(const unsigned char *p)
{
    return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16) * 0x9e3779b1u >> (32 - HASH_BITS);
}

/* Puts every position below end (that has 3 bytes to hash) in the chains. */
static void insert_upto(matcher *m, size_t end)
{
    for (; m->inserted < end && m->inserted + 2 < m->n; m->inserted++) {
        uint32_t h = hash3(m->data + m->inserted);
        m->prev[m->inserted % WINDOW] = m->head[h];
        m->head[h] = (int32_t)m->inserted;
    }
}

/* The longest earlier copy of the bytes at pos, at most limit long and at
   most WINDOW back, among the first chain candidates: its length (0: none
   worth sending) and *dist. Only positions below pos may be in the
   chains. */
static int longest_match(const matcher *m, size_t pos, size_t limit, int chain, size_t *dist)
{
    const unsigned char *d = m->data;
    int32_t cand;
    size_t best = MIN_MATCH - 1;
    if (limit > MAX_MATCH)
        limit = MAX_MATCH;
    if (limit < MIN_MATCH || pos + 2 >= m->n)
        return 0;
    for (cand = m->head[hash3(d + pos)]; cand >= 0 && pos - (size_t)cand <= WINDOW && chain--;
         cand = m->prev[cand % WINDOW]) {
        const unsigned char *a = d + cand, *b = d + pos;
        size_t l = 0;
        if (a[best] != b[best]) /* cannot beat best */
            continue;
        while (l < limit && a[l] == b[l])
            l++;
        if (l > best) {
            best = l;
            *dist = pos - (size_t)cand;
            if (l >= limit || l >= NICE_MATCH)
                break;
        }
    }
    if (best < MIN_MATCH || (best == MIN_MATCH && *dist > FAR_3))
        return 0;
    return (int)best;
}

static void put_literal(const matcher *m, bitwriter *w, int sym)
{
    put_bits(w, m->code[sym], m->code_len[sym]);
}

/* A length (3..258) and distance (1..32768) pair: each is a symbol for its
   range, then extra bits for the offset in it (RFC 1951 3.2.5). */
static void put_match(const matcher *m, bitwriter *w, int len, size_t dist)
{
    uint32_t v = (uint32_t)len - 3, dv = (uint32_t)dist - 1;
    int b, sym;
    if (len == MAX_MATCH) {
        put_literal(m, w, 285);
    } else if (v < 8) {
        put_literal(m, w, 257 + (int)v);
    } else {
        b = floor_log2(v);
        put_literal(m, w, 257 + 4 * (b - 1) + (int)(v >> (b - 2) & 3));
        put_bits(w, v & ((1u << (b - 2)) - 1), b - 2);
    }
    if (dv < 4) {
        put_bits(w, reverse_bits(dv, 5), 5);
    } else {
        b = floor_log2(dv);
        sym = 2 * b + (int)(dv >> (b - 1) & 1);
        put_bits(w, reverse_bits((uint32_t)sym, 5), 5);
        put_bits(w, dv & ((1u << (b - 1)) - 1), b - 1);
    }
}

/* data[start..end) as one block of type 1, matched greedily with one step
   of lazy evaluation (a match is put off when the next byte starts a
   longer one). Matches may reach back before start but not past end. */
static void fixed_block(matcher *m, bitwriter *w, size_t start, size_t end, int final)
{
    size_t pos = start, dist = 0, dist2 = 0;
    put_bits(w, (uint32_t)final | 1u << 1, 3);
    while (pos < end) {
        int len, len2;
        insert_upto(m, pos);
        len = longest_match(m, pos, end - pos, MAX_CHAIN, &dist);
        if (len && len < LAZY_MATCH && pos + 1 < end) {
            insert_upto(m, pos + 1);
            len2 = longest_match(m, pos + 1, end - pos - 1, len < GOOD_MATCH ? MAX_CHAIN : MAX_CHAIN / 4, &dist2);
            if (len2 > len) {
                put_literal(m, w, m->data[pos++]);
                len = len2;
                dist = dist2;
            }
        }
        if (len) {
            put_match(m, w, len, dist);
            pos += (size_t)len;
        } else {
            put_literal(m, w, m->data[pos++]);
        }
    }
    put_literal(m, w, 256);
}

/* Pads the output to a whole byte, as stored blocks and the zlib trailer
   need. */
static void align_byte(bitwriter *w)
{
    put_bits(w, 0, (8 - w->nbits) % 8);
}

/* data[start..end) (at most BLOCK bytes) as a stored block. */
static void stored_block(bitwriter *w, const unsigned char *data, size_t start, size_t end, int final)
{
    size_t n = end - start;
    put_bits(w, (uint32_t)final, 3);
    align_byte(w);
    w->p[w->len++] = (unsigned char)n; /* LEN, then NLEN = ~LEN, little-endian */
    w->p[w->len++] = (unsigned char)(n >> 8);
    w->p[w->len++] = (unsigned char)~n;
    w->p[w->len++] = (unsigned char)(~n >> 8);
    memcpy(w->p + w->len, data + start, n);
    w->len += n;
}

/* Adler-32 of p[0..n) (RFC 1950): 65521 is the largest prime below 2^16,
   and 5552 bytes is the longest run after which b cannot yet have passed
   2^32. */
static uint32_t adler32(const unsigned char *p, size_t n)
{
    uint32_t a = 1, b = 0;
    while (n) {
        size_t k = n < 5552 ? n : 5552;
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return b << 16 | a;
}

/* data[0..n) (n <= MAX_DATA) as a zlib stream in a malloc'ed *out of *len
   bytes. Each block of BLOCK bytes is coded with the fixed codes, then
   replaced by a stored block if that is shorter; neither costs more than 9
   bits a byte (a match costs at most 25 bits for 3 bytes), which bounds the
   buffer. 0, or -1 when out of memory. */
static int zlib_compress(const unsigned char *data, size_t n, unsigned char **out, size_t *len)
{
    size_t start, end;
    bitwriter w = {0};
    matcher *m;
    if (n > MAX_DATA)
        return -1;
    m = malloc(sizeof *m);
    if (!m || !(w.p = malloc(2 + n + n / 8 + 8 * (n / BLOCK + 1) + 16 + 4))) {
        free(m);
        return -1;
    }
    m->data = data;
    m->n = n;
    m->inserted = 0;
    memset(m->head, 0xff, sizeof m->head);
    fixed_codes_init(m);
    /* CM 8 (deflate) with a 32 KB window, FLEVEL 1; 0x785e is a multiple of 31 */
    w.p[w.len++] = 0x78;
    w.p[w.len++] = 0x5e;
    for (start = 0;; start = end) {
        bitwriter before = w;
        size_t fixed_bits, stored_bits;
        int final;
        end = n - start > BLOCK ? start + BLOCK : n;
        final = end == n;
        fixed_block(m, &w, start, end, final);
        fixed_bits = (w.len - before.len) * 8 + (size_t)w.nbits - (size_t)before.nbits;
        stored_bits = 3 + (8 - (size_t)(before.nbits + 3) % 8) % 8 + 32 + 8 * (end - start);
        if (fixed_bits > stored_bits) {
            w = before;
            stored_block(&w, data, start, end, final);
        }
        if (final)
            break;
    }
    align_byte(&w);
    put_be32(w.p + w.len, adler32(data, n)); /* big-endian, unlike deflate's fields */
    w.len += 4;
    free(m);
    *out = w.p;
    *len = w.len;
    return 0;
}

// ---- PNG ----

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Row x (n bytes, bpp bytes a pixel) under filter type 0-4 (none, sub, up,
   average, Paeth) into out, given the row above (zeros for the first row);
   returns the sum of the outputs read as signed bytes' magnitudes, the
   heuristic's measure of how well the row will compress. */
static uint64_t filter_row(int type, const unsigned char *x, const unsigned char *up, size_t n, size_t bpp,
                           unsigned char *out)
{
    uint64_t sum = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int a = i >= bpp ? x[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
        int pred = type == 0 ? 0 : type == 1 ? a : type == 2 ? b : type == 3 ? (a + b) / 2 : paeth(a, b, c);
        unsigned char v = (unsigned char)(x[i] - pred);
        out[i] = v;
        sum += v < 128 ? v : 256u - v;
    }
    return sum;
}

/* A chunk at p: length, type, data[0..n), CRC of type and data; returns
   its end. */
static unsigned char *put_chunk(unsigned char *p, const char *type, const unsigned char *data, size_t n)
{
    unsigned char *t = put_be32(p, (uint32_t)n);
    memcpy(t, type, 4);
    if (n)
        memcpy(t + 4, data, n);
    return put_be32(t + 4 + n, vae_crc32(0, t, n + 4));
}

int png_encode(const unsigned char *pixels, int width, int height, int channels, unsigned char **out, size_t *len)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13], *filtered, *zero_row, *trial, *z = NULL, *p;
    size_t row, stride, n, zlen = 0, at, total;
    int y, t, st = -1;
    if (!pixels || !out || !len || width < 1 || height < 1 || (channels != 1 && channels != 3) ||
        (size_t)width > (MAX_DATA - 1) / (size_t)channels)
        return -1;
    row = (size_t)width * (size_t)channels;
    stride = row + 1; /* a filter type byte, then the row */
    if ((size_t)height > MAX_DATA / stride)
        return -1;
    n = stride * (size_t)height;
    filtered = malloc(n);
    zero_row = calloc(1, row);
    trial = malloc(row);
    if (!filtered || !zero_row || !trial)
        goto free_buffers;
    for (y = 0; y < height; y++) {
        const unsigned char *x = pixels + (size_t)y * row, *up = y ? x - row : zero_row;
        unsigned char *best = filtered + (size_t)y * stride;
        uint64_t best_sum = filter_row(0, x, up, row, (size_t)channels, best + 1), sum;
        best[0] = 0;
        for (t = 1; t <= 4; t++)
            if ((sum = filter_row(t, x, up, row, (size_t)channels, trial)) < best_sum) {
                best_sum = sum;
                best[0] = (unsigned char)t;
                memcpy(best + 1, trial, row);
            }
    }
    if (zlib_compress(filtered, n, &z, &zlen) != 0)
        goto free_buffers;
    total = sizeof signature + 12 + sizeof ihdr + (zlen + IDAT_MAX - 1) / IDAT_MAX * 12 + zlen + 12;
    if (!(p = malloc(total)))
        goto free_buffers;
    *out = p;
    memcpy(p, signature, sizeof signature);
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                          /* bits per sample */
    ihdr[9] = channels == 1 ? 0 : 2;      /* colour type: grey or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;   /* deflate, adaptive filters, no interlace */
    p = put_chunk(p + sizeof signature, "IHDR", ihdr, sizeof ihdr);
    for (at = 0; at < zlen; at += IDAT_MAX)
        p = put_chunk(p, "IDAT", z + at, zlen - at < IDAT_MAX ? zlen - at : IDAT_MAX);
    put_chunk(p, "IEND", NULL, 0);
    *len = total;
    st = 0;
free_buffers:
    free(z);
    free(trial);
    free(zero_row);
    free(filtered);
    return st;
}
