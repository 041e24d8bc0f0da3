/* test_data.c — datasets: our inflate and gzip reader, IDX parsing, hostile
   and damaged files, holdout and batching.

   Run from the repository root (it reads data/mnist/). Uses the system's
   gzip, when there is one, to make reference files; everything else is built
   by hand here, byte by byte, so that each rule of RFC 1951/1952 and of the
   IDX format is tested on purpose. Temporary files live in one mkdtemp
   directory, removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include "../vae.c"
#include "../mnist.c"
#include "check.h"
#include "portable.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAGES_GZ "data/mnist/t10k-images-idx3-ubyte.gz"
#define LABELS_GZ "data/mnist/t10k-labels-idx1-ubyte.gz"

static char tmpdir[256];
static int have_gzip;

// ---- helpers ----

/* Path of name inside the temporary directory; four rotating buffers so
   that a call can use a few at once. */
static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Runs a shell command; paths in it are single-quoted by the callers. */
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    if (n)
        CHECK(fwrite(p, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

/* The whole file, malloc'ed (NULL if it cannot be read). */
static unsigned char *read_all(const char *path, size_t *n)
{
    unsigned char *p;
    char err[256];
    if (vae_read_file(path, (size_t)1 << 30, &p, n, err, sizeof err) != VAE_OK) {
        CHECK(0, "%s", err);
        return NULL;
    }
    return p;
}

/* A growable byte string with an LSB-first bit writer, for building gzip
   and deflate streams by hand. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    unsigned acc;
    int nacc;
} tbuf;

static void b_byte(tbuf *b, unsigned v)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->p = (unsigned char *)realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    b->p[b->n++] = (unsigned char)v;
}

static void b_put(tbuf *b, const void *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        b_byte(b, ((const unsigned char *)p)[i]);
}

static void b_le(tbuf *b, uint32_t v, int nbytes)
{
    int i;
    for (i = 0; i < nbytes; i++)
        b_byte(b, (v >> (8 * i)) & 0xff);
}

static void b_be32(tbuf *b, uint32_t v)
{
    int i;
    for (i = 3; i >= 0; i--)
        b_byte(b, (v >> (8 * i)) & 0xff);
}

/* n bits of v, least significant first (deflate's order for everything but
   Huffman codes) */
static void b_bits(tbuf *b, unsigned v, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        b->acc |= ((v >> i) & 1u) << b->nacc;
        if (++b->nacc == 8) {
            b_byte(b, b->acc);
            b->acc = 0;
            b->nacc = 0;
        }
    }
}

/* a Huffman code: most significant bit first */
static void b_huff(tbuf *b, unsigned code, int len)
{
    int i;
    for (i = len - 1; i >= 0; i--)
        b_bits(b, (code >> i) & 1u, 1);
}

static void b_align(tbuf *b)
{
    if (b->nacc)
        b_bits(b, 0, 8 - b->nacc);
}

static void b_free(tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Canonical codes for lengths len[0..n), as RFC 1951 section 3.2.2. */
static void canon(const unsigned char *len, int n, unsigned *code)
{
    int count[16] = {0}, i, b;
    unsigned next[16], c = 0;
    for (i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    for (b = 1; b < 16; b++) {
        c = (c + (unsigned)count[b - 1]) << 1;
        next[b] = c;
    }
    for (i = 0; i < n; i++)
        if (len[i])
            code[i] = next[len[i]]++;
}

/* A literal/length symbol in the fixed code. */
static void fx_sym(tbuf *b, int sym)
{
    if (sym < 144)
        b_huff(b, 0x30u + (unsigned)sym, 8);
    else if (sym < 256)
        b_huff(b, 0x190u + (unsigned)(sym - 144), 9);
    else if (sym < 280)
        b_huff(b, (unsigned)(sym - 256), 7);
    else
        b_huff(b, 0xc0u + (unsigned)(sym - 280), 8);
}

/* A match in the fixed code (3 <= len <= 258, 1 <= dist <= 32768). */
static void fx_match(tbuf *b, int len, int dist)
{
    int i = 28, d = 29;
    while (mn_len_base[i] > len)
        i--;
    fx_sym(b, 257 + i);
    b_bits(b, (unsigned)(len - mn_len_base[i]), mn_len_extra[i]);
    while (mn_dist_base[d] > dist)
        d--;
    b_huff(b, (unsigned)d, 5);
    b_bits(b, (unsigned)(dist - mn_dist_base[d]), mn_dist_extra[d]);
}

/* The header of a dynamic block: nlit, ndist, the code-length code cl[19]
   and the code-length symbols seq[0..nseq) (symbol | extra bits << 8). */
static void dyn_header(tbuf *b, int final, int nlit, int ndist, const unsigned char cl[19],
                       const int *seq, int nseq)
{
    static const unsigned char order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                            11, 4, 12, 3, 13, 2, 14, 1, 15};
    static const int extra[3] = {2, 3, 7};
    unsigned code[19] = {0};
    int ncl = 19, i;
    while (ncl > 4 && cl[order[ncl - 1]] == 0)
        ncl--;
    canon(cl, 19, code);
    b_bits(b, (unsigned)final, 1);
    b_bits(b, 2, 2);
    b_bits(b, (unsigned)(nlit - 257), 5);
    b_bits(b, (unsigned)(ndist - 1), 5);
    b_bits(b, (unsigned)(ncl - 4), 4);
    for (i = 0; i < ncl; i++)
        b_bits(b, cl[order[i]], 3);
    for (i = 0; i < nseq; i++) {
        int sym = seq[i] & 0xff;
        b_huff(b, code[sym], cl[sym]);
        if (sym >= 16)
            b_bits(b, (unsigned)(seq[i] >> 8), extra[sym - 16]);
    }
}

/* A final dynamic block holding text[0..n) as literals: code-length code
   {9: 1 bit, 1: 1 bit}; literals 0..255 of 9 bits, end-of-block of 1 bit;
   one distance code of 1 bit. */
static void dyn_literals(tbuf *b, const char *text, int n)
{
    unsigned char cl[19] = {0}, ll[257];
    unsigned lcode[257];
    int seq[258], ns, i;
    cl[9] = 1, cl[1] = 1;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 9;
    seq[ns++] = 1, seq[ns++] = 1;
    for (i = 0; i < 256; i++)
        ll[i] = 9;
    ll[256] = 1;
    canon(ll, 257, lcode);
    dyn_header(b, 1, 257, 1, cl, seq, ns);
    for (i = 0; i < n; i++)
        b_huff(b, lcode[(unsigned char)text[i]], 9);
    b_huff(b, lcode[256], 1);
}

/* A gzip member around a deflate stream whose output is raw[0..rn). */
static void gz_member(tbuf *g, const tbuf *deflate, const void *raw, size_t rn)
{
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    b_put(g, head, 10);
    b_put(g, deflate->p, deflate->n);
    b_le(g, vae_crc32(0, raw, rn), 4);
    b_le(g, (uint32_t)rn, 4);
}

/* vae_gunzip must give back exactly raw[0..rn). */
static void expect_ok(const unsigned char *gz, size_t n, const void *raw, size_t rn,
                      const char *what)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    char err[256];
    vae_status st = vae_gunzip(gz, n, MN_MAX_FILE, &out, &out_len, err, sizeof err);
    CHECK(st == VAE_OK && err[0] == '\0', "%s: %s", what, err);
    CHECK(out != NULL, "%s: output buffer is NULL", what);
    CHECK(out_len == rn && (rn == 0 || (out && memcmp(out, raw, rn) == 0)),
          "%s: got %lu bytes, expected %lu", what, (unsigned long)out_len, (unsigned long)rn);
    free(out);
}

/* vae_gunzip must fail cleanly, with needle (if any) in the message. */
static void expect_err(const unsigned char *gz, size_t n, const char *needle, const char *what)
{
    unsigned char *out = (unsigned char *)&out;
    size_t out_len = 99;
    char err[256];
    vae_status st = vae_gunzip(gz, n, MN_MAX_FILE, &out, &out_len, err, sizeof err);
    CHECK(st == VAE_ERR_FORMAT, "%s: status %d (%s)", what, (int)st, err);
    CHECK(err[0] != '\0', "%s: empty message", what);
    CHECK(out == NULL && out_len == 0, "%s: output not cleared", what);
    CHECK(!needle || strstr(err, needle), "%s: message '%s' lacks '%s'", what, err, needle);
    if (st == VAE_OK)
        free(out);
}

/* A dataset that failed must hold nothing and say why, naming the file. */
static void expect_ds_err(const vae_dataset *ds, vae_status st, vae_status want,
                          const char *path, const char *needle, const char *what)
{
    CHECK(st == want, "%s: status %d, expected %d (%s)", what, (int)st, (int)want, ds->error);
    CHECK(ds->error[0] != '\0', "%s: empty message", what);
    CHECK(!path || strstr(ds->error, path), "%s: message '%s' does not name %s", what,
          ds->error, path);
    CHECK(!needle || strstr(ds->error, needle), "%s: message '%s' lacks '%s'", what, ds->error,
          needle);
    CHECK(ds->pixels == NULL && ds->labels == NULL && ds->n == 0, "%s: memory left", what);
}

/* An IDX file: magic, dims, then payload bytes i * 7 + 1. */
static void idx_build(tbuf *b, uint32_t magic, int ndim, const uint32_t *dims, size_t payload)
{
    size_t i;
    int k;
    b->n = 0;
    b_be32(b, magic);
    for (k = 0; k < ndim; k++)
        b_be32(b, dims[k]);
    for (i = 0; i < payload; i++)
        b_byte(b, (unsigned)(i * 7 + 1));
}

// ---- the shipped MNIST test set ----

static void test_shipped(void)
{
    vae_dataset ds, raw;
    clock_t t0;
    double ms;
    long long sum = 0;
    int i, count[10] = {0}, bad = 0;
    vae_status st;

    t0 = clock();
    st = vae_dataset_load(&ds, IMAGES_GZ, LABELS_GZ);
    ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(st == VAE_OK && ds.error[0] == '\0', "%s", ds.error);
    if (st != VAE_OK)
        return;
    printf("# loading the t10k images and labels (gzip) took %.1f ms\n", ms);
    CHECK(ds.n == 10000 && ds.rows == 28 && ds.cols == 28 && ds.dim == 784,
          "n %d, %dx%d, dim %d", ds.n, ds.rows, ds.cols, ds.dim);
    CHECK(ds.labels != NULL, "no labels");
    for (i = 0; i < ds.n; i++) {
        if (ds.labels[i] > 9)
            bad++;
        else
            count[ds.labels[i]]++;
    }
    CHECK(bad == 0, "%d labels outside 0..9", bad);
    CHECK(ds.labels[0] == 7 && ds.labels[1] == 2 && ds.labels[2] == 1 && ds.labels[9] == 9,
          "first labels %d %d %d", ds.labels[0], ds.labels[1], ds.labels[2]);
    CHECK(count[0] == 980 && count[1] == 1135 && count[5] == 892, "label counts %d %d %d",
          count[0], count[1], count[5]);
    for (i = 0; i < ds.n * ds.dim; i++)
        sum += ds.pixels[i];
    CHECK(sum == 264923200LL, "pixel sum %lld", sum);
    sum = 0;
    for (i = 0; i < ds.dim; i++)
        sum += ds.pixels[i];
    CHECK(sum == 18454 && ds.pixels[7 * 28 + 7] == 185, "first image: sum %lld", sum);

    /* the same data, decompressed by the system's gzip, read as plain IDX */
    if (have_gzip) {
        sh("gzip -dc '%s' > '%s'", IMAGES_GZ, tmp("t10k-images"));
        sh("gzip -dc '%s' > '%s'", LABELS_GZ, tmp("t10k-labels"));
        st = vae_dataset_load(&raw, tmp("t10k-images"), tmp("t10k-labels"));
        CHECK(st == VAE_OK, "%s", raw.error);
        if (st == VAE_OK) {
            CHECK(raw.n == ds.n && memcmp(raw.pixels, ds.pixels, (size_t)ds.n * 784) == 0 &&
                      memcmp(raw.labels, ds.labels, (size_t)ds.n) == 0,
                  "plain and gzip files differ");
            vae_dataset_free(&raw);
        }
        CHECK(raw.pixels == NULL && raw.n == 0, "free left data");
    }
    vae_dataset_free(&ds);
}

// ---- round trips through the system's gzip ----

/* Random bytes, runs, a short repeated pattern, text, and a block repeated
   30,000 tbuf later so that matches reach far back into the window. */
static unsigned char *make_payload(size_t *n)
{
    size_t len = 300000, i = 0, j;
    unsigned char *p = (unsigned char *)malloc(len);
    vae_rng r;
    vae_rng_seed(&r, 7);
    for (j = 0; j < 20000; j++)
        p[i++] = (unsigned char)vae_rng_next(&r);
    memset(p + i, 0, 40000);
    i += 40000;
    for (j = 0; j < 30000; j++)
        p[i++] = "abcabd"[j % 6];
    for (j = 0; j < 60000; j++)
        p[i++] = "the quick brown fox jumps over the lazy dog\n"[j % 44] ^
                 (unsigned char)(vae_rng_below(&r, 16) == 0);
    for (j = 0; j < 10000; j++)
        p[i++] = (unsigned char)vae_rng_next(&r);
    memcpy(p + i, p + i - 10000, 10000); /* nearby repeat */
    i += 10000;
    for (j = 0; j < 20000; j++)
        p[i++] = (unsigned char)(j & 0xff);
    memcpy(p + i, p + i - 30000, 20000); /* far repeat, distance 30000 */
    i += 20000;
    while (i < len) {
        p[i] = (unsigned char)(p[i - 1] + vae_rng_below(&r, 3));
        i++;
    }
    *n = len;
    return p;
}

static void test_roundtrip(void)
{
    static const int levels[3] = {1, 6, 9};
    unsigned char *data, *gz, *both;
    size_t n, gn;
    int k;

    if (!have_gzip) {
        printf("# no gzip on this system: round trips skipped\n");
        return;
    }
    data = make_payload(&n);
    write_file(tmp("rt.bin"), data, n);
    for (k = 0; k < 3; k++) {
        char what[64], name[32];
        snprintf(name, sizeof name, "rt%d.gz", levels[k]);
        snprintf(what, sizeof what, "gzip -%d round trip", levels[k]);
        sh("gzip -%d -c '%s' > '%s'", levels[k], tmp("rt.bin"), tmp(name));
        gz = read_all(tmp(name), &gn);
        if (gz)
            expect_ok(gz, gn, data, n, what);
        free(gz);
    }

    /* two members: the output is the two payloads one after the other */
    sh("cat '%s' '%s' > '%s'", tmp("rt1.gz"), tmp("rt9.gz"), tmp("multi.gz"));
    gz = read_all(tmp("multi.gz"), &gn);
    both = (unsigned char *)malloc(2 * n);
    memcpy(both, data, n);
    memcpy(both + n, data, n);
    if (gz)
        expect_ok(gz, gn, both, 2 * n, "two members");
    free(gz);
    free(both);

    /* an empty payload, and one byte (stdin: no file name in the header) */
    sh("gzip -c < /dev/null > '%s'", tmp("empty.gz"));
    gz = read_all(tmp("empty.gz"), &gn);
    if (gz)
        expect_ok(gz, gn, "", 0, "empty payload");
    free(gz);
    sh("printf x | gzip -9 -c > '%s'", tmp("x.gz"));
    gz = read_all(tmp("x.gz"), &gn);
    if (gz)
        expect_ok(gz, gn, "x", 1, "one byte");
    free(gz);

    /* a gzip bomb is cut off at max_out, but exactly max_out is fine */
    {
        unsigned char *zeros = (unsigned char *)calloc(1, 4 << 20), *out = NULL;
        size_t out_len = 0;
        char err[256];
        vae_status st;
        write_file(tmp("zeros"), zeros, 4 << 20);
        sh("gzip -9 -c '%s' > '%s'", tmp("zeros"), tmp("zeros.gz"));
        gz = read_all(tmp("zeros.gz"), &gn);
        if (gz) {
            st = vae_gunzip(gz, gn, 1 << 20, &out, &out_len, err, sizeof err);
            CHECK(st == VAE_ERR_FORMAT && strstr(err, "limit") && out == NULL,
                  "bomb: status %d: %s", (int)st, err);
            st = vae_gunzip(gz, gn, (4 << 20) - 1, &out, &out_len, err, sizeof err);
            CHECK(st == VAE_ERR_FORMAT && out == NULL, "one byte over the limit: %s", err);
            st = vae_gunzip(gz, gn, 4 << 20, &out, &out_len, err, sizeof err);
            CHECK(st == VAE_OK && out_len == (size_t)4 << 20 && memcmp(out, zeros, out_len) == 0,
                  "exactly at the limit: %s", err);
            free(out);
        }
        free(gz);
        free(zeros);
    }
    free(data);
}

// ---- streams built by hand ----

static void test_handmade(void)
{
    tbuf d = {0}, g = {0};
    unsigned char raw[1200], *out;
    unsigned char cl[19], ll[258];
    unsigned lcode[258];
    int seq[600], ns, i;
    size_t out_len, mark;
    char err[256];

    for (i = 0; i < 1200; i++)
        raw[i] = (unsigned char)(i * 31 + (i >> 3));

    /* stored blocks: 600 bytes, an empty one, then 400 more in the final one */
    b_bits(&d, 0, 1), b_bits(&d, 0, 2), b_align(&d);
    b_le(&d, 600, 2), b_le(&d, 600 ^ 0xffff, 2), b_put(&d, raw, 600);
    b_bits(&d, 0, 1), b_bits(&d, 0, 2), b_align(&d);
    b_le(&d, 0, 2), b_le(&d, 0xffff, 2);
    b_bits(&d, 1, 1), b_bits(&d, 0, 2), b_align(&d);
    b_le(&d, 400, 2), b_le(&d, 400 ^ 0xffff, 2), b_put(&d, raw + 600, 400);
    gz_member(&g, &d, raw, 1000);
    expect_ok(g.p, g.n, raw, 1000, "stored blocks");
    /* the stored data carry no structure: every flipped data bit must be
       caught by the CRC */
    for (i = 0; i < 8 * 1000; i += 13) {
        size_t at = 10 + 5 + (size_t)(i / 8) + (i / 8 >= 600 ? 10 : 0);
        g.p[at] ^= (unsigned char)(1u << (i % 8));
        expect_err(g.p, g.n, "CRC", "flipped bit in stored data");
        g.p[at] ^= (unsigned char)(1u << (i % 8));
    }
    g.p[g.n - 6] ^= 1;
    expect_err(g.p, g.n, "CRC", "flipped bit in the CRC");
    g.p[g.n - 6] ^= 1;
    g.p[g.n - 2] ^= 1;
    expect_err(g.p, g.n, "length", "flipped bit in ISIZE");
    g.p[g.n - 2] ^= 1;
    d.p[3] ^= 1; /* NLEN of the first block */
    g.n = 0, gz_member(&g, &d, raw, 1000);
    expect_err(g.p, g.n, "complement", "stored length check");
    d.n = 0, g.n = 0;

    /* fixed codes: a run with distance 1 (overlapping copy), a short match */
    {
        unsigned char want[300];
        b_bits(&d, 1, 1), b_bits(&d, 1, 2);
        fx_sym(&d, 'a'), fx_match(&d, 258, 1), fx_sym(&d, 'b'), fx_sym(&d, 'c');
        fx_match(&d, 3, 2), fx_sym(&d, 256), b_align(&d);
        memset(want, 'a', 259);
        memcpy(want + 259, "bcbcb", 5);
        gz_member(&g, &d, want, 264);
        expect_ok(g.p, g.n, want, 264, "fixed codes");
        d.n = 0, g.n = 0;
    }

    /* a match may reach back into an earlier (stored) block */
    b_bits(&d, 0, 1), b_bits(&d, 0, 2), b_align(&d);
    b_le(&d, 3, 2), b_le(&d, 3 ^ 0xffff, 2), b_put(&d, "xyz", 3);
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_match(&d, 6, 3), fx_sym(&d, 256), b_align(&d);
    gz_member(&g, &d, "xyzxyzxyz", 9);
    expect_ok(g.p, g.n, "xyzxyzxyz", 9, "match into a stored block");
    /* ...but not into the previous gzip member */
    d.n = 0;
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_match(&d, 3, 3), fx_sym(&d, 256), b_align(&d);
    gz_member(&g, &d, "xyz", 3);
    expect_err(g.p, g.n, "too far", "distance into the previous member");
    d.n = 0, g.n = 0;

    dyn_literals(&d, "dynamic!", 8), b_align(&d);
    gz_member(&g, &d, "dynamic!", 8);
    expect_ok(g.p, g.n, "dynamic!", 8, "dynamic block");
    d.n = 0, g.n = 0;

    /* a gzip header with every optional field, checked by FHCRC */
    {
        static const unsigned char extra[6] = {'A', 'B', 2, 0, 'x', 'y'};
        size_t crc_at;
        b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 'h'), fx_sym(&d, 'i'), fx_sym(&d, 256);
        b_align(&d);
        b_byte(&g, 0x1f), b_byte(&g, 0x8b), b_byte(&g, 8), b_byte(&g, 2 | 4 | 8 | 16);
        b_le(&g, 123456789, 4), b_byte(&g, 2), b_byte(&g, 3);
        b_le(&g, 6, 2), b_put(&g, extra, 6);
        b_put(&g, "file.idx", 9), b_put(&g, "a comment", 10);
        crc_at = g.n;
        b_le(&g, vae_crc32(0, g.p, g.n) & 0xffff, 2);
        b_put(&g, d.p, d.n), b_le(&g, vae_crc32(0, "hi", 2), 4), b_le(&g, 2, 4);
        expect_ok(g.p, g.n, "hi", 2, "all header fields");
        for (mark = 0; mark < g.n; mark++)
            expect_err(g.p, mark, NULL, "header fields, truncated");
        g.p[crc_at] ^= 0x40;
        expect_err(g.p, g.n, "header CRC", "wrong FHCRC");
        g.p[crc_at] ^= 0x40;
        g.p[3] |= 0x20;
        expect_err(g.p, g.n, "reserved", "reserved flag");
        g.p[3] &= 0x1f;
        g.p[2] = 7;
        expect_err(g.p, g.n, "method", "compression method 7");
        g.p[2] = 8;
        g.p[1] = 0x8c;
        expect_err(g.p, g.n, "magic", "bad magic");
        g.p[1] = 0x8b;
        g.p[3] = 8; /* FNAME only: the name ends inside the extra field, and the
                       rest of the extra field is read as a stored block */
        expect_err(g.p, g.n, NULL, "flags that do not match the fields");
        g.p[3] = 2 | 4 | 8 | 16;

        /* after the last member: anything but another member is an error */
        mark = g.n;
        b_le(&g, 0, 4);
        expect_err(g.p, g.n, "trailing", "zero padding after the stream");
        g.n = mark;
        b_byte(&g, 'x');
        expect_err(g.p, g.n, "trailing", "one stray byte");
        g.p[g.n - 1] = 0x1f;
        expect_err(g.p, g.n, "truncated", "a second member cut in its magic");
        b_byte(&g, 0x8b);
        expect_err(g.p, g.n, "truncated", "a second member cut after its magic");
        g.n = mark;
        d.n = 0, g.n = 0;
    }

    /* broken deflate streams, each wrapped in a gzip member */
#define BROKEN(needle, what)                                                   \
    do {                                                                       \
        b_align(&d), b_le(&d, 0, 4);                                           \
        gz_member(&g, &d, "", 0);                                              \
        expect_err(g.p, g.n, needle, what);                                    \
        d.n = 0, g.n = 0;                                                      \
    } while (0)

    b_bits(&d, 1, 1), b_bits(&d, 3, 2);
    BROKEN("block type", "block type 3");
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_match(&d, 3, 1);
    BROKEN("too far", "distance before the start");
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 'a'), fx_sym(&d, 'b'), fx_match(&d, 4, 3);
    BROKEN("too far", "distance one past the start");
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 286);
    BROKEN("length code", "literal/length symbol 286");
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 287);
    BROKEN("length code", "literal/length symbol 287");
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 'a'), fx_sym(&d, 257), b_huff(&d, 30, 5);
    BROKEN("distance code", "distance symbol 30");
    b_bits(&d, 1, 1), b_bits(&d, 2, 2), b_bits(&d, 30, 5), b_bits(&d, 0, 5), b_bits(&d, 15, 4);
    BROKEN("too many", "287 literal/length codes");
    b_bits(&d, 1, 1), b_bits(&d, 2, 2), b_bits(&d, 0, 5), b_bits(&d, 30, 5), b_bits(&d, 15, 4);
    BROKEN("too many", "31 distance codes");

    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[1] = 1, cl[2] = 1;
    dyn_header(&d, 1, 257, 1, cl, seq, 0);
    BROKEN("code-length", "over-subscribed code-length code");
    memset(cl, 0, sizeof cl);
    cl[9] = 1;
    dyn_header(&d, 1, 257, 1, cl, seq, 0);
    BROKEN("code-length", "incomplete code-length code");
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[16] = 1;
    seq[0] = 16;
    dyn_header(&d, 1, 257, 1, cl, seq, 1);
    BROKEN("no previous", "repeat with nothing to repeat");
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[18] = 1;
    seq[0] = 18 | 127 << 8, seq[1] = 18 | 127 << 8;
    dyn_header(&d, 1, 257, 1, cl, seq, 2);
    BROKEN("past the end", "zeros past the end of the lengths");

    /* code lengths for the literal/length and distance codes */
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[0] = 2, cl[1] = 2;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 9;
    seq[ns++] = 0, seq[ns++] = 1;
    dyn_header(&d, 1, 257, 1, cl, seq, ns);
    BROKEN("end-of-block", "no end-of-block code");
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[1] = 1;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 9;
    seq[ns++] = 1, seq[ns++] = 1, seq[ns++] = 1;
    dyn_header(&d, 1, 258, 1, cl, seq, ns);
    BROKEN("literal/length code lengths", "over-subscribed literal/length code");
    for (ns = 0; ns < 257; ns++)
        seq[ns] = 9;
    seq[ns++] = 1;
    dyn_header(&d, 1, 257, 1, cl, seq, ns);
    BROKEN("literal/length code lengths", "incomplete literal/length code");
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[1] = 2, cl[2] = 2;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 9;
    seq[ns++] = 1, seq[ns++] = 2, seq[ns++] = 2;
    dyn_header(&d, 1, 257, 2, cl, seq, ns);
    BROKEN("distance code lengths", "incomplete distance code with two codes");

    /* Only end-of-block, with a 1-bit code, is allowed (an incomplete code
       with one symbol); the other 1-bit code is then unused. */
    memset(cl, 0, sizeof cl);
    cl[0] = 1, cl[1] = 1;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 0;
    seq[ns++] = 1, seq[ns++] = 0;
    dyn_header(&d, 1, 257, 1, cl, seq, ns);
    b_bits(&d, 0, 1), b_align(&d);
    gz_member(&g, &d, "", 0);
    expect_ok(g.p, g.n, "", 0, "a block with only end-of-block");
    d.n = 0, g.n = 0;
    dyn_header(&d, 1, 257, 1, cl, seq, ns);
    b_bits(&d, 1, 1);
    BROKEN("invalid Huffman code", "an unused code");
    /* No distance codes at all (allowed): then a match cannot be decoded.
       Literals of 9 bits, end-of-block and length 3 of 2 bits. */
    memset(cl, 0, sizeof cl);
    cl[9] = 1, cl[2] = 2, cl[0] = 2;
    for (ns = 0; ns < 256; ns++)
        seq[ns] = 9;
    seq[ns++] = 2, seq[ns++] = 2, seq[ns++] = 0;
    for (i = 0; i < 256; i++)
        ll[i] = 9;
    ll[256] = 2, ll[257] = 2;
    canon(ll, 258, lcode);
    dyn_header(&d, 1, 258, 1, cl, seq, ns);
    b_huff(&d, lcode['a'], 9), b_huff(&d, lcode[256], 2);
    b_align(&d);
    gz_member(&g, &d, "a", 1);
    expect_ok(g.p, g.n, "a", 1, "a block without distance codes");
    d.n = 0, g.n = 0;
    dyn_header(&d, 1, 258, 1, cl, seq, ns);
    b_huff(&d, lcode['a'], 9), b_huff(&d, lcode[257], 2);
    BROKEN("invalid Huffman code", "a match with no distance codes");
