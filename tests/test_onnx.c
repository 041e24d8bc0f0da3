/* test_onnx.c — tools/onnx.c: ONNX models of a VAE's encoder and decoder.

   First the protobuf writer by its bytes: varints from 0 to 2^64 - 1,
   negative int64s, fixed32 floats, nested lengths over 127, a tiny
   TensorProto; and onnx_encode's refusals. Then, for models made here
   with random weights scaled so that activations leave their linear
   region (the reference MLP, the course's conv models A and B, a colour
   one with LeakyReLU, a stride-3 transposed conv with padding and output
   padding on a non-square image, an MLP with no hidden layer, one with no
   image shape), both parts go to NAME.encoder.onnx and NAME.decoder.onnx
   with 8 inputs and vae_encode's and vae_decode's outputs (raw
   little-endian float32, images (c, h, w) as ONNX has them) and a
   manifest.json. tests/onnx/check.py checks each file with onnx's checker
   and strict shape inference; tests/onnx/run.js runs it in onnxruntime
   and compares with the library's outputs (|diff| <= 1e-5 max(1,
   |expected|): a linear mean's values reach 40 here). Each verdict
   is a check; without python3-onnx (ONNX_PYTHON names another python than
   /usr/bin/python3) or node with onnxruntime-node (npm ci --prefix
   tests/onnx) those checks are skipped.

   Run from the repository root; files go to a mkdtemp directory in build/,
   removed when everything passed. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen */
#endif
#include "../vae.c"
#include "../tools/export.c"
#include "../tools/onnx.c"
#include "check.h"
#include "portable.h"

#include <stdarg.h>

#define N_IMAGES 8
#define MAX_FILES 32

typedef struct {
    const char *name;
    const char *settings; /* "key=value;key=value", vae_config_set's keys */
    uint64_t seed;
    float gain;           /* weights N(0, 1) * gain / sqrt(fan_in) */
} test_model;

static const test_model models[] = {
    {"reference", "input_dim=784;image_rows=28;image_cols=28;image_channels=1;hidden=200,200;activation=tanh;"
                  "latent_dim=50", 11, 2.0f},
    /* gain 1: its linear means stay near the pixels' range, as a trained
       one's do (at gain 2 they reach 80, where float32 sums in two orders
       differ by 2e-5) */
    {"conv-a", "input_dim=784;image_rows=28;image_cols=28;image_channels=1;"
               "encoder=conv 32 5,relu,conv 32 5,relu;"
               "decoder=fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5;"
               "posterior=isotropic;likelihood=gaussian;mean=linear;latent_dim=2", 12, 1.0f},
    {"conv-b", "input_dim=784;image_rows=28;image_cols=28;image_channels=1;"
               "encoder=conv 32 3 s2 p1,relu,conv 64 3 s2 p1,relu,fc 256,relu;"
               "decoder=fc 256,relu,fc 3136,relu,view 64 7 7,convt 32 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1;"
               "likelihood=bernoulli;latent_dim=20", 13, 2.0f},
    /* 7 x 10: rows and columns cannot be swapped unseen; the convt has
       stride 3, pad 2 (not a multiple of it), kernel 4 > stride, o1 */
    {"odd-colour", "input_dim=210;image_rows=7;image_cols=10;image_channels=3;"
                   "encoder=conv 4 3 s2 p1,leakyrelu,fc 6,tanh;"
                   "decoder=fc 8,leakyrelu,fc 48,leakyrelu,view 4 3 4,convt 5 4 s3 p2 o1,leakyrelu,conv 3 3 p1;"
                   "likelihood=gaussian;latent_dim=3", 14, 2.0f},
    {"mlp-h0", "input_dim=20;image_rows=4;image_cols=5;image_channels=1;hidden=none;latent_dim=1;"
               "likelihood=gaussian;mean=linear", 15, 2.0f},
    {"vector", "input_dim=12;hidden=9;activation=relu;latent_dim=2", 16, 2.0f},
};

static char tmpdir[256];

// ---- the protobuf writer ----

static int bytes_are(const pb_buf *b, const char *hex)
{
    size_t i, n = strlen(hex) / 2;
    if (b->failed || b->len != n)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || b->data[i] != v)
            return 0;
    }
    return 1;
}

static void show(const pb_buf *b, char *out, size_t size)
{
    size_t i, at = 0;
    out[0] = '\0';
    for (i = 0; i < b->len && at + 3 < size; i++)
        at += (size_t)snprintf(out + at, size - at, "%02x", b->data[i]);
}

