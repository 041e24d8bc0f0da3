/* test_cifar.c — CIFAR-10 as distributed: the tar reader, the planar to
   channels-last conversion, the archive (gzip'd or not, one or several gzip
   members, GNU, ustar and pax tar), the extracted directory and its parent,
   vae_dataset_load_path's choice of layout, and hostile archives.

   Run from the repository root. The archives are made by the system's GNU
   tar and gzip from synthetic batches (20 to 25 records each, every byte
   known), in a temporary directory under build/, removed at the end;
   without tar or gzip those checks are skipped. Hostile variants are real
   archives with bytes patched (and the header checksum recomputed where
   the point is to get past it), or, for the 1 GB claim, one header built
   here. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include <stdlib.h>

/* The largest single allocation vae.c and mnist.c ask for, so that a check
   can show that a size claimed by a header is never allocated. */
static size_t hook_largest;

static void *hook_malloc(size_t n)
{
    if (n > hook_largest)
        hook_largest = n;
    return malloc(n);
}

#define VAE_MALLOC(n) hook_malloc(n)
#define VAE_FREE(p) free(p)
#include "../vae.c"
#include "../mnist.c"
#include "check.h"
#include "portable.h"

#include <stdarg.h>
#include <string.h>

#define BATCHES MN_CIFAR_BATCHES
#define PLANE 1024
#define RECORD 3073
/* 90 characters: with it, member names pass ustar's 100-byte name field */
#define LONG_DIR "a_directory_name_long_enough_that_the_member_names_in_it_pass_the_100_bytes_of_ustar_names"

static char root[1024];   /* the repository, where the test runs */
static char tmpdir[1200]; /* absolute, under build/ */
static int have_tools;    /* GNU tar and gzip */

// ---- helpers ----