#undef BROKEN

    /* the truncation of a valid multi-block stream anywhere is an error */
    b_bits(&d, 0, 1), b_bits(&d, 0, 2), b_align(&d);
    b_le(&d, 5, 2), b_le(&d, 5 ^ 0xffff, 2), b_put(&d, "hello", 5);
    b_bits(&d, 0, 1), b_bits(&d, 1, 2), fx_match(&d, 10, 5), fx_sym(&d, 256);
    dyn_literals(&d, "world", 5), b_align(&d);
    gz_member(&g, &d, "hellohellohelloworld", 20);
    expect_ok(g.p, g.n, "hellohellohelloworld", 20, "three block types");
    for (mark = 0; mark < g.n; mark++)
        expect_err(g.p, mark, NULL, "three block types, truncated");
    /* and every single flipped bit either is harmless or is caught */
    for (i = 0; i < (int)(8 * g.n); i++) {
        g.p[i / 8] ^= (unsigned char)(1u << (i % 8));
        out = NULL;
        if (vae_gunzip(g.p, g.n, MN_MAX_FILE, &out, &out_len, err, sizeof err) == VAE_OK) {
            CHECK(out_len == 20 && memcmp(out, "hellohellohelloworld", 20) == 0,
                  "bit %d flipped: wrong data accepted", i);
            free(out);
        } else {
            CHECK(err[0] && !out, "bit %d flipped: no message", i);
        }
        g.p[i / 8] ^= (unsigned char)(1u << (i % 8));
    }

    /* arguments */
    out = NULL;
    CHECK(vae_gunzip(g.p, g.n, 100, NULL, &out_len, err, sizeof err) == VAE_ERR_ARG && err[0],
          "NULL out");
    CHECK(vae_gunzip(g.p, g.n, 100, &out, &out_len, NULL, 0) == VAE_OK && out_len == 20,
          "NULL err");
    free(out);
    CHECK(vae_gunzip(g.p, g.n, 19, &out, &out_len, NULL, 0) == VAE_ERR_FORMAT && !out,
          "limit below the output, NULL err");
    CHECK(vae_gunzip(NULL, 0, 100, &out, &out_len, err, sizeof err) == VAE_ERR_FORMAT && err[0],
          "empty input: %s", err);
    /* the fixed tables are built once and kept until a dynamic block
       replaces them: fixed, fixed and dynamic blocks in one member, then a
       fixed one in the next member must still decode */
    d.n = 0, g.n = 0;
    b_bits(&d, 0, 1), b_bits(&d, 1, 2), fx_sym(&d, 'a'), fx_sym(&d, 256);
    b_bits(&d, 0, 1), b_bits(&d, 1, 2), fx_sym(&d, 'b'), fx_sym(&d, 256);
    dyn_literals(&d, "cd", 2), b_align(&d);
    gz_member(&g, &d, "abcd", 4);
    d.n = 0;
    b_bits(&d, 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 'e'), fx_match(&d, 3, 1), fx_sym(&d, 256);
    b_align(&d);
    gz_member(&g, &d, "eeee", 4);
    expect_ok(g.p, g.n, "abcdeeee", 8, "fixed, dynamic, then fixed blocks again");
    /* a megabyte of empty fixed blocks (10 bits each) took 1.5 s when each
       block rebuilt the tables; now it takes 4 ms (16 ms in the sanitizer
       build), so a quarter of a second of CPU time is a generous bound */
    {
        clock_t t0;
        double s;
        d.n = 0, g.n = 0;
        for (i = 0; i < 800000; i++)
            b_bits(&d, i == 800000 - 1, 1), b_bits(&d, 1, 2), fx_sym(&d, 256);
        b_align(&d);
        gz_member(&g, &d, "", 0);
        t0 = clock();
        expect_ok(g.p, g.n, "", 0, "800000 empty fixed blocks");
        s = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECK(s < 0.25, "800000 empty fixed blocks took %.2f s", s);
    }
    b_free(&d);
    b_free(&g);
}

