/* test_report.c — tools/report.c: report.html and its explorer's decoder.

   Builds the page for models covering every activation, 0, 1 and 2 hidden
   layers, Z = 1, 2 and > 2 and both likelihoods, with weights large enough
   that the activations leave their linear region, and checks without a
   browser: the embedded weights decode (base64, little-endian float32) to
   the model's exactly; text is escaped; missing parts say so; the page for
   the reference model (784-200-200-50) is at most 3 MB and refers to
   nothing outside itself. Then it opens each page with #selftest in headless
   Chromium (the CHROMIUM environment variable names another binary) and
   checks that the page's script raised no error, read the check vectors
   exactly, and decoded them to vae_decode's means within 1e-4. Without
   Chromium those checks are skipped.

   Run from the repository root: the pages are written to build/report/. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* popen, mkdtemp */
#endif
#include "../tools/report.c"
#include "../vae.c"
#include "check.h"
#include "portable.h"

#include <stdlib.h>

#define N_CHECK 64
#define TOL 1e-4
#define MAX_PAGE 3000000 /* bytes, for the reference model */
#define OUT_DIR "build/report"

typedef struct {
    const char *name;
    vae_activation activation;
    int n_hidden, hidden[2];
    int latent;
    vae_likelihood likelihood;
    float sigma;                           /* Gaussian: 0 learns it */
    int input_dim, rows, cols, channels;   /* geometry 0: the page picks */
    int reference;                         /* 784-200-200-50, with pictures */
    const char *decoder, *mean;            /* NULL: the MLP, the sigmoid */
} test_case;

/* Between them: each activation, 0, 1 and 2 hidden layers, Z = 1, 2 and
   > 2, both likelihoods (sigma learned and fixed), and each way the page
   lays out an image (given, square, one row, colour, a tile per channel).
   Each case costs a Chromium start, about 2 s. */
static const test_case cases[] = {
    {"tanh-h0-z1", VAE_TANH, 0, {0, 0}, 1, VAE_BERNOULLI, 0, 16, 0, 0, 0, 0, NULL, NULL},
    {"relu-h1-z2-gaussian", VAE_RELU, 1, {9, 0}, 2, VAE_GAUSSIAN, 0, 12, 0, 0, 0, 0, NULL, NULL},
    {"leakyrelu-h2-z5-colour", VAE_LEAKY_RELU, 2, {11, 7}, 5, VAE_BERNOULLI, 0, 60, 4, 5, 3, 0, NULL, NULL},
    {"relu-h2-z3-gaussian-2ch", VAE_RELU, 2, {8, 6}, 3, VAE_GAUSSIAN, 0.1f, 12, 2, 3, 2, 0, NULL, NULL},
    {"reference", VAE_TANH, 2, {200, 200}, 50, VAE_BERNOULLI, 0, 784, 28, 28, 1, 1, NULL, NULL},
    /* conv decoders: the course's model A in small (a view, ReLU after
       it, a linear Gaussian mean), and strides, padding and colour */
    {"conv-a-z2-linear", VAE_RELU, 0, {0, 0}, 2, VAE_GAUSSIAN, 0, 144, 12, 12, 1, 0,
     "fc 128,view 8 4 4,relu,convt 8 5,relu,convt 1 5", "linear"},
    {"conv-strided-z3-colour", VAE_TANH, 0, {0, 0}, 3, VAE_BERNOULLI, 0, 192, 8, 8, 3, 0,
     "fc 64,tanh,fc 128,leakyrelu,view 8 4 4,convt 4 3 s2 p1 o1,relu,convt 3 3 p1", NULL},
};

// ---- helpers ----

static const char *chromium(void)
{
    const char *c = getenv("CHROMIUM");
    return c && *c ? c : "chromium";
}

static int have_chromium(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "command -v '%s' >/dev/null 2>&1", chromium());
    return system(cmd) == 0;
}

/* Decoder weights N(0, 1) * 2.5 / sqrt(fan_in), biases N(0, 0.5^2): the
   pre-activations have a standard deviation of about 2.5, so tanh
   saturates, ReLUs cut and sigmoids reach 0 and 1. */