/* Path of name inside the temporary directory; four rotating buffers. */
static const char *tmp(const char *name)
{
    static char buf[4][1400];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Runs a shell command in the temporary directory; 0 when it succeeded. */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    int n;
    va_list ap;
    n = snprintf(cmd, sizeof cmd, "cd '%s' && ", tmpdir);
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
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

/* The whole file in the temporary directory, malloc'ed (NULL, a failed
   check, when it cannot be read). */
static unsigned char *read_tmp(const char *name, size_t *n)
{
    unsigned char *p;
    char err[512];
    if (vae_read_file(tmp(name), (size_t)1 << 30, &p, n, err, sizeof err) != VAE_OK) {
        CHECK(0, "%s", err);
        return NULL;
    }
    return p;
}

// ---- the synthetic batches ----

/* Batch b (0..5: data_batch_1 .. 5, test_batch) holds 20 + b records, so
   that a batch read twice, left out or out of order changes the counts. */
static int batch_records(int b)
{
    return 20 + b;
}

static unsigned char label_of(int b, int r)
{
    return (unsigned char)((3 * b + r) % 10);
}

/* Channel c at row y, column x of record r in batch b: every argument
   moves the value differently, so that a swapped row and column, channels
   read as planes, or a record off by one all show. */
static unsigned char pixel_of(int b, int r, int c, int y, int x)
{
    return (unsigned char)(b * 41 + r * 7 + c * 97 + y * 13 + x * 3 + (x * y) % 5);
}

/* Batch b as CIFAR-10 stores it: per record a label, then the red, green
   and blue planes, each 32 x 32 row-major. */
static unsigned char *batch_bytes(int b, size_t *len)
{
    size_t n = (size_t)batch_records(b) * RECORD, at = 0;
    unsigned char *p = (unsigned char *)malloc(n);
    int r, c, y, x;
    if (!p)
        abort();
    for (r = 0; r < batch_records(b); r++) {
        p[at++] = label_of(b, r);
        for (c = 0; c < 3; c++)
            for (y = 0; y < 32; y++)
                for (x = 0; x < 32; x++)
                    p[at++] = pixel_of(b, r, c, y, x);
    }
    *len = n;
    return p;
}

enum { FLAW_NONE, FLAW_MISSING_4, FLAW_SHORT_2, FLAW_LABEL_3, FLAW_SYMLINK_1, FLAW_HARDLINK_5 };

/* Writes dir/cifar-10-batches-bin/ (dir relative to the temporary
   directory) as the official archive has it: the six batches,
   batches.meta.txt and readme.html, with one flaw. */
static void make_tree(const char *dir, int flaw)
{
    char path[600];
    int b;

    sh("rm -rf '%s' && mkdir -p '%s/cifar-10-batches-bin'", dir, dir);
    for (b = 0; b < BATCHES; b++) {
        size_t len;
        unsigned char *p = batch_bytes(b, &len);
        if (flaw == FLAW_SHORT_2 && b == 1)
            len = RECORD - 1; /* a record without its label's worth: 3,072 bytes */
        if (flaw == FLAW_LABEL_3 && b == 2)
            p[5 * RECORD] = 10; /* the label of record 6 */
        snprintf(path, sizeof path, "%s/cifar-10-batches-bin/%s", dir, mn_cifar_names[b]);
        if (!(flaw == FLAW_MISSING_4 && b == 3) && !(flaw == FLAW_SYMLINK_1 && b == 0) &&
            !(flaw == FLAW_HARDLINK_5 && b == 4))
            write_file(tmp(path), p, len);
        free(p);
    }
    if (flaw == FLAW_SYMLINK_1)
        sh("ln -s data_batch_2.bin '%s/cifar-10-batches-bin/data_batch_1.bin'", dir);
    if (flaw == FLAW_HARDLINK_5)
        sh("ln '%s/cifar-10-batches-bin/data_batch_4.bin' '%s/cifar-10-batches-bin/data_batch_5.bin'", dir,
           dir);
    snprintf(path, sizeof path, "%s/cifar-10-batches-bin/batches.meta.txt", dir);
    write_file(tmp(path), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", 62);
    snprintf(path, sizeof path, "%s/cifar-10-batches-bin/readme.html", dir);
    write_file(tmp(path), "<meta HTTP-EQUIV=\"REFRESH\" content=\"0; url=http://www.cs.toronto.edu/~kriz/cifar.html\">\n",
               88);
}

/* tar FLAGS -cf NAME of dir's cifar-10-batches-bin (from inside dir), in
   name order, with fixed owners and times. */
static void make_tar(const char *dir, const char *flags, const char *name)
{
    int r = sh("cd '%s' && tar --sort=name --owner=0 --group=0 --mtime=@0 %s -cf '%s/%s' cifar-10-batches-bin",
               dir, flags, tmpdir, name);
    CHECK(r == 0, "tar %s -cf %s failed", flags, name);
}

/* Whether *train and *test hold exactly the synthetic batches, converted
   to channels last. */
static void check_cifar(const vae_dataset *train, const vae_dataset *test, const char *what)
{
    const vae_dataset *sets[2];
    long wrong_pixels = 0, wrong_labels = 0;
    int s, b, r, c, y, x, want_train = 0;

    sets[0] = train;
    sets[1] = test;
    for (b = 0; b < BATCHES - 1; b++)
        want_train += batch_records(b);
    CHECK(train->n == want_train && test->n == batch_records(BATCHES - 1), "%s: %d and %d images", what,
          train->n, test->n);
    for (s = 0; s < 2; s++) {
        const vae_dataset *ds = sets[s];
        int i = 0;
        CHECK(ds->rows == 32 && ds->cols == 32 && ds->channels == 3 && ds->dim == 3072 && ds->pixels &&
                  ds->labels,
              "%s: %dx%dx%d, dim %d", what, ds->rows, ds->cols, ds->channels, ds->dim);
        if (!ds->pixels || !ds->labels || ds->n != (s ? test->n : want_train))
            continue;
        for (b = s ? BATCHES - 1 : 0; b < (s ? BATCHES : BATCHES - 1); b++)
            for (r = 0; r < batch_records(b); r++, i++) {
                const unsigned char *img = ds->pixels + (size_t)i * 3072;
                wrong_labels += ds->labels[i] != label_of(b, r);
                for (y = 0; y < 32; y++)
                    for (x = 0; x < 32; x++)
                        for (c = 0; c < 3; c++)
                            wrong_pixels += img[(y * 32 + x) * 3 + c] != pixel_of(b, r, c, y, x);
            }
    }
    CHECK(wrong_pixels == 0 && wrong_labels == 0, "%s: %ld pixels and %ld labels differ", what, wrong_pixels,
          wrong_labels);
}

static void load_ok(const char *name, const char *what)
{
    vae_dataset train, test;
    vae_status st = vae_dataset_load_cifar(&train, &test, tmp(name));
    CHECK(st == VAE_OK && train.error[0] == '\0', "%s: %s", what, train.error);
    if (st == VAE_OK)
        check_cifar(&train, &test, what);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
}

/* Loading name (in the temporary directory) must fail with want, a message
   of one line holding every one of the needles (NULL-ended), and both
   datasets empty. The message is printed, indented, for the reader. */
static void load_fails(const char *name, vae_status want, const char *what, ...)
{
    vae_dataset train, test;
    vae_status st;
    const char *needle;
    va_list ap;

    memset(&train, 0x5a, sizeof train);
    memset(&test, 0x5a, sizeof test);
    st = vae_dataset_load_cifar(&train, &test, tmp(name));
    CHECK(st == want, "%s: status %d, expected %d (%s)", what, (int)st, (int)want, train.error);
    CHECK(!strchr(train.error, '\n') && strstr(train.error, tmpdir), "%s: '%s' is not one line naming the file",
          what, train.error);
    va_start(ap, what);
    while ((needle = va_arg(ap, const char *)) != NULL)
        CHECK(strstr(train.error, needle) != NULL, "%s: '%s' does not say '%s'", what, train.error, needle);
    va_end(ap);
    CHECK(train.n == 0 && !train.pixels && !train.labels && test.n == 0 && !test.pixels && !test.labels,
          "%s: a dataset was left holding memory", what);
    /* the message without the temporary directory, for reading */
    printf("  %-32s %s\n", what,
           train.error + (strncmp(train.error, tmpdir, strlen(tmpdir)) ? 0 : strlen(tmpdir) + 1));
    if (st == VAE_OK) {
        vae_dataset_free(&train);
        vae_dataset_free(&test);
    }
}

// ---- tar bytes, read without the reader under test ----

/* The offset of the header whose name field is name, or (size_t)-1: found
   by scanning the 512-byte blocks for a name followed by ustar's magic. */
static size_t find_header(const unsigned char *p, size_t len, const char *name)
{
    size_t at, n = strlen(name) + 1;
    for (at = 0; at + 512 <= len; at += 512)
        if (memcmp(p + at, name, n) == 0 && memcmp(p + at + 257, "ustar", 5) == 0)
            return at;
    return (size_t)-1;
}

/* Recomputes the checksum of the header at h, as tar writes it. */
static void fix_checksum(unsigned char *h)
{
    unsigned sum = 0;
    int i;
    memset(h + 148, ' ', 8);
    for (i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* A copy of the tar file src with the header of member patched as patch
   says (or cut at cut bytes after that header's start when cut is not
   -1), written to dst. */
static void patch_tar(const char *src, const char *dst, const char *member, int cut,
                      void (*patch)(unsigned char *header))
{
    size_t len, at;
    unsigned char *p = read_tmp(src, &len);
    if (!p)
        return;
    at = find_header(p, len, member);
    CHECK(at != (size_t)-1, "%s: no header for %s", src, member);
    if (at != (size_t)-1) {
        if (patch)
            patch(p + at);
        write_file(tmp(dst), p, cut >= 0 ? at + (size_t)cut : len);
    }
    free(p);
}

static void patch_mode(unsigned char *h)
{
    h[101] ^= 1; /* a mode digit, checksum left stale */
}

static void patch_size_overflow(unsigned char *h)
{
    memset(h + 124, 0xff, 12); /* base-256, 95 bits set */
    h[124] = 0x80;
    fix_checksum(h);
}

static void patch_size_negative(unsigned char *h)
{
    memset(h + 124, 0xff, 12);
    fix_checksum(h);
}

static void patch_size_garbage(unsigned char *h)
{
    memcpy(h + 124, "00000x00000", 12);
    fix_checksum(h);
}

static void patch_size_huge256(unsigned char *h)
{
    memset(h + 124, 0, 12);
    h[124] = 0x80;
    h[128] = 0x40; /* 2^62 in base-256 */
    fix_checksum(h);
}

static void patch_dotdot_name(unsigned char *h)
{
    memset(h, 0, 100);
    memcpy(h, "cifar-10-batches-bin/../evil\nname/data_batch_2.bin", 50);
    fix_checksum(h);
}

static void patch_type_dir(unsigned char *h)
{
    h[156] = '5';
    fix_checksum(h);
}

/* A tar of one header claiming a batch of size (octal, 11 digits) followed
   by one block: 1 KB. */
static void write_claim(const char *name, const char *octal_size)
{
    unsigned char t[1024];
    memset(t, 0, sizeof t);
    strcpy((char *)t, "cifar-10-batches-bin/data_batch_1.bin");
    memcpy(t + 100, "0000644", 8);
    memcpy(t + 108, "0000000", 8);
    memcpy(t + 116, "0000000", 8);
    memcpy(t + 124, octal_size, 12);
    memcpy(t + 136, "00000000000", 12);
    t[156] = '0';
    memcpy(t + 257, "ustar  ", 8);
    fix_checksum(t);
    memset(t + 512, 7, 512);
    write_file(tmp(name), t, sizeof t);
}

// ---- the tests ----

static const char *const formats[3] = {"--format=gnu", "--format=ustar", "--format=posix"};

/* The members of tmp(name) as the tar reader sees them, one call of
   visit per member; the reader's result (0 at a clean end) is returned. */
static int walk_tar(const char *name, void (*visit)(const mn_tar_member *m, void *arg), void *arg)
{
    mn_tar t;
    mn_tar_member m;
    char err[512];
    size_t len;
    int r;

    if (!(t.buf = read_tmp(name, &len)))
        return -1;
    t.len = len;
    t.pos = 0;
    while ((r = mn_tar_next(&t, &m, err, sizeof err)) == 1)
        visit(&m, arg);
    CHECK(r == 0, "%s: %s", name, err);
    free((void *)t.buf);
    return r;
}

typedef struct {
    int seen, order_ok, data_ok;
} batch_walk;

/* Counts the batches, checking that they come in order, as regular files
   named cifar-10-batches-bin/..., holding exactly the synthetic bytes. */
static void visit_batch(const mn_tar_member *m, void *arg)
{
    batch_walk *w = (batch_walk *)arg;
    int b = mn_cifar_batch(m->name);
    char want[64];
    size_t len;
    unsigned char *expected;

    if (b < 0)
        return;
    snprintf(want, sizeof want, "cifar-10-batches-bin/%s", mn_cifar_names[b]);
    w->order_ok &= b == w->seen && strcmp(m->name, want) == 0 && (m->type == '0' || m->type == 0);
    expected = batch_bytes(b, &len);
    w->data_ok &= m->size == len && memcmp(m->data, expected, len) == 0;
    free(expected);
    w->seen++;
}

static void visit_long_name(const mn_tar_member *m, void *arg)
{
    *(int *)arg += strcmp(m->name, LONG_DIR "/cifar-10-batches-bin/test_batch.bin") == 0;
}

/* The tar reader alone, on what GNU tar writes in each format: every batch
   in order with its data exactly the file's; names over 100 bytes (GNU
   long-name records, ustar's prefix field, pax path records) whole. */
static void test_tar_formats(void)
{
    int f, whole = 0;

    make_tree("deep/" LONG_DIR, FLAW_NONE);
    for (f = 0; f < 3; f++) {
        batch_walk w = {0, 1, 1};
        make_tar("deep/" LONG_DIR, formats[f], "short-names.tar");
        walk_tar("short-names.tar", visit_batch, &w);
        CHECK(w.seen == BATCHES && w.order_ok && w.data_ok, "%s: %d batches, names %s, data %s", formats[f],
              w.seen, w.order_ok ? "right" : "wrong", w.data_ok ? "right" : "wrong");

        CHECK(sh("cd deep && tar --sort=name --owner=0 --group=0 --mtime=@0 %s -cf ../long-names.tar %s",
                 formats[f], LONG_DIR) == 0,
              "tar %s of the long names failed", formats[f]);
        walk_tar("long-names.tar", visit_long_name, &whole);
    }
    CHECK(strlen(LONG_DIR "/cifar-10-batches-bin/test_batch.bin") > 100 && whole == 3,
          "the long name came back whole in %d of 3 formats", whole);
}

/* Header fields, names and batch names, byte by byte. */
static void test_tar_fields(void)
{
    unsigned char h[12];
    uint64_t v;

    memcpy(h, "  17 \0\0\0", 8);
    CHECK(mn_tar_number(h, 8, &v) == MN_NUM_OK && v == 15, "octal with spaces: %d", (int)v);
    memcpy(h, "777777777777", 12); /* 12 digits, no terminator: 2^36 - 1 */
    CHECK(mn_tar_number(h, 12, &v) == MN_NUM_OK && v == ((uint64_t)1 << 36) - 1, "12 octal digits");
    memcpy(h, "\x80\0\0\0\0\0\0\0\0\0\x01\x02", 12);
    CHECK(mn_tar_number(h, 12, &v) == MN_NUM_OK && v == 0x102, "base-256");
    memcpy(h, "\x80\0\0\x01\0\0\0\0\0\0\0\0", 12); /* 2^64: one bit too many */
    CHECK(mn_tar_number(h, 12, &v) == MN_NUM_OVERFLOW, "base-256 of 2^64");
    memcpy(h, "\x80\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 12); /* 2^64 - 1 */
    CHECK(mn_tar_number(h, 12, &v) == MN_NUM_OK && v == UINT64_MAX, "base-256 of 2^64 - 1");
    memcpy(h, "12 3\0\0\0\0", 8);
    CHECK(mn_tar_number(h, 8, &v) == MN_NUM_MALFORMED, "a digit after the end");
    memcpy(h, "        ", 8);
    CHECK(mn_tar_number(h, 8, &v) == MN_NUM_MALFORMED, "no digits");

    CHECK(mn_tar_unsafe_name("a/../b") && mn_tar_unsafe_name("..") && mn_tar_unsafe_name("/etc/x") &&
              mn_tar_unsafe_name("x/..") && !mn_tar_unsafe_name("a/..b/c..") &&
              !mn_tar_unsafe_name("./a/.../b"),
          "'..' components and absolute names");
    CHECK(mn_cifar_batch("cifar-10-batches-bin/test_batch.bin") == 5 && mn_cifar_batch("data_batch_1.bin") == 0 &&
              mn_cifar_batch("x/data_batch_3.bin/") == 2 && mn_cifar_batch("x/data_batch_3.bin.gz") == -1 &&
              mn_cifar_batch("x/data_batch_6.bin") == -1 && mn_cifar_batch("") == -1,
          "batches by their last component");
}

/* Every form of the real thing reads to the same datasets. */
static void test_layouts(void)
{
    vae_dataset train, test;
    vae_data_layout layout;
    vae_status st;
    size_t len, a, b;
    unsigned char *p;

    make_tree("official", FLAW_NONE);
    make_tar("official", "--format=gnu", "cifar.tar");
    CHECK(sh("gzip -9 -n -c cifar.tar > official/cifar-10-binary.tar.gz") == 0, "gzip failed");
    CHECK(sh("cd official && tar -czf ../tar-z.tar.gz cifar-10-batches-bin") == 0, "tar -z failed");
    load_ok("official/cifar-10-binary.tar.gz", "gzip'd GNU tar");
    load_ok("tar-z.tar.gz", "tar -czf");
    load_ok("cifar.tar", "plain tar");
    load_ok("official/cifar-10-batches-bin", "extracted directory");
    load_ok("official/cifar-10-batches-bin/", "extracted directory/");
    load_ok("official", "its parent");

    /* three gzip members, cut inside a header and inside a batch */
    if ((p = read_tmp("cifar.tar", &len)) != NULL) {
        a = 700;
        b = 30001;
        write_file(tmp("part1"), p, a);
        write_file(tmp("part2"), p + a, b - a);
        write_file(tmp("part3"), p + b, len - b);
        free(p);
        CHECK(sh("gzip -n -c part1 > multi.tar.gz && gzip -n -c part2 >> multi.tar.gz && "
                 "gzip -n -c part3 >> multi.tar.gz && gzip -t multi.tar.gz") == 0,
              "gzip of the parts failed");
        load_ok("multi.tar.gz", "three gzip members");
    }
    make_tar("official", "--format=ustar", "ustar.tar");
    load_ok("ustar.tar", "ustar");
    make_tar("official", "--format=posix", "pax.tar");
    load_ok("pax.tar", "pax (PaxHeaders/ members named like batches)");

    /* vae_dataset_load_path: each layout recognised and named */
    st = vae_dataset_load_path(&train, &test, tmp("official"), &layout);
    CHECK(st == VAE_OK && layout == VAE_DATA_CIFAR_DIR && train.channels == 3, "path: parent: %s", train.error);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    sh("mkdir -p dl && cp official/cifar-10-binary.tar.gz dl/");
    st = vae_dataset_load_path(&train, &test, tmp("dl"), &layout);
    CHECK(st == VAE_OK && layout == VAE_DATA_CIFAR_ARCHIVE, "path: directory of the download: %s", train.error);
    if (st == VAE_OK)
        check_cifar(&train, &test, "directory of the download");
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    st = vae_dataset_load_path(&train, &test, tmp("dl/cifar-10-binary.tar.gz"), &layout);
    CHECK(st == VAE_OK && layout == VAE_DATA_CIFAR_ARCHIVE, "path: the archive: %s", train.error);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    st = vae_dataset_load_path(&train, &test, tmp("no-such-thing"), &layout);
    CHECK(st == VAE_ERR_IO && layout == VAE_DATA_CIFAR_ARCHIVE && strstr(train.error, "train-images-idx3-ubyte") &&
              strstr(train.error, "cifar-10-batches-bin/") && strstr(train.error, "No such file"),
          "path: nothing there: %s", train.error);
    printf("  %-32s %s\n", "nothing there (load_path)", train.error + strlen(tmpdir) + 1);
    st = vae_dataset_load_path(&train, &test, tmp("deep"), &layout);
    CHECK(st == VAE_ERR_IO && layout == VAE_DATA_CIFAR_ARCHIVE && strstr(train.error, "not a readable archive"),
          "path: a directory of something else: %s", train.error);
    printf("  %-32s %s\n", "other directory (load_path)", train.error + strlen(tmpdir) + 1);
    CHECK(strcmp(vae_data_layout_name(VAE_DATA_MNIST), vae_data_layout_name(VAE_DATA_CIFAR_DIR)) != 0 &&
              strcmp(vae_data_layout_name(VAE_DATA_CIFAR_DIR), vae_data_layout_name(VAE_DATA_CIFAR_ARCHIVE)) != 0 &&
              strstr(vae_data_layout_name(VAE_DATA_MNIST), "MNIST"),
          "layout names");

    /* holdout keeps the channels */
    st = vae_dataset_load_cifar(&train, &test, tmp("cifar.tar"));
    vae_dataset_free(&test);
    CHECK(st == VAE_OK && vae_dataset_holdout(&train, &test, 7) == VAE_OK && test.n == 7 && test.channels == 3 &&
              test.dim == 3072 && memcmp(test.pixels, train.pixels + (size_t)train.n * 3072, 7 * 3072) == 0,
          "holdout of CIFAR images: %s", train.error);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
}

/* MNIST through vae_dataset_load_path, and channels = 1 for IDX files. */
static void test_mnist_path(void)
{
    static const unsigned char images[16 + 24] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 1, 2, 3};
    static const unsigned char labels[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 9};
    vae_dataset train, test;
    vae_data_layout layout = VAE_DATA_CIFAR_DIR;
    vae_status st;

    test_mkdir(tmp("mnist"));
    write_file(tmp("mnist/train-images-idx3-ubyte"), images, sizeof images);
    write_file(tmp("mnist/train-labels-idx1-ubyte"), labels, sizeof labels);
    st = vae_dataset_load_path(&train, &test, tmp("mnist"), &layout);
    CHECK(st == VAE_OK && layout == VAE_DATA_MNIST && train.n == 2 && train.rows == 3 && train.cols == 4 &&
              train.channels == 1 && train.dim == 12 && train.pixels[2] == 3 && train.labels[1] == 9 && test.n == 0,
          "MNIST by path: %s", train.error);
    vae_dataset_free(&train);
    st = vae_dataset_load(&train, "data/mnist/t10k-images-idx3-ubyte.gz", NULL);
    CHECK(st == VAE_OK && train.channels == 1 && train.dim == 784, "shipped digits: channels %d: %s", train.channels,
          train.error);
    vae_dataset_free(&train);
}

/* Hostile and damaged archives and directories: each a clean error. */
static void test_hostile(void)
{
    make_tree("h", FLAW_NONE);
    make_tar("h", "--format=gnu", "good.tar");

    /* a header whose checksum is wrong, plain and gzip'd */
    patch_tar("good.tar", "badsum.tar", "cifar-10-batches-bin/data_batch_2.bin", -1, patch_mode);
    sh("gzip -n -c badsum.tar > badsum.tar.gz");
    load_fails("badsum.tar", VAE_ERR_FORMAT, "bad header checksum", "bad header checksum",
               "member 'cifar-10-batches-bin/data_batch_2.bin'", (char *)NULL);
    load_fails("badsum.tar.gz", VAE_ERR_FORMAT, "bad checksum, gzip'd", "badsum.tar.gz", "bad header checksum",
               (char *)NULL);

    /* truncated: inside a batch, inside a header, at a header, the .gz */
    patch_tar("good.tar", "cut-data.tar", "cifar-10-batches-bin/data_batch_3.bin", 512 + 1000, NULL);
    load_fails("cut-data.tar", VAE_ERR_FORMAT, "truncated in a batch", "data_batch_3.bin' claims 67606 bytes",
               "only 1000 follow", (char *)NULL);
    patch_tar("good.tar", "cut-data-end.tar", "cifar-10-batches-bin/data_batch_3.bin", 512 + 67606 - 100, NULL);
    load_fails("cut-data-end.tar", VAE_ERR_FORMAT, "truncated near a batch's end", "claims 67606 bytes",
               "only 67506 follow", (char *)NULL);
    patch_tar("good.tar", "cut-header.tar", "cifar-10-batches-bin/data_batch_3.bin", 100, NULL);
    load_fails("cut-header.tar", VAE_ERR_FORMAT, "truncated in a header", "truncated archive: 100 bytes",
               (char *)NULL);
    patch_tar("good.tar", "cut-between.tar", "cifar-10-batches-bin/data_batch_4.bin", 0, NULL);
    load_fails("cut-between.tar", VAE_ERR_FORMAT, "truncated between members", "no data_batch_4.bin",
               (char *)NULL);
    sh("gzip -n -c good.tar > good.tar.gz && n=$(wc -c < good.tar.gz) && head -c $((n / 2)) good.tar.gz > cut.tar.gz");
    load_fails("cut.tar.gz", VAE_ERR_FORMAT, "truncated .tar.gz", "cut.tar.gz: truncated gzip stream",
               (char *)NULL);

    /* size fields: overflowing, negative, not a number, 2^62, 1 GB in 1 KB */
    patch_tar("good.tar", "size-overflow.tar", "cifar-10-batches-bin/data_batch_1.bin", -1, patch_size_overflow);
    load_fails("size-overflow.tar", VAE_ERR_FORMAT, "size overflows", "data_batch_1.bin': size field overflows",
               (char *)NULL);
    patch_tar("good.tar", "size-negative.tar", "cifar-10-batches-bin/data_batch_1.bin", -1, patch_size_negative);
    load_fails("size-negative.tar", VAE_ERR_FORMAT, "size negative", "size field is negative", (char *)NULL);
    patch_tar("good.tar", "size-garbage.tar", "cifar-10-batches-bin/data_batch_1.bin", -1, patch_size_garbage);
    load_fails("size-garbage.tar", VAE_ERR_FORMAT, "size not octal", "size field is not an octal number",
               (char *)NULL);
    patch_tar("good.tar", "size-2e62.tar", "cifar-10-batches-bin/data_batch_1.bin", -1, patch_size_huge256);
    load_fails("size-2e62.tar", VAE_ERR_FORMAT, "size 2^62 (base-256)", "claims 4611686018427387904 bytes",
               (char *)NULL);
    write_claim("claim-1g.tar", "10000000000");
    sh("gzip -n -c claim-1g.tar > claim-1g.tar.gz");
    hook_largest = 0;
    load_fails("claim-1g.tar", VAE_ERR_FORMAT, "1 GB claimed in 1 KB", "claims 1073741824 bytes",
               "only 512 follow", (char *)NULL);
    load_fails("claim-1g.tar.gz", VAE_ERR_FORMAT, "1 GB claimed, gzip'd", "claims 1073741824 bytes",
               (char *)NULL);
    CHECK(hook_largest <= 64 * 1024, "a 1 GB claim led to an allocation of %lu bytes", (unsigned long)hook_largest);

    /* member names */
    sh("cd h && tar -cPf ../dotdot.tar cifar-10-batches-bin/../cifar-10-batches-bin/data_batch_1.bin "
       "cifar-10-batches-bin");
    load_fails("dotdot.tar", VAE_ERR_FORMAT, "'..' in a name (tar -P)",
               "member 'cifar-10-batches-bin/../cifar-10-batches-bin/data_batch_1.bin'", "'..' component",
               (char *)NULL);
    patch_tar("good.tar", "dotdot-newline.tar", "cifar-10-batches-bin/data_batch_2.bin", -1, patch_dotdot_name);
    load_fails("dotdot-newline.tar", VAE_ERR_FORMAT, "'..' and a newline in a name",
               "member 'cifar-10-batches-bin/../evil?name/data_batch_2.bin'", (char *)NULL);
    sh("mkdir -p dup/x && cp h/cifar-10-batches-bin/data_batch_1.bin dup/x/ && "
       "tar -cf dup.tar -C h cifar-10-batches-bin -C ../dup x");
    load_fails("dup.tar", VAE_ERR_FORMAT, "a batch twice", "member 'x/data_batch_1.bin' is a second data_batch_1.bin",
               "(the first is 'cifar-10-batches-bin/data_batch_1.bin')", (char *)NULL);

    /* batches that are not regular files */
    make_tree("sym", FLAW_SYMLINK_1);
    make_tar("sym", "--format=gnu", "symlink.tar");
    load_fails("symlink.tar", VAE_ERR_FORMAT, "symlink named like a batch",
               "member 'cifar-10-batches-bin/data_batch_1.bin' is a symbolic link (type '2')", (char *)NULL);
    make_tree("hard", FLAW_HARDLINK_5);
    make_tar("hard", "--format=gnu", "hardlink.tar");
    load_fails("hardlink.tar", VAE_ERR_FORMAT, "hard link named like a batch",
               "data_batch_5.bin' is a hard link (type '1')", (char *)NULL);
    patch_tar("good.tar", "dir-batch.tar", "cifar-10-batches-bin/test_batch.bin", -1, patch_type_dir);
    load_fails("dir-batch.tar", VAE_ERR_FORMAT, "directory named like a batch", "is a directory (type '5')",
               (char *)NULL);

    /* batch contents, in the archive and extracted */
    make_tree("short", FLAW_SHORT_2);
    make_tar("short", "--format=gnu", "short.tar");
    load_fails("short.tar", VAE_ERR_FORMAT, "a batch of 3,072 bytes",
               "member 'cifar-10-batches-bin/data_batch_2.bin': 3072 bytes, not a whole number", (char *)NULL);
    load_fails("short", VAE_ERR_FORMAT, "... extracted", "short/cifar-10-batches-bin/data_batch_2.bin: 3072 bytes",
               (char *)NULL);
    make_tree("label", FLAW_LABEL_3);
    make_tar("label", "--format=gnu", "label.tar");
    load_fails("label.tar", VAE_ERR_FORMAT, "a label over 9",
               "data_batch_3.bin': record 6 has label 10 (must be 0..9)", (char *)NULL);
    load_fails("label/cifar-10-batches-bin", VAE_ERR_FORMAT, "... extracted",
               "label/cifar-10-batches-bin/data_batch_3.bin: record 6 has label 10", (char *)NULL);
    make_tree("missing", FLAW_MISSING_4);
    make_tar("missing", "--format=gnu", "missing.tar");
    load_fails("missing.tar", VAE_ERR_FORMAT, "a batch missing", "missing.tar: no data_batch_4.bin in the archive",
               (char *)NULL);
    load_fails("missing", VAE_ERR_IO, "... extracted", "missing/cifar-10-batches-bin/data_batch_4.bin: cannot open",
               (char *)NULL);

    /* empty and foreign */
    sh("tar -cf empty.tar -T /dev/null && gzip -n -c empty.tar > empty.tar.gz && : > zero.tar && "
       "tar -cf meta-only.tar -C h cifar-10-batches-bin/batches.meta.txt");
    load_fails("empty.tar", VAE_ERR_FORMAT, "empty archive", "empty.tar: empty archive (no members)", (char *)NULL);
    load_fails("empty.tar.gz", VAE_ERR_FORMAT, "empty archive, gzip'd", "empty archive (no members)", (char *)NULL);
    load_fails("zero.tar", VAE_ERR_FORMAT, "a file of 0 bytes", "empty archive (no members)", (char *)NULL);
    load_fails("meta-only.tar", VAE_ERR_FORMAT, "no batches at all", "no data_batch_1.bin", (char *)NULL);
    sh("cp '%s/data/mnist/t10k-labels-idx1-ubyte.gz' labels.gz", root);
    load_fails("labels.gz", VAE_ERR_FORMAT, "not a tar (MNIST labels)", "bad header checksum in the first header",
               "not a tar archive", (char *)NULL);
}

int main(void)
{
    if (!test_getcwd(root, sizeof root)) {
        printf("FAIL cannot find the current directory\n");
        return 1;
    }
    test_mkdir("build");
    snprintf(tmpdir, sizeof tmpdir, "%s/build/test_cifar.XXXXXX", root);
    if (!test_mkdtemp(tmpdir)) {
        printf("FAIL cannot create a temporary directory %s\n", tmpdir);
        return 1;
    }
    have_tools = system("tar --version 2>/dev/null | grep -q 'GNU tar' && gzip --version > /dev/null 2>&1") == 0;

    test_mnist_path();
    if (have_tools) {
        test_tar_formats();
        test_tar_fields();
        test_layouts();
        test_hostile();
    } else {
        SKIP("no GNU tar or no gzip: CIFAR-10 archives not made, their checks not run");
    }

    sh("cd .. && rm -rf '%s'", tmpdir);
    return check_summary();
}