// ---- damaged copies of the shipped files ----

static void test_damaged(void)
{
    unsigned char *lab, *img, *gz_ok, *out;
    size_t ln, in, cut, n_ok, out_len;
    char err[256];
    int i, harmless = 0, caught = 0;
    vae_dataset ds;
    vae_status st;

    lab = read_all(LABELS_GZ, &ln);
    img = read_all(IMAGES_GZ, &in);
    if (!lab || !img)
        goto free_files;
    if (vae_gunzip(lab, ln, MN_MAX_FILE, &gz_ok, &n_ok, err, sizeof err) != VAE_OK) {
        CHECK(0, "labels: %s", err);
        goto free_files;
    }

    /* cuts of the labels file: every one in the header, the first deflate
       bytes and the trailer, every 5th elsewhere */
    for (cut = 0; cut < ln; cut += (cut < 64 || cut >= ln - 16) ? 1 : 5) {
        out = NULL;
        st = vae_gunzip(lab, cut, MN_MAX_FILE, &out, &out_len, err, sizeof err);
        CHECK(st == VAE_ERR_FORMAT && err[0] && !out, "labels cut at %lu: status %d",
              (unsigned long)cut, (int)st);
        if (st == VAE_OK)
            free(out);
    }
    /* some cuts of the images file, across the header, data and trailer */
    {
        static const size_t at[] = {1, 2, 3, 9, 10, 20, 40, 41, 1000, 100000};
        for (i = 0; i < (int)(sizeof at / sizeof at[0]); i++)
            expect_err(img, at[i], "truncated", "images cut near the start");
        expect_err(img, in - 1, "truncated", "images cut in the trailer");
        expect_err(img, in - 8, "truncated", "images without their trailer");
        expect_err(img, in / 2, "truncated", "images cut in half");
    }

    /* Flipped bits in the labels file: every bit of the header, the first
       deflate bytes and the trailer, and every 29th bit of the rest. A flip must
       either be harmless (same data) or be reported. */
    for (i = 0; i < (int)(8 * ln); i += (i < 8 * 64 || i >= (int)(8 * (ln - 16))) ? 1 : 29) {
        lab[i / 8] ^= (unsigned char)(1u << (i % 8));
        out = NULL;
        st = vae_gunzip(lab, ln, MN_MAX_FILE, &out, &out_len, err, sizeof err);
        if (st == VAE_OK) {
            harmless++;
            CHECK(out_len == n_ok && memcmp(out, gz_ok, n_ok) == 0,
                  "labels, bit %d flipped: wrong data accepted", i);
            free(out);
        } else {
            caught++;
            CHECK(st == VAE_ERR_FORMAT && err[0] && !out, "labels, bit %d flipped: status %d", i,
                  (int)st);
        }
        lab[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    CHECK(caught > 500 && harmless > 10, "flips: %d caught, %d harmless", caught, harmless);

    /* through the dataset loader: the message names the file */
    write_file(tmp("cut-labels.gz"), lab, ln - 3);
    st = vae_dataset_load(&ds, IMAGES_GZ, tmp("cut-labels.gz"));
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, tmp("cut-labels.gz"), "truncated", "cut labels file");
    lab[ln / 2] ^= 0x10;
    write_file(tmp("flipped-labels.gz"), lab, ln);
    lab[ln / 2] ^= 0x10;
    st = vae_dataset_load(&ds, IMAGES_GZ, tmp("flipped-labels.gz"));
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, tmp("flipped-labels.gz"), NULL, "flipped labels file");
    write_file(tmp("cut-images.gz"), img, 5000);
    st = vae_dataset_load(&ds, tmp("cut-images.gz"), LABELS_GZ);
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, tmp("cut-images.gz"), "truncated", "cut images file");
    free(gz_ok);
