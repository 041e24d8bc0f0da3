/* test_svg.c — tools/svg.c: line charts and scatter plots, each parsed as
   XML by tests/svg_check.py (title, labels, one legend entry per series or
   class, one path per series, one circle per finite point, finite numbers,
   1-2-5 ticks), with text that needs escaping or is not valid UTF-8,
   single points, constant series, extreme values and a locale with a
   decimal comma; and the helpers (ticks, UTF-8, numbers) directly.

   Run from the repository root; files go to a mkdtemp directory in build/,
   removed when everything passed. Without python3 the XML checks are
   skipped, and said so. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen */
#include "../tools/svg.c"
#include "check.h"

#include <float.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];
static int have_python;

// ---- helpers ----

static int count(const char *doc, const char *what)
{
    int n = 0;
    for (; (doc = strstr(doc, what)); doc++)
        n++;
    return n;
}

/* Writes doc as NAME.svg and the expectations (lines "key\tvalue") as
   NAME.expect, and has svg_check.py read them. */
static void check_doc(const char *name, const char *doc, const char *expect)
{
    char svg[512], exp[512], cmd[1200], line[512] = "";
    FILE *f, *p;
    int ok;
    snprintf(svg, sizeof svg, "%s/%s.svg", tmpdir, name);
    snprintf(exp, sizeof exp, "%s/%s.expect", tmpdir, name);
    f = fopen(svg, "wb");
    CHECK(f && fputs(doc, f) >= 0, "cannot write %s", svg);
    if (f)
        fclose(f);
    f = fopen(exp, "wb");
    CHECK(f && fputs(expect, f) >= 0, "cannot write %s", exp);
    if (f)
        fclose(f);
    if (!have_python) {
        SKIP("%s: no python3 to parse it", name);
        return;
    }
    snprintf(cmd, sizeof cmd, "python3 tests/svg_check.py '%s' '%s'", svg, exp);
    p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p))
        line[0] = '\0';
    ok = (p ? pclose(p) : -1) == 0 && strcmp(line, "ok\n") == 0;
    CHECK(ok, "%s: %s", name, line[0] ? line : "no output\n");
}

// ---- charts ----

/* Training curves as the program draws them: train solid, test dashed
   with a gap, and a series with a lone point between gaps. */
static void test_line_chart(void)
{
    double x[30], train[30], test[30], odd[5] = {1, NAN, 2, NAN, NAN}, ox[5] = {1, 2, 3, 4, 5};
    svg_series s[3] = {{"train <&> \"q\" 'a'", x, train, 30, 0, 0},
                       {"test", x, test, 30, 1, 1},
                       {"Größe", ox, odd, 5, 0, 12}};
    char *doc = NULL;
    int i;
    for (i = 0; i < 30; i++) {
        x[i] = i + 1;
        train[i] = -200 + 110 * (1 - exp(-i / 5.0));
        test[i] = i == 10 ? NAN : train[i] - 3;
    }
    CHECK(svg_line_chart("ELBO & IWAE <nats>", "epoch", "bound <nats>", s, 3, &doc) == 0, "line chart");
    if (!doc)
        return;
    CHECK(count(doc, "<path stroke=") == 3, "one path per series");
    CHECK(count(doc, "stroke-dasharray") == 2, "the dashed series and its legend entry");
    CHECK(strstr(doc, "ELBO &amp; IWAE &lt;nats&gt;") != NULL, "title escaped");
    CHECK(strstr(doc, "train &lt;&amp;&gt; &quot;q&quot; &#39;a&#39;") != NULL, "name escaped");
    CHECK(count(doc, " h0") == 2, "two lone points drawn as dots: %d", count(doc, " h0"));
    check_doc("line", doc,
              "title\tELBO & IWAE <nats>\nxlabel\tepoch\nylabel\tbound <nats>\n"
              "legend\ttrain <&> \"q\" 'a'\nlegend\ttest\nlegend\tGröße\npaths\t3\n");
    free(doc);
}

