/* svg.c — SVG line charts and scatter plots; see svg.h. */
#include "svg.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 640
#define HEIGHT 400
#define MARGIN_LEFT 72   /* room for the y tick numbers and the y label */
#define MARGIN_TOP 40    /* the title */
#define MARGIN_BOTTOM 52 /* the x tick numbers and the x label */
#define LEGEND_ROW 18
#define CHAR_WIDTH 7     /* a 12 px sans-serif character, about, to size the legend */
#define BIG 1e300        /* values are clamped to +-BIG so that spans and padding stay finite */
#define MAX_TICKS 16
#define MAX_LEGEND 1000  /* entries: more would make a canvas tens of thousands of pixels tall */

static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static const char *colour(int i)
{
    return palette[(i % 10 + 10) % 10];
}

// ---- text ----

/* A growing NUL-terminated string; after a failed allocation every
   further write is dropped and failed says so. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} strbuf;

/* Makes room for n more bytes and the NUL. */
static int reserve(strbuf *t, size_t n)
{
    size_t cap = t->cap ? t->cap : 4096;
    char *p;
    if (t->failed || n >= SIZE_MAX - t->len)
        goto fail;
    while (cap - t->len <= n) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    if (cap != t->cap) {
        if (!(p = realloc(t->p, cap)))
            goto fail;
        t->p = p;
        t->cap = cap;
    }
    return 0;
fail:
    t->failed = 1;
    return -1;
}

/* printf to the end of t. Only integers and strings go through here: %f
   and %g would take the locale's decimal point. */