free_files:
    free(lab);
    free(img);
}

// ---- IDX headers ----

static void test_idx(void)
{
    tbuf b = {0}, l = {0};
    vae_dataset ds;
    vae_status st;
    size_t cut, full;
    char img[600], lab[600];
    uint32_t dims[4] = {0};

    snprintf(img, sizeof img, "%s", tmp("img.idx"));
    snprintf(lab, sizeof lab, "%s", tmp("lab.idx"));

    /* a good pair: 3 images of 2x5 and their labels */
    dims[0] = 3, dims[1] = 2, dims[2] = 5;
    idx_build(&b, 0x803, 3, dims, 30);
    dims[0] = 3;
    idx_build(&l, 0x801, 1, dims, 3);
    write_file(img, b.p, b.n);
    write_file(lab, l.p, l.n);
    st = vae_dataset_load(&ds, img, lab);
    CHECK(st == VAE_OK && ds.error[0] == '\0', "small IDX pair: %s", ds.error);
    if (st == VAE_OK) {
        CHECK(ds.n == 3 && ds.rows == 2 && ds.cols == 5 && ds.dim == 10, "shape");
        CHECK(ds.pixels[0] == 1 && ds.pixels[29] == (unsigned char)(29 * 7 + 1) &&
                  ds.labels[2] == 15,
              "values");
        vae_dataset_free(&ds);
    }
    st = vae_dataset_load(&ds, img, NULL);
    CHECK(st == VAE_OK && ds.labels == NULL && ds.n == 3, "images without labels: %s", ds.error);
    vae_dataset_free(&ds);

    /* every cut, header and payload, and one byte too many */
    full = b.n;
    for (cut = 0; cut < full; cut++) {
        write_file(img, b.p, cut);
        st = vae_dataset_load(&ds, img, lab);
        expect_ds_err(&ds, st, VAE_ERR_FORMAT, img, NULL, "cut IDX file");
    }
    b_byte(&b, 0);
    write_file(img, b.p, b.n);
    st = vae_dataset_load(&ds, img, lab);
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, img, "too long", "IDX file one byte too long");
    write_file(img, b.p, full - 1);
    st = vae_dataset_load(&ds, img, lab);
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, img, "header says 3 images of 2x5", "short payload");
    /* the same check on decompressed data */
    if (have_gzip) {
        sh("gzip -c '%s' > '%s'", img, tmp("img.idx.gz"));
        st = vae_dataset_load(&ds, tmp("img.idx.gz"), NULL);
        expect_ds_err(&ds, st, VAE_ERR_FORMAT, tmp("img.idx.gz"), "truncated", "short, gzip");
    }

