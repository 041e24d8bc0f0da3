/* svg.h — line charts and scatter plots as SVG documents.

   The documents are self-contained SVG 1.1 (no scripts, no CSS, no
   external fonts) so that browsers, Inkscape and librsvg show them alike:
   640 x 400 pixels (taller when the legend needs it), a title on top, the
   plot with light grid lines at "nice" ticks (1, 2 or 5 times a power of
   ten) and their numbers, the axis labels, and a legend on the right.
   Axis ranges come from the finite points with 5% padding on each side; a
   single point or a constant series gets a range around its value.
   Points that are not finite are skipped, and values beyond +-1e300 are
   drawn at +-1e300. Colours come from a palette of 10 (the Tableau 10 of
   matplotlib and D3), repeating after that.

   Text (titles, labels, names; NULL is empty) is UTF-8; it is escaped for
   XML, and a byte that is not part of valid UTF-8, or a control
   character, is written as '?', so the document is always well-formed.
   Numbers are written with a '.' whatever the locale. No state is kept
   between calls.
*/
#ifndef VAE_TOOLS_SVG_H
#define VAE_TOOLS_SVG_H

typedef struct {
    const char *name;     /* legend text */
    const double *x, *y;  /* n points; a NaN y leaves a gap */
    int n;
    int dashed;           /* drawn dashed (e.g. train vs test) */
    int colour;           /* index into the palette */
} svg_series;

/* A line chart: title, axis labels, "nice" ticks on both axes with
   numbers (1-2-5 steps), a legend naming every series. *out gets a
   malloc'ed, NUL-terminated SVG document. 0, or -1 (out of memory,
   no points). Each series is one <path> (an isolated point, a round dot);
   a series with no finite point still gets its legend entry. -1 also when
   n_series is not in 1..1000, or a series has n < 0 or n > 0 with x or y
   NULL. */
int svg_line_chart(const char *title, const char *xlabel, const char *ylabel, const svg_series *series,
                   int n_series, char **out);

/* A scatter plot of n points, coloured by class[i] in 0..n_classes-1
   (class NULL: one colour), with a legend of class_names (NULL: "0",
   "1", ... ). Same output contract. Each finite point is one <circle>.
   With class_ NULL there is no legend. -1 also when x or y is NULL, or
   class_ is given with n_classes not in 1..1000 or a class outside
   0..n_classes-1. */
int svg_scatter(const char *title, const char *xlabel, const char *ylabel, const double *x, const double *y,
                const int *class_, int n, int n_classes, const char *const *class_names, char **out);

#endif
