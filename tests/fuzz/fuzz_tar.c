/* fuzz_tar.c — libFuzzer harness for the tar reader (mn_tar_next) and the
   CIFAR-10 archive reader on it (mn_parse_cifar_archive), behind
   vae_dataset_load_cifar. Built and run by `make fuzz` and `make fuzz-ci`;
   seeds in corpus/tar/ (written by tar_seeds.sh).

   Each input is read as it is (gzip or tar) and, unless it is gzip, once
   more with the checksum of every 512-byte block recomputed, so that
   mutations reach the fields behind the checksum. Beyond "no crash, no
   leak, no sanitizer report", each reading checks what the readers promise:
   - the walk: every member's data lie inside the archive, right after its
     header; the walk moves forward and ends; a name is terminated and has
     no control bytes, no ".." component and no leading '/' (checked here
     independently of the reader); an error has a message;
   - each member's data through mn_cifar_count, against a count made here;
   - the whole archive: it loads only if the walk ended cleanly, and then
     with 32x32x3 images, labels 0..9 and a first test image equal to the
     test_batch.bin member's first record turned channels last here; a
     failure leaves both datasets empty, with one line starting "fuzz: ". */
#include "../../vae.c"
#include "../../mnist.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gzip inputs that inflate to more are skipped: inflating is fuzz_gzip's
   work, and megabytes of output would only slow each run down. */
#define FUZZ_MAX_PLAIN ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a walk found: whether it ended without an error, and the records of
   the last regular member named test_batch.bin. */
typedef struct {
    int clean;
    const unsigned char *test_batch;
    size_t test_len;
} walk_result;

/* Whether name could leave the directory it is extracted into: written
   here without the reader's code. */
static int unsafe(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '/' || strcmp(name, "..") == 0 || strncmp(name, "../", 3) == 0 ||
           strstr(name, "/../") != NULL || (n >= 3 && strcmp(name + n - 3, "/..") == 0);
}

/* mn_cifar_count on rec[0..len), against the rule: a positive whole number
   of 3,073-byte records, every label byte 0..9. */
static void check_count(const unsigned char *rec, size_t len)
{
    char err[512];
    long got;
    size_t i;
    int ok = len > 0 && len % 3073 == 0;

    for (i = 0; ok && i < len; i += 3073)
        ok = rec[i] <= 9;
    err[0] = '\0';
    got = mn_cifar_count(rec, len, "w", err, sizeof err);
    if (ok ? got != (long)(len / 3073) : got != -1 || strncmp(err, "w: ", 3) != 0)
        abort();
}

static walk_result walk(const unsigned char *buf, size_t len)
{
    walk_result w = {0, NULL, 0};
    mn_tar t;
    mn_tar_member m;
    char err[512];
    size_t last = 0;
    int r;

    t.buf = buf;
    t.len = len;
    t.pos = 0;
    memset(err, 'x', sizeof err);
    while ((r = mn_tar_next(&t, &m, err, sizeof err)) == 1) {
        const unsigned char *end = buf + len;
        size_t i, n = strlen(m.name);
        if (m.data != buf + m.offset + 512 || m.data > end || m.size > (size_t)(end - m.data) ||
            t.pos <= last || t.pos > len || n >= MN_TAR_NAME || unsafe(m.name))
            abort();
        for (i = 0; i < n; i++)
            if ((unsigned char)m.name[i] < 32 || m.name[i] == 127)
                abort();
        last = t.pos;
        if (m.size) {
            volatile unsigned char sink = m.data[0];
            sink = m.data[m.size - 1];
            (void)sink;
        }
        check_count(m.data, m.size);
        if (mn_cifar_batch(m.name) == MN_CIFAR_BATCHES - 1 && (m.type == '0' || m.type == '7' || m.type == 0)) {
            w.test_batch = m.data;
            w.test_len = m.size;
        }
    }
    if (r == -1 && (err[0] == '\0' || !memchr(err, '\0', sizeof err)))
        abort();
    if (r != 0 && r != -1)
        abort();
    w.clean = r == 0;
    return w;
}

/* mn_parse_cifar_archive on a copy of in[0..len); w is the walk of the
   (decompressed) archive, or NULL when it does not inflate. */
static void parse(const unsigned char *in, size_t len, const walk_result *w)
{
    unsigned char *copy = (unsigned char *)malloc(len ? len : 1);
    vae_dataset train, test;
    vae_status st;
    int i, y, x, c;

    if (!copy)
        abort();
    if (len)
        memcpy(copy, in, len);
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    st = mn_parse_cifar_archive(copy, len, &train, &test, "fuzz", train.error, sizeof train.error);
    if (st != VAE_OK) {
        if (train.n || train.pixels || train.labels || test.n || test.pixels || test.labels ||
            strncmp(train.error, "fuzz: ", 6) != 0 || strchr(train.error, '\n'))
            abort();
        return;
    }
    if (!w || !w->clean || !w->test_batch || train.n < 5 || test.n < 1 ||
        (size_t)test.n != w->test_len / 3073)
        abort();
    for (i = 0; i < 2; i++) {
        const vae_dataset *ds = i ? &test : &train;
        int k;
        if (ds->rows != 32 || ds->cols != 32 || ds->channels != 3 || ds->dim != 3072)
            abort();
        for (k = 0; k < ds->n; k++)
            if (ds->labels[k] > 9)
                abort();
    }
    if (test.labels[0] != w->test_batch[0])
        abort();
    for (y = 0; y < 32; y++)
        for (x = 0; x < 32; x++)
            for (c = 0; c < 3; c++)
                if (test.pixels[(y * 32 + x) * 3 + c] != w->test_batch[1 + c * 1024 + y * 32 + x])
                    abort();
    vae_dataset_free(&train);
    vae_dataset_free(&test);
}

/* A copy of in[0..len) with the checksum of every non-zero 512-byte block
   set as tar sets it, or NULL when there is no memory. */
static unsigned char *with_checksums(const unsigned char *in, size_t len)
{
    unsigned char *p = (unsigned char *)malloc(len ? len : 1);
    size_t at;
    if (!p)
        abort();
    if (len)
        memcpy(p, in, len);
    for (at = 0; at + 512 <= len; at += 512) {
        unsigned char *h = p + at;
        unsigned sum = 0;
        int i, zero = 1;
        for (i = 0; i < 512; i++)
            zero &= h[i] == 0;
        if (zero)
            continue;
        memset(h + 148, ' ', 8);
        for (i = 0; i < 512; i++)
            sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        h[155] = ' ';
    }
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    walk_result w;

    if (gzip) {
        unsigned char *raw;
        size_t raw_len;
        char err[256];
        if (vae_gunzip(data, size, FUZZ_MAX_PLAIN, &raw, &raw_len, err, sizeof err) != VAE_OK) {
            if (!strstr(err, "exceed the limit"))
                parse(data, size, NULL);
            return 0;
        }
        w = walk(raw, raw_len);
        parse(data, size, &w);
        free(raw);
    } else {
        unsigned char *fixed = with_checksums(data, size);
        w = walk(data, size);
        parse(data, size, &w);
        w = walk(fixed, size);
        parse(fixed, size, &w);
        free(fixed);
    }
    return 0;
}