#define HOSTILE(magic, ndim, n0, n1, n2, payload, needle, what)                \
    do {                                                                       \
        dims[0] = (n0), dims[1] = (n1), dims[2] = (n2);                        \
        idx_build(&b, (magic), (ndim), dims, (payload));                       \
        write_file(img, b.p, b.n);                                             \
        st = vae_dataset_load(&ds, img, NULL);                                 \
        expect_ds_err(&ds, st, VAE_ERR_FORMAT, img, needle, what);            \
    } while (0)

    HOSTILE(0x801, 3, 3, 2, 5, 30, "magic", "label magic in an image file");
    HOSTILE(0x802, 2, 3, 10, 0, 30, "magic", "two dimensions");
    HOSTILE(0x804, 4, 3, 2, 5, 34, "magic", "four dimensions");
    HOSTILE(0x903, 3, 3, 2, 5, 30, "magic", "signed bytes");
    HOSTILE(0x0d03, 3, 3, 2, 5, 30, "magic", "floats");
    HOSTILE(0x1000803, 3, 3, 2, 5, 30, "magic", "junk in the magic");
    HOSTILE(0x803, 3, 0xffffffffu, 2, 5, 30, "dimension 1", "n = 0xffffffff");
    HOSTILE(0x803, 3, 3, 0xffffffffu, 5, 30, "dimension 2", "rows = 0xffffffff");
    HOSTILE(0x803, 3, 3, 2, 0x80000000u, 30, "dimension 3", "cols = 2^31");
    HOSTILE(0x803, 3, 0, 2, 5, 0, "dimension 1", "no images");
    HOSTILE(0x803, 3, 3, 0, 5, 0, "dimension 2", "no rows");
    HOSTILE(0x803, 3, 3, 0x10000, 0x10000, 30, "larger than", "rows * cols = 2^32");
    HOSTILE(0x803, 3, 3, 0x1000, 0x1001, 30, "larger than", "rows * cols just over 2^24");
    HOSTILE(0x803, 3, 0x7fffffff, 28, 28, 100, "holds 100 bytes", "n * dim far past the data");
    HOSTILE(0x803, 3, 0x7fffffff, 0x1000, 0x1000, 100, "holds 100 bytes", "n * dim > 2^32");