static void test_scatter(void)
{
    enum { N = 500 };
    static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat & hat",
                                          "Sandal <s>", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    double x[N], y[N];
    int cls[N], i, finite = 0;
    char *doc = NULL;
    for (i = 0; i < N; i++) {
        cls[i] = i % 10;
        x[i] = 3 * cos(cls[i] * 0.628) + sin(i * 1.7);
        y[i] = 3 * sin(cls[i] * 0.628) + cos(i * 2.3);
    }
    x[3] = NAN;
    y[7] = INFINITY;
    x[11] = -INFINITY;
    for (i = 0; i < N; i++)
        finite += isfinite(x[i]) && isfinite(y[i]);
    CHECK(svg_scatter("latent space", "z1", "z2", x, y, cls, N, 10, names, &doc) == 0, "scatter");
    if (doc) {
        CHECK(count(doc, "<circle") == finite + 10, "a circle per finite point and legend entry");
        check_doc("scatter", doc,
                  "title\tlatent space\nxlabel\tz1\nylabel\tz2\nlegend\tT-shirt/top\nlegend\tTrouser\n"
                  "legend\tPullover\nlegend\tDress\nlegend\tCoat & hat\nlegend\tSandal <s>\nlegend\tShirt\n"
                  "legend\tSneaker\nlegend\tBag\nlegend\tAnkle boot\ncircles\t497\n");
        free(doc);
    }
    /* default names "0".."n-1" */
    CHECK(svg_scatter("t", "x", "y", x, y, cls, N, 12, NULL, &doc) == 0, "scatter without names");
    if (doc) {
        check_doc("scatter_numbers", doc,
                  "title\tt\nxlabel\tx\nylabel\ty\nlegend\t0\nlegend\t1\nlegend\t2\nlegend\t3\nlegend\t4\n"
                  "legend\t5\nlegend\t6\nlegend\t7\nlegend\t8\nlegend\t9\nlegend\t10\nlegend\t11\ncircles\t497\n");
        free(doc);
    }
    /* no classes: one colour, no legend; NULL texts are empty */
    CHECK(svg_scatter(NULL, NULL, NULL, x, y, NULL, N, 0, NULL, &doc) == 0, "scatter without classes");
    if (doc) {
        CHECK(count(doc, "fill=\"#1f77b4\"") == finite, "one colour");
        check_doc("scatter_plain", doc, "circles\t497\n");
        free(doc);
    }
}

/* Degenerate ranges and hostile values still make a valid document. */
static void test_edges(void)
{
    static const double one_x[1] = {5}, one_y[1] = {-0.25};
    static const double cx[4] = {0, 1, 2, 3}, cy[4] = {7, 7, 7, 7};
    static const double big_x[3] = {-DBL_MAX, 0, DBL_MAX}, big_y[3] = {1e-310, -1e-310, 0};
    static const double mix_x[3] = {1e6, 1e6 + 1, 1e6 + 3}, mix_y[3] = {0.1, 0.2, 0.30000000000000004};
    svg_series s = {"one", one_x, one_y, 1, 0, 3};
    char *doc = NULL;
    CHECK(svg_line_chart("single point", "x", "y", &s, 1, &doc) == 0, "single point");
    if (doc) {
        check_doc("single", doc, "title\tsingle point\nxlabel\tx\nylabel\ty\nlegend\tone\npaths\t1\n");
        free(doc);
    }
    s.x = cx, s.y = cy, s.n = 4, s.name = "constant";
    CHECK(svg_line_chart("constant", "x", "y", &s, 1, &doc) == 0, "constant series");
    if (doc) {
        check_doc("constant", doc, "title\tconstant\nxlabel\tx\nylabel\ty\nlegend\tconstant\npaths\t1\n");
        free(doc);
    }
    s.x = big_x, s.y = big_y, s.n = 3, s.name = NULL;
    CHECK(svg_line_chart("extremes", "x", "y", &s, 1, &doc) == 0, "extreme values");
    if (doc) {
        CHECK(!strstr(doc, "nan") && !strstr(doc, "inf"), "non-finite numbers in the document");
        check_doc("extremes", doc, "title\textremes\nxlabel\tx\nylabel\ty\nlegend\t\npaths\t1\n");
        free(doc);
    }
    CHECK(svg_scatter("close", "x", "y", mix_x, mix_y, NULL, 3, 0, NULL, &doc) == 0, "large, close values");
    if (doc) {
        check_doc("close", doc, "title\tclose\nxlabel\tx\nylabel\ty\ncircles\t3\n");
        free(doc);
    }
    /* bytes that are not UTF-8, or XML-forbidden characters, become '?' */
    s.x = cx, s.y = cy, s.n = 4;
    s.name = "a\xff\x01" "b\xc0\xaf" "c\xed\xa0\x80" "d\xef\xbf\xbe" "e\xe2\x82";
    CHECK(svg_line_chart("bad \x80 text\t", "x", "y", &s, 1, &doc) == 0, "bad text");
    if (doc) {
        check_doc("bad_text", doc,
                  "title\tbad ? text?\nxlabel\tx\nylabel\ty\nlegend\ta??b??c???d???e??\npaths\t1\n");
        free(doc);
    }
}