static void put(strbuf *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(t, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The length of the valid UTF-8 character at u that XML allows, or 0
   (overlong forms, surrogates, past U+10FFFF, U+FFFE and U+FFFF). */
static int utf8_char(const unsigned char *u)
{
    uint32_t c;
    int n = u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : u[0] >= 0xc2 ? 2 : 0, i;
    if (u[0] < 0x80)
        return 1;
    if (!n || u[0] > 0xf4)
        return 0;
    c = u[0] & (0x7fu >> n);
    for (i = 1; i < n; i++) { /* a NUL stops this, as it is no continuation byte */
        if ((u[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (u[i] & 0x3fu);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c < 0xe000) ||
        c == 0xfffe || c == 0xffff)
        return 0;
    return n;
}

/* s as XML character data, safe in attributes too (NULL: nothing). */
static void put_escaped(strbuf *t, const char *s)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    while (*u) {
        int n = utf8_char(u);
        const char *entity = *u == '&' ? "&amp;" : *u == '<' ? "&lt;" : *u == '>' ? "&gt;" : *u == '"' ? "&quot;"
                             : *u == '\'' ? "&#39;" : NULL;
        if (entity) {
            put(t, "%s", entity);
        } else if (n == 0 || *u < 0x20 || *u == 0x7f) {
            put(t, "?");
            n = 1;
        } else if (reserve(t, (size_t)n) == 0) {
            memcpy(t->p + t->len, u, (size_t)n);
            t->len += (size_t)n;
            t->p[t->len] = '\0';
        }
        u += n;
    }
}

/* A pixel coordinate with one decimal, built from integers so that no
   locale can turn the point into a comma; clamped far off the canvas (0
   for NaN, which the callers never pass). */
static void put_coord(strbuf *t, double v)
{
    long tenths = isnan(v) ? 0 : lround(v < -1e6 ? -1e7 : v > 1e6 ? 1e7 : v * 10);
    unsigned long a = (unsigned long)(tenths < 0 ? -tenths : tenths);
    put(t, tenths < 0 ? "-%lu" : "%lu", a / 10);
    if (a % 10)
        put(t, ".%lu", a % 10);
}

/* v with prec significant digits, as %g, into buf; printf's decimal point
   is LC_NUMERIC's, so a '.' goes back in its place. */
static void format_number(char *buf, size_t size, double v, int prec)
{
    const char *dp = localeconv()->decimal_point;
    size_t dl = dp ? strlen(dp) : 0;
    char *at;
    snprintf(buf, size, "%.*g", prec, v);
    if (dl == 0 || (dl == 1 && dp[0] == '.') || !(at = strstr(buf, dp)))
        return;
    *at = '.';
    memmove(at + 1, at + dl, strlen(at + dl) + 1);
}

// ---- axes ----

typedef struct {
    double lo, hi;            /* data range, padded */
    double ticks[MAX_TICKS];
    int n_ticks, prec;        /* prec: significant digits that tell the ticks apart */
} axis;

typedef struct {
    axis x, y;
    double left, right, top, bottom; /* the plot area, in pixels */
    int width, height;
} frame;

static double clamp_big(double v)
{
    return v < -BIG ? -BIG : v > BIG ? BIG : v;
}

/* Pads [lo, hi] by 5% a side (a range too narrow for its magnitude, by
   10% of the value, or to [-1, 1] around 0) and picks ticks 1, 2 or 5
   times a power of ten apart, about five of them. */
static void axis_init(axis *a, double lo, double hi)
{
    double span, step, mag, f, k, mx;
    if (!(hi - lo > 1e-12 * fmax(fabs(lo), fabs(hi))) || hi - lo < 1e-290) {
        double d = fmax(fabs(lo), fabs(hi)) * 0.1;
        d = d < 1e-290 ? 1 : d;
        lo -= d;
        hi += d;
    } else {
        span = hi - lo;
        lo -= 0.05 * span;
        hi += 0.05 * span;
    }
    a->lo = lo;
    a->hi = hi;
    span = hi - lo;
    mag = pow(10, floor(log10(span / 5)));
    f = span / 5 / mag;
    step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    a->n_ticks = 0;
    for (k = ceil(lo / step); k * step <= hi && a->n_ticks < MAX_TICKS; k++) {
        double v = fabs(k * step) < 1e-6 * step ? 0 : k * step;
        if (a->n_ticks == 0 || v > a->ticks[a->n_ticks - 1])
            a->ticks[a->n_ticks++] = v;
    }
    mx = fmax(fabs(lo), fabs(hi));
    a->prec = (int)(floor(log10(mx)) - floor(log10(step))) + 1;
    a->prec = a->prec < 6 ? 6 : a->prec > 15 ? 15 : a->prec;
}

static double px(const frame *f, double x)
{
    return f->left + (clamp_big(x) - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
}

static double py(const frame *f, double y)
{
    return f->bottom - (clamp_big(y) - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
}

/* Grows [*lo, *hi] (empty when *lo > *hi) to take in the finite x[i],
   y[i]; returns how many were finite. */
static int extend(const double *x, const double *y, int n, double lo[2], double hi[2])
{
    int i, finite = 0;
    for (i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) {
            double v[2] = {clamp_big(x[i]), clamp_big(y[i])};
            int d;
            for (d = 0; d < 2; d++) {
                lo[d] = fmin(lo[d], v[d]);
                hi[d] = fmax(hi[d], v[d]);
            }
            finite++;
        }
    return finite;
}

/* Sizes the canvas for a legend of n_names entries as long as the longest
   name, and the axes for the data range lo..hi. */
static void frame_init(frame *f, const double lo[2], const double hi[2], size_t longest, int n_names)
{
    int legend = n_names ? 44 + CHAR_WIDTH * (int)(longest < 24 ? longest : 24) : 16;
    f->width = WIDTH;
    f->height = HEIGHT;
    if (n_names > (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) / LEGEND_ROW)
        f->height = MARGIN_TOP + MARGIN_BOTTOM + LEGEND_ROW * n_names;
    f->left = MARGIN_LEFT;
    f->right = WIDTH - legend;
    f->top = MARGIN_TOP;
    f->bottom = f->height - MARGIN_BOTTOM;
    axis_init(&f->x, lo[0], hi[0]);
    axis_init(&f->y, lo[1], hi[1]);
}

/* The document's head, title, grid, ticks with numbers, axis box and
   labels, up to where the data go. */
static void put_frame(strbuf *t, const frame *f, const char *title, const char *xlabel, const char *ylabel)
{
    char num[64];
    int i;
    put(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<title>",
        f->width, f->height, f->width, f->height);
    put_escaped(t, title);
    put(t, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put(t, "<text class=\"title\" x=\"");
    put_coord(t, (f->left + f->right) / 2);
    put(t, "\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">");
    put_escaped(t, title);
    put(t, "</text>\n<g class=\"ticks\" font-size=\"11\" fill=\"#333\">\n");
    for (i = 0; i < f->x.n_ticks; i++) {
        double x = px(f, f->x.ticks[i]);
        format_number(num, sizeof num, f->x.ticks[i], f->x.prec);
        put(t, "<path d=\"M");
        put_coord(t, x);
        put(t, " %d V%d\" stroke=\"#e0e0e0\"/><text x=\"", (int)f->top, (int)f->bottom + 5);
        put_coord(t, x);
        put(t, "\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (int)f->bottom + 18, num);
    }
    for (i = 0; i < f->y.n_ticks; i++) {
        double y = py(f, f->y.ticks[i]);
        format_number(num, sizeof num, f->y.ticks[i], f->y.prec);
        put(t, "<path d=\"M%d ", (int)f->left - 5);
        put_coord(t, y);
        put(t, " H%d\" stroke=\"#e0e0e0\"/><text x=\"%d\" y=\"", (int)f->right, (int)f->left - 8);
        put_coord(t, y);
        put(t, "\" dy=\"0.35em\" text-anchor=\"end\">%s</text>\n", num);
    }
    put(t, "</g>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
        (int)f->left, (int)f->top, (int)(f->right - f->left), (int)(f->bottom - f->top));
    put(t, "<text class=\"xlabel\" x=\"");
    put_coord(t, (f->left + f->right) / 2);
    put(t, "\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">", f->height - 12);
    put_escaped(t, xlabel);
    put(t, "</text>\n<text class=\"ylabel\" transform=\"translate(18 ");
    put_coord(t, (f->top + f->bottom) / 2);
    put(t, ") rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">");
    put_escaped(t, ylabel);
    put(t, "</text>\n");
}

/* Legend entry i: a line (dashed or not) or, for marker, a dot, in the
   colour, then the name. Entries follow one another, top to bottom. */
static void put_legend_entry(strbuf *t, const frame *f, int i, const char *name, const char *fill, int dashed,
                             int marker)
{
    int x = (int)f->right + 12, y = (int)f->top + 8 + LEGEND_ROW * i;
    if (marker)
        put(t, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>", x + 10, y, fill);
    else
        put(t, "<path d=\"M%d %d h22\" stroke=\"%s\" stroke-width=\"2\"%s/>", x, y, fill,
            dashed ? " stroke-dasharray=\"6 3\"" : "");
    put(t, "<text x=\"%d\" y=\"%d\" dy=\"0.35em\">", x + 28, y);
    put_escaped(t, name);
    put(t, "</text>\n");
}

/* Closes the document; hands it over in *out, or frees it. */
static int close_document(strbuf *t, char **out)
{
    put(t, "</svg>\n");
    if (t->failed) {
        free(t->p);
        return -1;
    }
    *out = t->p;
    return 0;
}

// ---- charts ----

int svg_line_chart(const char *title, const char *xlabel, const char *ylabel, const svg_series *series,
                   int n_series, char **out)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    size_t longest = 0;
    int s, i, finite = 0;
    strbuf t = {0};
    frame f;
    if (!series || n_series < 1 || n_series > MAX_LEGEND || !out)
        return -1;
    for (s = 0; s < n_series; s++) {
        const svg_series *c = &series[s];
        if (c->n < 0 || (c->n > 0 && (!c->x || !c->y)))
            return -1;
        finite += extend(c->x, c->y, c->n, lo, hi);
        if (c->name && strlen(c->name) > longest)
            longest = strlen(c->name);
    }
    if (!finite)
        return -1;
    frame_init(&f, lo, hi, longest, n_series);
    put_frame(&t, &f, title, xlabel, ylabel);
    put(&t, "<g class=\"series\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" "
            "stroke-linecap=\"round\">\n");
    for (s = 0; s < n_series; s++) {
        const svg_series *c = &series[s];
        int drawn = 0; /* points in the current run between gaps */
        put(&t, "<path stroke=\"%s\"%s d=\"", colour(c->colour), c->dashed ? " stroke-dasharray=\"6 3\"" : "");
        for (i = 0; i < c->n; i++) {
            int next_finite = i + 1 < c->n && isfinite(c->x[i + 1]) && isfinite(c->y[i + 1]);
            if (!isfinite(c->x[i]) || !isfinite(c->y[i])) {
                drawn = 0;
                continue;
            }
            put(&t, drawn ? " L" : " M");
            put_coord(&t, px(&f, c->x[i]));
            put(&t, " ");
            put_coord(&t, py(&f, c->y[i]));
            /* a lone point is a zero-length line, which a round cap shows as a dot */
            if (!drawn && !next_finite)
                put(&t, " h0");
            drawn++;
        }
        put(&t, "\"/>\n");
    }
    put(&t, "</g>\n<g class=\"legend\" font-size=\"12\">\n");
    for (s = 0; s < n_series; s++)
        put_legend_entry(&t, &f, s, series[s].name, colour(series[s].colour), series[s].dashed, 0);
    put(&t, "</g>\n");
    return close_document(&t, out);
}

int svg_scatter(const char *title, const char *xlabel, const char *ylabel, const double *x, const double *y,
                const int *class_, int n, int n_classes, const char *const *class_names, char **out)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    size_t longest = 0;
    int i, n_names = class_ ? n_classes : 0;
    strbuf t = {0};
    frame f;
    if (!x || !y || n < 0 || !out || (class_ && (n_classes < 1 || n_classes > MAX_LEGEND)))
        return -1;
    for (i = 0; class_ && i < n; i++)
        if (class_[i] < 0 || class_[i] >= n_classes)
            return -1;
    for (i = 0; i < n_names; i++) {
        char num[16];
        size_t len;
        snprintf(num, sizeof num, "%d", i);
        len = strlen(class_names ? (class_names[i] ? class_names[i] : "") : num);
        longest = len > longest ? len : longest;
    }
    if (!extend(x, y, n, lo, hi))
        return -1;
    frame_init(&f, lo, hi, longest, n_names);
    put_frame(&t, &f, title, xlabel, ylabel);
    put(&t, "<g class=\"points\" fill-opacity=\"0.7\">\n");
    for (i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        put(&t, "<circle cx=\"");
        put_coord(&t, px(&f, x[i]));
        put(&t, "\" cy=\"");
        put_coord(&t, py(&f, y[i]));
        put(&t, "\" r=\"2.5\" fill=\"%s\"/>\n", colour(class_ ? class_[i] : 0));
    }
    put(&t, "</g>\n<g class=\"legend\" font-size=\"12\">\n");
    for (i = 0; i < n_names; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        put_legend_entry(&t, &f, i, class_names ? class_names[i] : num, colour(i), 0, 1);
    }
    put(&t, "</g>\n");
    return close_document(&t, out);
}