#undef HOSTILE

    /* label files */
    dims[0] = 3, dims[1] = 2, dims[2] = 5;
    idx_build(&b, 0x803, 3, dims, 30);
    write_file(img, b.p, b.n);
#define BAD_LABELS(magic, ndim, n0, payload, needle, what)                     \
    do {                                                                       \
        dims[0] = (n0), dims[1] = 1;                                           \
        idx_build(&l, (magic), (ndim), dims, (payload));                       \
        write_file(lab, l.p, l.n);                                             \
        st = vae_dataset_load(&ds, img, lab);                                  \
        expect_ds_err(&ds, st, VAE_ERR_FORMAT, lab, needle, what);            \
    } while (0)
    BAD_LABELS(0x801, 1, 4, 4, "4 labels, but", "one label too many");
    BAD_LABELS(0x801, 1, 2, 2, "2 labels, but", "one label too few");
    BAD_LABELS(0x803, 3, 3, 30, "magic", "an image file as labels");
    BAD_LABELS(0x802, 2, 3, 3, "magic", "labels with two dimensions");
    BAD_LABELS(0x801, 1, 0xffffffffu, 3, "dimension 1", "labels n = 0xffffffff");
    BAD_LABELS(0x801, 1, 3, 2, "header says 3 labels", "labels cut short");
    BAD_LABELS(0x801, 1, 3, 4, "too long", "labels one byte too long");