/* A decimal comma in LC_NUMERIC must not reach the document. */
static void test_locale(void)
{
    static const double x[3] = {0.5, 1.5, 2.5}, y[3] = {0.1, 0.7, 0.4};
    static const char *const locales[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", NULL};
    svg_series s = {"s", x, y, 3, 0, 0};
    char *doc = NULL;
    int i;
    for (i = 0; locales[i] && !setlocale(LC_NUMERIC, locales[i]); i++)
        ;
    if (!locales[i] || strcmp(localeconv()->decimal_point, ",") != 0) {
        SKIP("no locale with a decimal comma (Debian: localedef -i de_DE -f UTF-8 de_DE.UTF-8)");
        setlocale(LC_NUMERIC, "C");
        return;
    }
    CHECK(svg_line_chart("locale", "x", "y", &s, 1, &doc) == 0, "chart in %s", locales[i]);
    setlocale(LC_NUMERIC, "C");
    if (doc) {
        CHECK(strchr(doc, ',') == NULL, "a comma in the document");
        CHECK(strstr(doc, ">0.2<") != NULL && strstr(doc, ">1.5<") != NULL, "tick numbers 0.2 and 1.5");
        check_doc("locale", doc, "title\tlocale\nxlabel\tx\nylabel\ty\nlegend\ts\npaths\t1\n");
        free(doc);
    }
}

static void test_refusals(void)
{
    static const double x[2] = {1, 2}, y[2] = {NAN, NAN};
    static const int bad_class[2] = {0, 3};
    svg_series s = {"s", x, y, 2, 0, 0};
    char *doc = NULL;
    CHECK(svg_line_chart("t", "x", "y", &s, 1, &doc) == -1, "no finite points");
    CHECK(svg_line_chart("t", "x", "y", &s, 0, &doc) == -1, "no series");
    CHECK(svg_line_chart("t", "x", "y", NULL, 1, &doc) == -1, "NULL series");
    s.y = x;
    s.n = -1;
    CHECK(svg_line_chart("t", "x", "y", &s, 1, &doc) == -1, "n < 0");
    s.n = 2;
    s.x = NULL;
    CHECK(svg_line_chart("t", "x", "y", &s, 1, &doc) == -1, "NULL x");
    CHECK(svg_scatter("t", "x", "y", x, y, NULL, 2, 0, NULL, &doc) == -1, "scatter: no finite points");
    CHECK(svg_scatter("t", "x", "y", x, x, NULL, 0, 0, NULL, &doc) == -1, "scatter: no points");
    CHECK(svg_scatter("t", "x", "y", x, x, bad_class, 2, 3, NULL, &doc) == -1, "class out of range");
    CHECK(svg_scatter("t", "x", "y", x, x, bad_class, 2, 0, NULL, &doc) == -1, "0 classes");
    CHECK(svg_scatter("t", "x", "y", x, x, bad_class, 2, INT_MAX, NULL, &doc) == -1, "a legend of INT_MAX");
    CHECK(svg_scatter("t", "x", "y", NULL, x, NULL, 2, 0, NULL, &doc) == -1, "NULL x");
    CHECK(doc == NULL, "a refusal set *out");
}

// ---- helpers of svg.c ----

static void test_internals(void)
{
    axis a;
    char buf[64];
    int i, same;
    axis_init(&a, 1, 30); /* padded to -0.45..31.45 */
    same = a.n_ticks == 7;
    for (i = 0; same && i < 7; i++)
        same = a.ticks[i] == 5 * i;
    CHECK(same, "ticks of 1..30: %d ticks, first %g", a.n_ticks, a.ticks[0]);
    axis_init(&a, 0.1, 0.3);
    format_number(buf, sizeof buf, a.ticks[1], a.prec);
    CHECK(a.ticks[0] > -1e-12 && a.ticks[0] < 0.11 && strcmp(buf, "0.15") == 0, "ticks of 0.1..0.3: %s", buf);
    axis_init(&a, 7, 7);
    CHECK(a.lo < 7 && a.hi > 7 && a.n_ticks >= 2, "a constant gets a range");
    axis_init(&a, 0, 0);
    CHECK(a.lo == -1 && a.hi == 1 && a.n_ticks >= 2, "zero gets -1..1");
    axis_init(&a, 1000000, 1000005);
    format_number(buf, sizeof buf, a.ticks[1], a.prec);
    CHECK(strcmp(buf, "1000001") == 0, "close large ticks told apart: %s", buf);
    CHECK(utf8_char((const unsigned char *)"\xc3\xa9") == 2 && utf8_char((const unsigned char *)"\xf0\x9f\x98\x80") == 4,
          "valid UTF-8");
    CHECK(utf8_char((const unsigned char *)"\xc3") == 0 && utf8_char((const unsigned char *)"\xf4\x90\x80\x80") == 0 &&
              utf8_char((const unsigned char *)"\xe0\x80\xaf") == 0,
          "truncated, past U+10FFFF, overlong");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "build/test_svg.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL cannot create a temporary directory %s (run from the repository root)\n", tmpdir);
        return 1;
    }
    have_python = system("python3 -c 'import xml.etree.ElementTree' >/dev/null 2>&1") == 0;
    if (!have_python)
        printf("no python3: the documents are not parsed (Debian: apt-get install python3)\n");

    test_internals();
    test_line_chart();
    test_scatter();
    test_edges();
    test_locale();
    test_refusals();

    if (!check_failed) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        CHECK(system(cmd) == 0, "cannot remove %s", tmpdir);
    } else {
        printf("files kept in %s\n", tmpdir);
    }
    return check_summary();
}