static void set_weights(vae *m, uint64_t seed)
{
    vae_rng r;
    int i, count = vae_tensor_count(m);
    vae_rng_seed(&r, seed);
    for (i = 0; i < count; i++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n, j;
        float *v;
        if (vae_tensor_info(m, i, &name, &ndim, shape) != VAE_OK || strncmp(name, "dec.", 4) != 0)
            continue;
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        v = malloc(n * sizeof *v);
        vae_rng_normal(&r, v, n);
        for (j = 0; j < n; j++)
            v[j] *= ndim > 1 ? 2.5f / sqrtf((float)shape[1] * shape[2] * shape[3]) : 0.5f;
        CHECK(vae_set_tensor(m, name, v, n) == VAE_OK, "set %s: %s", name, vae_error(m));
        free(v);
    }
}

/* "key value" lines for every configuration field. */
static char *config_lines(const vae_config *c)
{
    const vae_field *fields;
    int count = vae_config_fields(&fields), i;
    size_t len = 0, cap = 64 * (size_t)count + 1;
    char *text = malloc(cap), value[256];
    text[0] = '\0';
    for (i = 0; i < count; i++)
        if (vae_config_get(c, fields[i].key, value, sizeof value) >= 0)
            len += (size_t)snprintf(text + len, cap - len, "%s %s\n", fields[i].key, value);
    return text;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A greyscale PNG of grey (h, w), its deflate stream in stored blocks. */
static unsigned char *make_png(const unsigned char *grey, int w, int h, size_t *len)
{
    size_t raw_len = (size_t)h * (w + 1), blocks = raw_len / 65535 + 1;
    size_t idat_len = 2 + raw_len + 5 * blocks + 4, at, done;
    unsigned char *raw = malloc(raw_len), *png = malloc(8 + 25 + 12 + idat_len + 12), *p;
    uint32_t a = 1, b = 0;
    size_t i;
    int y;
    for (y = 0; y < h; y++) {
        raw[(size_t)y * (w + 1)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (w + 1) + 1, grey + (size_t)y * w, (size_t)w);
    }
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    p = png + 8;
    put_be32(p, 13);
    memcpy(p + 4, "IHDR", 4);
    put_be32(p + 8, (uint32_t)w);
    put_be32(p + 12, (uint32_t)h);
    memcpy(p + 16, "\x08\x00\x00\x00\x00", 5); /* 8 bits, grey, deflate, filters, no interlace */
    put_be32(p + 21, vae_crc32(0, p + 4, 17));
    p += 25;
    put_be32(p, (uint32_t)idat_len);
    memcpy(p + 4, "IDAT", 4);
    at = 8;
    p[at++] = 0x78, p[at++] = 0x01;
    for (done = 0; done < raw_len || done == 0;) {
        size_t n = raw_len - done < 65535 ? raw_len - done : 65535;
        p[at++] = done + n == raw_len ? 1 : 0;
        p[at++] = (unsigned char)(n & 0xff), p[at++] = (unsigned char)(n >> 8);
        p[at++] = (unsigned char)(~n & 0xff), p[at++] = (unsigned char)(~n >> 8 & 0xff);
        memcpy(p + at, raw + done, n);
        at += n, done += n;
        if (n == 0)
            break;
    }
    for (i = 0; i < raw_len; i++)
        a = (a + raw[i]) % 65521, b = (b + a) % 65521;
    put_be32(p + at, b << 16 | a);
    at += 4;
    put_be32(p + at, vae_crc32(0, p + 4, at - 4));
    p += at + 4;
    put_be32(p, 0);
    memcpy(p + 4, "IEND", 4);
    put_be32(p + 8, vae_crc32(0, p + 4, 4));
    p += 12;
    *len = (size_t)(p - png);
    free(raw);
    return png;
}

/* n images (n, side * side) of the model's samples, tiled 8 across. */
static unsigned char *samples_png(vae *m, int n, int side, size_t *len)
{
    int across = 8, down = (n + across - 1) / across, w = across * side, h = down * side, i, y, x;
    float *mean = malloc((size_t)n * side * side * sizeof *mean);
    unsigned char *grey = calloc((size_t)w * h, 1), *png;
    CHECK(vae_sample(m, n, mean) == VAE_OK, "sample: %s", vae_error(m));
    for (i = 0; i < n; i++)
        for (y = 0; y < side; y++)
            for (x = 0; x < side; x++) {
                float v = mean[(size_t)i * side * side + y * side + x];
                grey[(size_t)(i / across * side + y) * w + i % across * side + x] =
                    (unsigned char)(255.0f * (v < 0 ? 0 : v > 1 ? 1 : v) + 0.5f);
            }
    png = make_png(grey, w, h, len);
    free(mean);
    free(grey);
    return png;
}

static const char curves_svg[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
    "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"200\" viewBox=\"0 0 640 200\">"
    "<rect width=\"640\" height=\"200\" fill=\"#fff\"/>"
    "<polyline fill=\"none\" stroke=\"#2563c9\" stroke-width=\"2\" "
    "points=\"40,180 120,90 200,70 280,60 360,55 440,52 520,50 600,49\"/>"
    "<polyline fill=\"none\" stroke=\"#d9480f\" stroke-width=\"2\" "
    "points=\"40,182 120,100 200,84 280,78 360,76 440,75 520,75 600,76\"/>"
    "<text x=\"40\" y=\"20\" font-size=\"12\">bound (nats) by epoch: train, test</text></svg>\n";

static const char scatter_svg[] =
    "<?xml version=\"1.0\"?>"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"300\" viewBox=\"-3 -3 6 6\">"
    "<circle cx=\"0.5\" cy=\"-1\" r=\"0.08\" fill=\"#2563c9\"/>"
    "<circle cx=\"-1.2\" cy=\"0.3\" r=\"0.08\" fill=\"#d9480f\"/>"
    "<circle cx=\"1.7\" cy=\"1.1\" r=\"0.08\" fill=\"#2f9e44\"/></svg>";

/* The text of <pre id="ID">...</pre> in a dumped DOM (malloc'ed), or NULL. */
static char *pre_text(const char *dom, const char *id)
{
    char open[64];
    const char *from, *to;
    char *text;
    snprintf(open, sizeof open, "<pre id=\"%s\">", id);
    if (!(from = strstr(dom, open)) || !(to = strstr(from, "</pre>")))
        return NULL;
    from += strlen(open);
    text = malloc((size_t)(to - from) + 1);
    memcpy(text, from, (size_t)(to - from));
    text[to - from] = '\0';
    return text;
}

/* The matrix after "KEY": in the self-test's JSON, into v (rows, cols).
   Returns its rows, or -1 when it is malformed or a row is not cols long. */
static int parse_matrix(const char *json, const char *key, double *v, int max_rows, int cols)
{
    const char *s = strstr(json, key);
    int depth = 0, rows = 0, in_row = 0;
    if (!s || !(s = strchr(s, '[')))
        return -1;
    for (;;) {
        char *end;
        if (*s == '[') {
            if (++depth == 2)
                in_row = 0;
            s++;
        } else if (*s == ']') {
            if (depth-- == 2) {
                if (in_row != cols)
                    return -1;
                rows++;
            }
            s++;
            if (depth == 0)
                return rows;
        } else if (*s == ',' || *s == ' ' || *s == '\n') {
            s++;
        } else if (depth == 2) {
            double x = strtod(s, &end);
            if (end == s || rows >= max_rows || in_row >= cols)
                return -1;
            v[(size_t)rows * cols + in_row++] = x;
            s = end;
        } else {
            return -1;
        }
    }
}

/* Bytes of base64 text (up to the closing quote) into out; their count. */
static size_t unbase64(const char *s, unsigned char *out, size_t max)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s && *s != '"' && *s != '='; s++) {
        const char *d = strchr(digits, *s);
        if (!d)
            return 0;
        acc = acc << 6 | (unsigned long)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == max)
                return 0;
            out[n++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    return n;
}

/* The page's base64 for layer's tensor part ("weight" or "bias") decodes
   to exactly the model's values. */
static void check_embedded(vae *m, const char *page, const char *layer_name, const char *part, size_t count)
{
    char key[64], name[64];
    const char *s;
    unsigned char *raw = malloc(count * 4 + 3);
    float *want = malloc(count * sizeof *want);
    size_t i, bad = 0;
    snprintf(key, sizeof key, "{\"name\": \"%s\",", layer_name);
    snprintf(name, sizeof name, "%s.%s", layer_name, part);
    s = strstr(page, key);
    CHECK(s != NULL, "layer_name %s in the page", layer_name);
    if (s) {
        snprintf(key, sizeof key, "\"%s\": \"", part);
        s = strstr(s, key);
        CHECK(s && unbase64(s + strlen(key), raw, count * 4 + 3) == count * 4, "%s: %lu values", name,
              (unsigned long)count);
        vae_get_tensor(m, name, want, count);
        for (i = 0; s && i < count; i++) {
            uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                         (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24, w;
            memcpy(&w, &want[i], 4);
            bad += u != w;
        }
        CHECK(bad == 0, "%s: %lu of %lu values differ from the model's", name, (unsigned long)bad,
              (unsigned long)count);
    }
    free(raw);
    free(want);
}

/* The page refers to nothing outside itself. */
static void check_self_contained(const char *page, const char *what)
{
    static const char svg_ns[] = "http://www.w3.org/2000/svg";
    const char *s;
    int other = 0;
    for (s = strstr(page, "http://"); s; s = strstr(s + 1, "http://"))
        other += strncmp(s, svg_ns, strlen(svg_ns)) != 0;
    CHECK(other == 0, "%s: %d http:// references besides the SVG namespace", what, other);
    CHECK(strstr(page, "https://") == NULL, "%s: an https:// reference", what);
    CHECK(strstr(page, "<script src") == NULL && strstr(page, "<link") == NULL, "%s: an external script or style",
          what);
    CHECK(strstr(page, "<?xml") == NULL && strstr(page, "<!DOCTYPE svg") == NULL,
          "%s: an SVG's XML declaration or DOCTYPE kept", what);
}

/* Opens path#selftest in headless Chromium; the DOM it dumps (malloc'ed),
   or NULL. */
static char *dump_dom(const char *path)
{
    char profile[] = "/tmp/test_report.XXXXXX", cmd[8192];
    char *dom = NULL;
    size_t len = 0, cap = 1 << 20, got;
    FILE *p;
    if (strchr(path, '\'') || !test_mkdtemp(profile))
        return NULL;
    snprintf(cmd, sizeof cmd,
             "'%s' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--user-data-dir=%s --dump-dom 'file://%s#selftest' 2>/dev/null",
             chromium(), profile, path);
    if ((p = test_popen(cmd, "r")) != NULL) {
        dom = malloc(cap);
        while ((got = fread(dom + len, 1, cap - len - 1, p)) > 0)
            if ((len += got) == cap - 1)
                dom = realloc(dom, cap *= 2);
        dom[len] = '\0';
        test_pclose(p);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", profile);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", profile);
    return dom;
}

/* The page's self-test against vae_decode: no errors, the z vectors read
   back exactly, every mean within TOL. */
static void check_in_browser(vae *m, const test_case *t, const char *path, const float *z)
{
    const vae_config *c = vae_get_config(m);
    int Z = c->latent_dim, D = c->input_dim, i, rows_z, rows_mean, z_exact = 1;
    char *dom = dump_dom(path), *errors, *selftest;
    double *page_z = malloc((size_t)N_CHECK * Z * sizeof *page_z);
    double *page_mean = malloc((size_t)N_CHECK * D * sizeof *page_mean), worst = 0.0;
    float *mean = malloc((size_t)N_CHECK * D * sizeof *mean);
    CHECK(dom != NULL && strstr(dom, "<html") != NULL, "%s: Chromium dumped no page", t->name);
    if (!dom)
        goto done;
    errors = pre_text(dom, "errors");
    selftest = pre_text(dom, "selftest");
    CHECK(errors && errors[0] == '\0', "%s: the page reported errors: %s", t->name, errors ? errors : "(no <pre>)");
    CHECK(selftest && selftest[0], "%s: the self-test wrote nothing", t->name);
    if (selftest && selftest[0]) {
        rows_z = parse_matrix(selftest, "\"z\":", page_z, N_CHECK, Z);
        rows_mean = parse_matrix(selftest, "\"mean\":", page_mean, N_CHECK, D);
        CHECK(rows_z == N_CHECK && rows_mean == N_CHECK, "%s: self-test has %d z and %d means, not %d", t->name,
              rows_z, rows_mean, N_CHECK);
        CHECK(vae_decode(m, z, N_CHECK, mean) == VAE_OK, "decode: %s", vae_error(m));
        if (rows_z == N_CHECK && rows_mean == N_CHECK) {
            for (i = 0; i < N_CHECK * Z; i++)
                z_exact &= (float)page_z[i] == z[i];
            for (i = 0; i < N_CHECK * D; i++) {
                double diff = fabs(page_mean[i] - mean[i]);
                worst = diff > worst || diff != diff ? diff : worst;
            }
            CHECK(z_exact, "%s: the page's z differ from the ones given", t->name);
            CHECK(worst <= TOL, "%s: the page's means differ from vae_decode's by %.3g", t->name, worst);
            printf("%-26s max |JS - C| = %.2e over %d x %d means\n", t->name, worst, N_CHECK, D);
        }
    }
    free(errors);
    free(selftest);
done:
    free(dom);
    free(page_z);
    free(page_mean);
    free(mean);
}

// ---- one case ----

static void run_case(const test_case *t, int browser)
{
    vae_config cfg;
    vae *m;
    report_inputs in;
    char *config = NULL, *page = NULL, path[4096], cwd[2048];
    float *z = malloc((size_t)N_CHECK * t->latent * sizeof *z);
    double *mean = NULL, *dir = NULL;
    unsigned char *samples = NULL;
    vae_rng r;
    int i, l;
    FILE *f;

    vae_config_init(&cfg);
    cfg.input_dim = t->input_dim;
    cfg.image_rows = t->rows, cfg.image_cols = t->cols, cfg.image_channels = t->channels;
    cfg.latent_dim = t->latent;
    cfg.n_hidden = t->n_hidden;
    for (i = 0; i < t->n_hidden; i++)
        cfg.hidden[i] = t->hidden[i];
    cfg.activation = t->activation;
    cfg.likelihood = t->likelihood;
    cfg.sigma = t->sigma;
    cfg.max_batch = N_CHECK;
    CHECK(vae_config_set(&cfg, "decoder", t->decoder ? t->decoder : "", NULL, 0) == VAE_OK &&
              vae_config_set(&cfg, "mean", t->mean ? t->mean : "sigmoid", NULL, 0) == VAE_OK,
          "%s: the decoder", t->name);
    CHECK(vae_create(&m, &cfg, NULL) == VAE_OK, "%s: create: %s", t->name, vae_error(m));
    set_weights(m, 1000 + (uint64_t)(t - cases));

    vae_rng_seed(&r, 7 + (uint64_t)(t - cases));
    vae_rng_normal(&r, z, (size_t)N_CHECK * t->latent);
    config = config_lines(vae_get_config(m));

    memset(&in, 0, sizeof in);
    in.title = t->reference ? "out/reference" : "runs/<test> & \"quotes\"";
    in.config_text = config;
    in.summary = "epoch 3: train -96.53, test -107.11 nats per image";
    in.check_z = z;
    in.n_check = N_CHECK;
    if (t->latent > 2) { /* a plane a little off the axes */
        mean = calloc((size_t)t->latent, sizeof *mean);
        dir = calloc((size_t)2 * t->latent, sizeof *dir);
        for (i = 0; i < t->latent; i++)
            mean[i] = 0.1 * (i % 3);
        dir[0] = dir[1] = sqrt(0.5);
        dir[t->latent + 1] = sqrt(0.5), dir[t->latent] = -sqrt(0.5);
        in.plane_mean = mean, in.plane_dir = dir;
        in.extent[0] = 2.5, in.extent[1] = 1.5;
    }
    if (t->reference) {
        in.curves_svg = curves_svg;
        in.scatter_svg = scatter_svg;
        in.samples_png = samples = samples_png(m, 32, 28, &in.samples_len);
        in.recon_png = samples, in.recon_len = in.samples_len;
    } else if (t->latent == 2) {
        in.scatter_svg = scatter_svg;
    }

    CHECK(report_html(m, &in, &page) == 0 && page, "%s: report_html failed", t->name);
    if (!page)
        goto done;

    /* the embedded decoder is the model's, bit for bit */
    for (l = 0; l < vae_layer_count(m); l++) {
        vae_layer L;
        int c, ndim, shape[VAE_MAX_DIMS];
        const char *name;
        if (vae_layer_info(m, l, &L) != VAE_OK || !L.decoder)
            continue;
        for (c = 0; c < vae_tensor_count(m); c++) {
            size_t len = strlen(L.name);
            vae_tensor_info(m, c, &name, &ndim, shape);
            if (strncmp(name, L.name, len) == 0 && name[len] == '.')
                check_embedded(m, page, L.name, name + len + 1,
                               (size_t)shape[0] * shape[1] * shape[2] * shape[3]);
        }
    }
    check_self_contained(page, t->name);
    CHECK(strstr(page, "<pre id=\"selftest\"></pre>") && strstr(page, "<pre id=\"errors\"></pre>"),
          "%s: the self-test's <pre> elements", t->name);
    CHECK(strstr(page, "<th>latent_dim</th>") != NULL, "%s: the configuration table", t->name);
    if (t->reference) {
        printf("%-26s page: %lu bytes\n", t->name, (unsigned long)strlen(page));
        CHECK(strlen(page) <= MAX_PAGE, "reference page is %lu bytes, over %d", (unsigned long)strlen(page),
              MAX_PAGE);
        CHECK(strstr(page, "<title>out/reference") != NULL, "title");
        CHECK(strstr(page, "src=\"data:image/png;base64,iVBORw0KGgo") != NULL, "PNG inlined");
        CHECK(strstr(page, "not available") == NULL, "every part given, none missing");
    } else {
        CHECK(strstr(page, "runs/&lt;test&gt; &amp; &quot;quotes&quot;") && !strstr(page, "<test>"),
              "%s: the title escaped", t->name);
        CHECK(strstr(page, "<p class=\"na\">Training curves: not available.</p>") &&
                  strstr(page, "<p class=\"na\">Samples: not available.</p>") &&
                  strstr(page, "<p class=\"na\">Reconstructions: not available.</p>"),
              "%s: missing parts said to be missing", t->name);
    }

    test_mkdir("build");
    test_mkdir(OUT_DIR);
    if (!test_getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    snprintf(path, sizeof path, "%s/" OUT_DIR "/%s.html", cwd, t->name);
    f = fopen(path, "wb");
    CHECK(f && fwrite(page, 1, strlen(page), f) == strlen(page) && fclose(f) == 0, "write %s", path);
    if (browser)
        check_in_browser(m, t, path, z);
    else
        SKIP("%s: no %s to run the page's self-test (set CHROMIUM)", t->name, chromium());

done:
    free(page);
    free(config);
    free(z);
    free(mean);
    free(dir);
    free(samples);
    vae_free(m);
}

// ---- failures ----

static void test_refusals(void)
{
    vae_config cfg;
    vae *m;
    report_inputs in;
    char *page = (char *)1;
    float z[2] = {0, 0};
    vae_config_init(&cfg);
    cfg.input_dim = 4, cfg.latent_dim = 2, cfg.n_hidden = 0;
    CHECK(vae_create(&m, &cfg, NULL) == VAE_OK, "create: %s", vae_error(m));
    memset(&in, 0, sizeof in);
    CHECK(report_html(NULL, &in, &page) == -1 && page == NULL, "no model");
    CHECK(report_html(m, NULL, &page) == -1, "no inputs");
    CHECK(report_html(m, &in, NULL) == -1, "no place for the page");
    in.n_check = 1;
    CHECK(report_html(m, &in, &page) == -1, "check vectors counted but not given");
    in.check_z = z;
    CHECK(report_html(m, &in, &page) == 0 && page, "all optional parts missing: a page");
    CHECK(page && strstr(page, "Configuration: not available") && strstr(page, "Final bounds: not available"),
          "missing configuration and summary said to be missing");
    CHECK(page && strstr(page, "<title>VAE report</title>"), "a title without one given");
    free(page);
    vae_free(m);

    cfg.latent_dim = 0; /* a model that failed to be made */
    CHECK(vae_create(&m, &cfg, NULL) != VAE_OK, "latent_dim 0 refused");
    CHECK(report_html(m, &in, &page) == -1 && page == NULL, "a model that could not be made");
    vae_free(m);
}

int main(void)
{
    size_t i;
    int browser = have_chromium();
    test_refusals();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], browser);
    return check_summary();
}