#undef BAD_LABELS

    /* files that are not there, or not files */
    st = vae_dataset_load(&ds, tmp("no-such-file"), NULL);
    expect_ds_err(&ds, st, VAE_ERR_IO, tmp("no-such-file"), NULL, "missing images");
    st = vae_dataset_load(&ds, img, tmp("no-such-labels"));
    expect_ds_err(&ds, st, VAE_ERR_IO, tmp("no-such-labels"), NULL, "missing labels");
    st = vae_dataset_load(&ds, tmpdir, NULL);
    CHECK(st != VAE_OK && ds.error[0] && !ds.pixels, "a directory as images: %s", ds.error);
    write_file(img, "", 0);
    st = vae_dataset_load(&ds, img, NULL);
    expect_ds_err(&ds, st, VAE_ERR_FORMAT, img, "truncated", "empty file");
    b_free(&b);
    b_free(&l);
}

// ---- directories ----

static void test_load_dir(void)
{
    tbuf b = {0};
    uint32_t dims[3] = {5, 3, 4};
    vae_dataset train, test;
    vae_status st;
    char dir[600];

    snprintf(dir, sizeof dir, "%s/d1", tmpdir);
    test_mkdir(dir);
    st = vae_dataset_load_dir(&train, &test, dir);
    expect_ds_err(&train, st, VAE_ERR_IO, "train-images-idx3-ubyte", NULL, "empty directory");
    CHECK(test.n == 0 && !test.pixels, "empty directory: test set");

    idx_build(&b, 0x803, 3, dims, 60);
    write_file(tmp("d1/train-images-idx3-ubyte"), b.p, b.n);
    st = vae_dataset_load_dir(&train, &test, dir);
    CHECK(st == VAE_OK && train.n == 5 && train.labels == NULL && test.n == 0 && !test.pixels &&
              train.error[0] == '\0' && test.error[0] == '\0',
          "train images only: %s", train.error);
    vae_dataset_free(&train);

    if (have_gzip) {
        idx_build(&b, 0x801, 1, dims, 5);
        write_file(tmp("d1/lab"), b.p, b.n);
        sh("gzip -c '%s' > '%s'", tmp("d1/lab"), tmp("d1/train-labels-idx1-ubyte.gz"));
        sh("cp '%s' '%s'", IMAGES_GZ, tmp("d1/t10k-images-idx3-ubyte.gz"));
        /* a trailing slash works too */
        snprintf(dir, sizeof dir, "%s/d1/", tmpdir);
        st = vae_dataset_load_dir(&train, &test, dir);
        CHECK(st == VAE_OK && train.n == 5 && train.labels && train.labels[4] == 29 &&
                  test.n == 10000 && test.labels == NULL,
              "train with labels, test without: %s", train.error);
        vae_dataset_free(&train);
        vae_dataset_free(&test);

        /* a broken test file fails the whole call, reported in train */
        sh("cp '%s' '%s'", LABELS_GZ, tmp("d1/t10k-labels-idx1-ubyte.gz"));
        sh("head -c 1000 '%s' > '%s'", IMAGES_GZ, tmp("d1/t10k-images-idx3-ubyte.gz"));
        st = vae_dataset_load_dir(&train, &test, dir);
        expect_ds_err(&train, st, VAE_ERR_FORMAT, "t10k-images-idx3-ubyte.gz", "truncated",
                      "broken test images");
        CHECK(test.n == 0 && !test.pixels && !test.labels, "broken test images: test set");
    }
    st = vae_dataset_load_dir(&train, &test, tmp("no-such-dir"));
    expect_ds_err(&train, st, VAE_ERR_IO, "no-such-dir", NULL, "missing directory");
    b_free(&b);
}

// ---- holdout and batches ----