#define CHECK_BYTES(b, hex, what)                                                                                 \
    do {                                                                                                          \
        char shown_[256];                                                                                         \
        show(b, shown_, sizeof shown_);                                                                           \
        CHECK(bytes_are(b, hex), "%s: %s, not %s", what, shown_, hex);                                            \
    } while (0)

static void reset(pb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void test_protobuf(void)
{
    static const struct {
        uint64_t v;
        const char *hex;
    } varints[] = {
        {0, "00"},
        {1, "01"},
        {127, "7f"},
        {128, "8001"},
        {300, "ac02"},
        {(uint64_t)1 << 32, "8080808010"},
        {((uint64_t)1 << 63) - 1, "ffffffffffffffff7f"},
        {(uint64_t)1 << 63, "80808080808080808001"},
        {UINT64_MAX, "ffffffffffffffffff01"},
    };
    pb_buf b = {NULL, 0, 0, 0};
    char text[201];
    size_t i, at;
    int64_t dims = 2, one = 1, minus_one = -1;
    const float two[2] = {1.0f, -2.0f};
    for (i = 0; i < sizeof varints / sizeof varints[0]; i++) {
        char what[64];
        pb_varint(&b, varints[i].v);
        snprintf(what, sizeof what, "varint %llu", (unsigned long long)varints[i].v);
        CHECK_BYTES(&b, varints[i].hex, what);
        reset(&b);
    }
    pb_int(&b, 1, -1); /* int64 -1: ten bytes */
    CHECK_BYTES(&b, "08ffffffffffffffffff01", "int64 -1");
    reset(&b);
    pb_int(&b, 20, 7); /* a field number over 15: a two-byte tag */
    CHECK_BYTES(&b, "a00107", "field 20");
    reset(&b);
    pb_float(&b, 2, 1.0f);
    pb_float(&b, 2, 0.01f);
    CHECK_BYTES(&b, "150000803f150ad7233c", "fixed32 floats 1 and 0.01");
    reset(&b);
    pb_string(&b, 2, "vae");
    CHECK_BYTES(&b, "1203766165", "string");
    reset(&b);
    /* ModelProto's opset_import: domain "" and version 13 */
    at = pb_open(&b, MODEL_OPSET_IMPORT);
    pb_string(&b, OPSET_DOMAIN, "");
    pb_int(&b, OPSET_VERSION, 13);
    pb_close(&b, at);
    CHECK_BYTES(&b, "42040a00100d", "opset_import");
    reset(&b);
    /* a body of 203 bytes: its length takes two bytes, slid in front */
    memset(text, 'a', 200);
    text[200] = '\0';
    at = pb_open(&b, 1);
    pb_string(&b, 2, text);
    pb_close(&b, at);
    CHECK(b.len == 206 && b.data[0] == 0x0a && b.data[1] == 0xcb && b.data[2] == 0x01 && b.data[3] == 0x12 &&
              b.data[4] == 0xc8 && b.data[5] == 0x01 && b.data[6] == 'a' && b.data[205] == 'a',
          "nested message over 127 bytes: %lu bytes", (unsigned long)b.len);
    reset(&b);
    /* TensorProto t (2) float {1, -2}, as a graph's initializer */
    onnx_write_tensor(&b, "t", &dims, 1, two, NULL, 2);
    CHECK_BYTES(&b, "2a1108021001420174" "4a080000803f000000c0", "float initializer");
    reset(&b);
    onnx_write_tensor(&b, "s", &one, 1, NULL, &minus_one, 1);
    CHECK_BYTES(&b, "2a1108011007420173" "4a08ffffffffffffffff", "int64 initializer -1");
    reset(&b);
}

/* onnx_encode says no, with a reason and no buffer, to a part it cannot
   write truly. */
static void test_refusals(void)
{
    static const char settings[] = "input_dim=12;hidden=9;activation=relu;latent_dim=2";
    vae_config c;
    vae *m = NULL;
    export_part *p = malloc(sizeof *p), *bad = malloc(sizeof *bad);
    char why[256], *key, *next, text[sizeof settings];
    unsigned char *out = NULL;
    size_t len = 0;
    int k;
    vae_config_init(&c);
    memcpy(text, settings, sizeof text);
    for (key = text; key; key = next) {
        if ((next = strchr(key, ';')) != NULL)
            *next++ = '\0';
        *strchr(key, '=') = '\0';
        vae_config_set(&c, key, key + strlen(key) + 1, why, sizeof why);
    }
    CHECK(vae_create(&m, &c, NULL) == VAE_OK, "create: %s", vae_error(m));
    CHECK(export_part_load(m, 1, p, why, sizeof why) == 0, "load: %s", why);
    for (k = 0; k < 6; k++) {
        static const char *const what[] = {"unknown activation", "unknown kind", "weights short", "no layers",
                                           "unknown mean", "input size"};
        memcpy(bad, p, sizeof *bad);
        if (k == 0)
            snprintf(bad->layer[0].act, sizeof bad->layer[0].act, "gelu");
        else if (k == 1)
            snprintf(bad->layer[0].kind, sizeof bad->layer[0].kind, "lstm");
        else if (k == 2)
            bad->layer[1].nw--;
        else if (k == 3)
            bad->n = 0;
        else if (k == 4)
            snprintf(bad->mean_act, sizeof bad->mean_act, "softplus");
        else
            bad->layer[1].in[0]++;
        why[0] = '\0';
        out = (unsigned char *)why; /* must come back NULL */
        CHECK(onnx_encode(bad, "bad", &out, &len, why, sizeof why) == -1 && out == NULL && why[0] != '\0' &&
                  !strchr(why, '\n'),
              "%s: not refused, or no reason given (\"%s\")", what[k], why);
    }
    CHECK(onnx_encode(p, "good", &out, &len, why, sizeof why) == 0 && out && len > 0, "the good part: %s", why);
    free(out);
    export_part_free(p);
    vae_free(m);
    free(p);
    free(bad);
}

// ---- models, their files and the checkers ----

static char manifest[16384];
static size_t manifest_len;
static char files[MAX_FILES][64];
static int n_files;

static void append(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (manifest_len < sizeof manifest)
        manifest_len += (size_t)vsnprintf(manifest + manifest_len, sizeof manifest - manifest_len, fmt, ap);
    va_end(ap);
}

/* {"name": VALUE, "data": "MODEL.VALUE.f32", "shape": [N_IMAGES, d...]} */
static void append_value(const char *model, const char *value, const int *d, int n)
{
    int i;
    append("{\"name\": \"%s\", \"data\": \"%s.%s.f32\", \"shape\": [%d", value, model, value, N_IMAGES);
    for (i = 0; i < n; i++)
        append(", %d", d[i]);
    append("]}");
}

/* One part's manifest entry: its file, its input and its outputs. */
static void add_entry(const char *model, int decoder, int z, const int image[3])
{
    snprintf(files[n_files], sizeof files[0], "%s.%s.onnx", model, decoder ? "decoder" : "encoder");
    append("%s    {\"file\": \"%s\", \"inputs\": [", n_files ? ",\n" : "", files[n_files]);
    n_files++;
    append_value(model, decoder ? "z" : "x", decoder ? &z : image, decoder ? 1 : 3);
    append("], \"outputs\": [");
    if (decoder) {
        append_value(model, "mean", image, 3);
    } else {
        append_value(model, "mu", &z, 1);
        append(", ");
        append_value(model, "logvar", &z, 1);
    }
    append("]}");
}

/* v (n floats) to DIR/MODEL.VALUE.f32, little-endian whatever the host. */
static void write_floats(const char *model, const char *value, const float *v, size_t n)
{
    char path[512];
    FILE *f;
    size_t i, written = 0;
    snprintf(path, sizeof path, "%s/%s.%s.f32", tmpdir, model, value);
    if ((f = fopen(path, "wb")) != NULL) {
        for (i = 0; i < n; i++) {
            uint32_t u = pb_float_bits(v[i]);
            unsigned char b[4];
            b[0] = (unsigned char)(u & 0xff), b[1] = (unsigned char)(u >> 8 & 0xff);
            b[2] = (unsigned char)(u >> 16 & 0xff), b[3] = (unsigned char)(u >> 24);
            written += fwrite(b, 1, 4, f) == 4;
        }
        written = fclose(f) == 0 ? written : 0;
    }
    CHECK(written == n, "writing %s", path);
}

/* n images (h, w, c) channels last, as vae keeps them, to (c, h, w). */
static void to_chw(const float *hwc, float *chw, int n, const int image[3])
{
    int i, c, y, x, C = image[0], H = image[1], W = image[2];
    for (i = 0; i < n; i++)
        for (c = 0; c < C; c++)
            for (y = 0; y < H; y++)
                for (x = 0; x < W; x++)
                    chw[(((size_t)i * C + c) * H + y) * W + x] = hwc[(((size_t)i * H + y) * W + x) * C + c];
}

/* The model of t's settings, its weights N(0, 1) * GAIN / sqrt(fan_in)
   and its biases N(0, 0.5^2), so that tanh saturates and ReLUs cut. */
static vae *make_model(const test_model *t)
{
    vae_config c;
    vae *m = NULL;
    vae_rng r;
    char why[256], text[1024], *key, *next;
    int i;
    vae_config_init(&c);
    snprintf(text, sizeof text, "%s", t->settings);
    for (key = text; key; key = next) {
        char *eq = strchr(key, '=');
        if ((next = strchr(key, ';')) != NULL)
            *next++ = '\0';
        if (!eq)
            continue;
        *eq = '\0';
        CHECK(vae_config_set(&c, key, eq + 1, why, sizeof why) == VAE_OK, "%s: %s: %s", t->name, key, why);
    }
    c.seed = t->seed;
    if (vae_create(&m, &c, NULL) != VAE_OK) {
        CHECK(0, "%s: create: %s", t->name, vae_error(m));
        vae_free(m);
        return NULL;
    }
    vae_rng_seed(&r, t->seed);
    for (i = 0; i < vae_tensor_count(m); i++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n, j;
        float *v;
        if (vae_tensor_info(m, i, &name, &ndim, shape) != VAE_OK ||
            (strncmp(name, "enc.", 4) != 0 && strncmp(name, "dec.", 4) != 0))
            continue;
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        v = malloc(n * sizeof *v);
        vae_rng_normal(&r, v, n);
        for (j = 0; j < n; j++)
            v[j] *= ndim > 1 ? t->gain / sqrtf((float)shape[1] * shape[2] * shape[3]) : 0.5f;
        CHECK(vae_set_tensor(m, name, v, n) == VAE_OK, "%s: set %s: %s", t->name, name, vae_error(m));
        free(v);
    }
    return m;
}

/* One part of m to DIR/MODEL.PART.onnx; its image shape into image. */
static void write_part(vae *m, const char *model, int decoder, int image[3])
{
    export_part *p = malloc(sizeof *p);
    unsigned char *encoded = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    char why[256], path[512], graph[64];
    FILE *f;
    const char *part = decoder ? "decoder" : "encoder";
    if (export_part_load(m, decoder, p, why, sizeof why) != 0) {
        CHECK(0, "%s: export %s: %s", model, part, why);
        free(p);
        return;
    }
    memcpy(image, p->image, sizeof p->image);
    snprintf(graph, sizeof graph, "vae %s %s", model, part);
    CHECK(onnx_encode(p, graph, &encoded, &len, why, sizeof why) == 0, "%s %s: %s", model, part, why);
    CHECK(onnx_encode(p, graph, &again, &len2, why, sizeof why) == 0 && len2 == len && encoded &&
              memcmp(encoded, again, len) == 0,
          "%s %s: two encodings differ", model, part);
    /* ModelProto starts with ir_version, field 1 */
    CHECK(encoded && len > 2 && encoded[0] == 0x08 && encoded[1] == ONNX_IR_VERSION, "%s %s: no ir_version first", model,
          part);
    snprintf(path, sizeof path, "%s/%s.%s.onnx", tmpdir, model, part);
    f = fopen(path, "wb");
    CHECK(f && encoded && fwrite(encoded, 1, len, f) == len && fclose(f) == 0, "writing %s", path);
    printf("%-11s %s: %d layers, %lu encoded\n", model, part, p->n, (unsigned long)len);
    add_entry(model, decoder, p->z, p->image);
    free(encoded);
    free(again);
    export_part_free(p);
    free(p);
}

/* Both parts of t's model, N_IMAGES inputs for each and the library's
   outputs for them. */
static void write_model(const test_model *t)
{
    vae *m = make_model(t);
    const vae_config *c;
    vae_rng r;
    float *z, *x, *x_chw, *mu, *logvar, *mean, *mean_chw;
    int image[3] = {0, 0, 0}, Z, D, i;
    if (!m)
        return;
    c = vae_get_config(m);
    Z = c->latent_dim;
    D = c->input_dim;
    z = malloc((size_t)N_IMAGES * Z * sizeof *z);
    mu = malloc((size_t)N_IMAGES * Z * sizeof *mu);
    logvar = malloc((size_t)N_IMAGES * Z * sizeof *logvar);
    x = malloc((size_t)N_IMAGES * D * sizeof *x);
    x_chw = malloc((size_t)N_IMAGES * D * sizeof *x_chw);
    mean = malloc((size_t)N_IMAGES * D * sizeof *mean);
    mean_chw = malloc((size_t)N_IMAGES * D * sizeof *mean_chw);
    vae_rng_seed(&r, t->seed + 100);
    vae_rng_normal(&r, z, (size_t)N_IMAGES * Z);
    for (i = 0; i < N_IMAGES * D; i++)
        x[i] = (float)vae_rng_uniform(&r);

    write_part(m, t->name, 1, image);
    CHECK(vae_decode(m, z, N_IMAGES, mean) == VAE_OK, "%s: decode: %s", t->name, vae_error(m));
    to_chw(mean, mean_chw, N_IMAGES, image);
    write_floats(t->name, "z", z, (size_t)N_IMAGES * Z);
    write_floats(t->name, "mean", mean_chw, (size_t)N_IMAGES * D);

    write_part(m, t->name, 0, image);
    CHECK(vae_encode(m, x, N_IMAGES, mu, logvar) == VAE_OK, "%s: encode: %s", t->name, vae_error(m));
    to_chw(x, x_chw, N_IMAGES, image);
    write_floats(t->name, "x", x_chw, (size_t)N_IMAGES * D);
    write_floats(t->name, "mu", mu, (size_t)N_IMAGES * Z);
    write_floats(t->name, "logvar", logvar, (size_t)N_IMAGES * Z);

    free(z), free(mu), free(logvar), free(x), free(x_chw), free(mean), free(mean_chw);
    vae_free(m);
}

/* Runs a checker over the manifest: each file it says "ok FILE" of
   passes, each other fails; without the checker, each is skipped. */
static void run_checker(const char *what, const char *cmd, int have, const char *missing)
{
    int ok[MAX_FILES] = {0}, i, status;
    char line[2048];
    FILE *p;
    if (!have) {
        for (i = 0; i < n_files; i++)
            SKIP("%s: %s (%s)", files[i], what, missing);
        return;
    }
    if (!(p = test_popen(cmd, "r"))) {
        CHECK(0, "cannot run %s", cmd);
        return;
    }
    while (fgets(line, sizeof line, p)) {
        printf("  %s", line);
        for (i = 0; i < n_files; i++) {
            size_t n = strlen(files[i]);
            if (strncmp(line, "ok ", 3) == 0 && strncmp(line + 3, files[i], n) == 0 &&
                (line[3 + n] == ' ' || line[3 + n] == '\n'))
                ok[i] = 1;
        }
    }
    status = test_pclose(p);
    for (i = 0; i < n_files; i++)
        CHECK(ok[i], "%s: %s did not pass it", files[i], what);
    CHECK(status == 0, "%s exited with status %d", what, status);
}

int main(void)
{
    const char *python = getenv("ONNX_PYTHON") && *getenv("ONNX_PYTHON") ? getenv("ONNX_PYTHON") : "/usr/bin/python3";
    char cmd[1024], path[512];
    FILE *f;
    size_t i;
    int have_onnx, have_ort;
    snprintf(tmpdir, sizeof tmpdir, "build/test_onnx.XXXXXX");
    if (!test_mkdtemp(tmpdir)) {
        printf("FAIL cannot create a temporary directory %s (run from the repository root)\n", tmpdir);
        return 1;
    }
    test_protobuf();
    test_refusals();
    for (i = 0; i < sizeof models / sizeof models[0]; i++)
        write_model(&models[i]);
    snprintf(path, sizeof path, "%s/manifest.json", tmpdir);
    f = fopen(path, "wb");
    CHECK(f && manifest_len < sizeof manifest && fprintf(f, "{\"models\": [\n%s\n]}\n", manifest) > 0 &&
              fclose(f) == 0,
          "writing %s", path);

    snprintf(cmd, sizeof cmd, "'%s' -c 'import onnx' >/dev/null 2>&1", python);
    have_onnx = !strchr(python, '\'') && system(cmd) == 0;
    have_ort = system("node tests/onnx/run.js --version >/dev/null 2>&1") == 0;
    if (!have_onnx)
        printf("no onnx for %s: not checked (Debian: apt-get install python3-onnx)\n", python);
    if (!have_ort)
        printf("no node with onnxruntime-node: not run (npm ci --prefix tests/onnx)\n");
    snprintf(cmd, sizeof cmd, "'%s' tests/onnx/check.py '%s' 2>&1", python, tmpdir);
    run_checker("onnx's checker", cmd, have_onnx, "no python3-onnx");
    snprintf(cmd, sizeof cmd, "node tests/onnx/run.js '%s' 2>&1", tmpdir);
    run_checker("onnxruntime", cmd, have_ort, "no node with onnxruntime-node");

    if (!check_failed) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            printf("note: could not remove %s\n", tmpdir);
    } else {
        printf("files kept in %s\n", tmpdir);
    }
    return check_summary();
}
