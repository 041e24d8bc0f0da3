/* report.h — report.html, one self-contained page describing a trained model.

   The page shows the run's configuration, its final bounds, its curves,
   samples, reconstructions and latent scatter (each of these may be
   missing: the section then says so), and a live explorer: the decoder's
   weights are embedded in the page and a small script decodes the point
   under the pointer (or set by sliders) into an image at once.

   Self-contained: nothing is fetched. PNGs are inlined as data: URIs, SVGs
   as markup (a leading <?xml ...?> declaration and <!DOCTYPE> are
   dropped), weights as base64 of little-endian float32, whatever the host.

   Self-test: opened with the fragment #selftest, the page decodes every
   check_z and writes {"z": [[...], ...], "mean": [[...], ...]} (9
   significant digits) into <pre id="selftest">; errors thrown by its
   scripts, and anything they send to console.error, go to
   <pre id="errors"> (empty when all is well). tests/test_report.c opens it
   in headless Chromium and compares with vae_decode.
*/
#ifndef VAE_TOOLS_REPORT_H
#define VAE_TOOLS_REPORT_H

#include <stddef.h>

#include "vae.h"

typedef struct {
    const char *title;            /* e.g. the run's directory */
    const char *config_text;      /* "key value" lines, one per configuration field */
    const char *summary;          /* one line of final results, e.g. "epoch 30: train -96.53, test -107.11 nats per image" */
    const char *curves_svg;       /* an SVG document, inlined (may be NULL) */
    const unsigned char *samples_png, *recon_png; /* PNG files, inlined as data: URIs (may be NULL) */
    size_t samples_len, recon_len;
    const char *scatter_svg;      /* SVG, inlined (may be NULL) */
    /* The explorer's plane when Z > 2: the codes' mean (Z) and two
       principal directions (2, Z), each spanning +-extent[i]. */
    const double *plane_mean, *plane_dir;
    double extent[2];
    /* z vectors (n_check, Z) the page decodes for its self-test. */
    const float *check_z;
    int n_check;
} report_inputs;

/* The page for model m and in: *html gets a malloc'ed NUL-terminated
   document. 0, or -1 (out of memory, or a model it cannot read). -1 also
   when in or html is NULL, n_check < 0, or check_z is NULL while n_check
   > 0; *html is then NULL.

   The explorer shows images as (image_rows, image_cols, image_channels),
   row-major with the channels last: one channel grey, three in colour,
   any other count as a grey tile per channel side by side. Without that
   geometry, a square of side sqrt(input_dim) when that is whole, else one
   row. When Z > 2, a NULL plane_mean stands for zeros, a NULL plane_dir
   for the first two axes, and an extent that is not finite and positive
   for 3. A NULL title gives "VAE report", a NULL summary or config_text
   "not available". Numbers that are not finite are written as null. */
int report_html(vae *m, const report_inputs *in, char **html);

#endif