static void test_holdout_batch(void)
{
    vae_dataset train, test, other;
    int i, j, n = 10, dim = 256, idx[3] = {2, 0, 2};
    float *out, *out2, ref;
    vae_rng r;
    double mean[256] = {0}, dmean = 0, gmean = 0;
    const int draws = 3000;
    int worst = 0, ok = 1;

    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    train.n = n, train.rows = 16, train.cols = 16, train.dim = dim;
    train.pixels = (unsigned char *)malloc((size_t)n * dim);
    train.labels = (unsigned char *)malloc((size_t)n);
    for (i = 0; i < n; i++) {
        train.labels[i] = (unsigned char)(i % 10);
        for (j = 0; j < dim; j++)
            train.pixels[i * dim + j] = (unsigned char)(i == 0 ? j : (i * 37 + j * 11) % 256);
    }

    /* batches */
    out = (float *)malloc(sizeof(float) * 3 * (size_t)dim);
    out2 = (float *)malloc(sizeof(float) * 3 * (size_t)dim);
    vae_dataset_batch(&train, idx, 3, VAE_GRAY, NULL, out);
    for (i = 0; i < 3; i++)
        for (j = 0; j < dim; j++)
            /* the cast rounds away any excess precision (s390x evaluates
               float expressions in double: FLT_EVAL_METHOD 1) */
            ok &= out[i * dim + j] == (float)(train.pixels[idx[i] * dim + j] / 255.0f);
    CHECK(ok, "gray values");
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_STATIC, NULL, out);
    CHECK(out[dim + 0] == 0.0f && out[dim + 127] == 0.0f && out[dim + 128] == 1.0f &&
              out[dim + 255] == 1.0f,
          "static threshold: pixel 127 -> %g, 128 -> %g", out[dim + 127], out[dim + 128]);
    for (i = 0, ok = 1; i < 3 * dim; i++)
        ok &= out[i] == (train.pixels[idx[i / dim] * dim + i % dim] >= 128 ? 1.0f : 0.0f);
    CHECK(ok, "static values");
    memcpy(out2, out, sizeof(float) * 3 * (size_t)dim);
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_STATIC, NULL, out);
    CHECK(memcmp(out, out2, sizeof(float) * 3 * (size_t)dim) == 0, "static is static");
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_DYNAMIC, NULL, out);
    CHECK(memcmp(out, out2, sizeof(float) * 3 * (size_t)dim) == 0,
          "dynamic without a generator falls back to static");

    /* dynamic: Bernoulli(pixel / 255), mean over many draws near the gray value */
    vae_rng_seed(&r, 3);
    ok = 1;
    for (i = 0; i < draws; i++) {
        vae_dataset_batch(&train, idx + 1, 1, VAE_BINARY_DYNAMIC, &r, out);
        for (j = 0; j < dim; j++) {
            ok &= out[j] == 0.0f || out[j] == 1.0f;
            mean[j] += out[j];
        }
    }
    CHECK(ok, "dynamic values are 0 or 1");
    for (j = 0; j < dim; j++) {
        double m = mean[j] / draws, p = j / 255.0;
        /* 5 standard deviations of a mean of 3000 Bernoulli draws */
        if (fabs(m - p) > 5 * sqrt(p * (1 - p) / draws) + 1e-12)
            worst++;
        dmean += m / dim;
        gmean += p / dim;
    }
    CHECK(worst == 0, "%d pixels whose dynamic mean is off", worst);
    CHECK(mean[0] == 0 && mean[255] == draws, "pixel 0 always 0, pixel 255 always 1");
    CHECK_NEAR(dmean, gmean, 2e-3, "mean of dynamic binarisation vs gray");
    vae_rng_seed(&r, 11);
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_DYNAMIC, &r, out);
    vae_rng_seed(&r, 11);
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_DYNAMIC, &r, out2);
    CHECK(memcmp(out, out2, sizeof(float) * 3 * (size_t)dim) == 0, "same seed, same batch");
    vae_dataset_batch(&train, idx, 3, VAE_BINARY_DYNAMIC, &r, out2);
    CHECK(memcmp(out, out2, sizeof(float) * 3 * (size_t)dim) != 0, "the next batch differs");
    ref = out[0];
    vae_dataset_batch(&train, idx, 0, VAE_GRAY, NULL, out);
    CHECK(out[0] == ref, "an empty batch writes nothing");

    /* holdout */
    CHECK(vae_dataset_holdout(&train, &test, 0) == VAE_ERR_ARG && train.error[0], "n = 0");
    CHECK(vae_dataset_holdout(&train, &test, n) == VAE_ERR_ARG, "n = all");
    CHECK(vae_dataset_holdout(&train, &test, -1) == VAE_ERR_ARG, "n < 0");
    CHECK(train.n == n && test.n == 0 && !test.pixels, "failed holdouts change nothing");
    CHECK(vae_dataset_holdout(&train, &test, 3) == VAE_OK && train.error[0] == '\0', "%s",
          train.error);
    CHECK(train.n == 7 && test.n == 3 && test.dim == dim && test.rows == 16 && test.cols == 16,
          "sizes after holdout: %d + %d", train.n, test.n);
    for (i = 0, ok = 1; i < 3; i++) {
        ok &= test.labels[i] == (unsigned char)((7 + i) % 10);
        for (j = 0; j < dim; j++)
            ok &= test.pixels[i * dim + j] == (unsigned char)(((7 + i) * 37 + j * 11) % 256);
    }
    CHECK(ok, "held-out images and labels are the last ones");
    for (i = 1, ok = 1; i < 7; i++)
        for (j = 0; j < dim; j++)
            ok &= train.pixels[i * dim + j] == (unsigned char)((i * 37 + j * 11) % 256);
    CHECK(ok && train.pixels[255] == 255 && train.labels[6] == 6, "the rest stays in place");
    memset(&other, 0, sizeof other);
    CHECK(vae_dataset_holdout(&train, &test, 2) == VAE_ERR_ARG && strstr(train.error, "not empty"),
          "holdout into a non-empty set");
    CHECK(vae_dataset_holdout(&train, &other, 6) == VAE_OK && train.n == 1 && other.n == 6 &&
              other.labels[0] == 1,
          "second holdout");
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    vae_dataset_free(&other);
    CHECK(train.pixels == NULL && train.n == 0 && train.error[0] == '\0', "free clears");
    vae_dataset_free(&train); /* twice is fine */
    vae_dataset_free(NULL);
    free(out);
    free(out2);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vae_test_data.XXXXXX", base && *base ? base : "/tmp");
    if (!test_mkdtemp(tmpdir)) {
        printf("FAIL cannot create a temporary directory %s\n", tmpdir);
        return 1;
    }
    have_gzip = system("gzip --version > /dev/null 2>&1") == 0;

    test_shipped();
    test_roundtrip();
    test_handmade();
    test_damaged();
    test_idx();
    test_load_dir();
    test_holdout_batch();

    sh("rm -rf '%s'", tmpdir);
    return check_summary();
}
