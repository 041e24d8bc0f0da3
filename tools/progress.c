/* progress.c — the in-place status line; see progress.h. */
#include "progress.h"

#include <math.h>
#include <stdio.h>

#include "platform.h"

#define BAR_WIDTH 20

void format_duration(double seconds, char *buf, size_t size)
{
    long s;
    int n;
    if (!isfinite(seconds) || seconds < 0 || seconds > 1e9) {
        snprintf(buf, size, "-:--");
        return;
    }
    s = (long)(seconds + 0.5);
    if (s >= 3600)
        n = snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        n = snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
    if (n < 0 || (size_t)n >= size) /* too small a buffer: say nothing rather than a cut number */
        snprintf(buf, size, "-:--");
}

void progress_init(progress *p)
{
    p->on = platform_is_terminal(stderr);
    p->last = -1e30;
    p->len = 0;
}

int progress_due(const progress *p)
{
    return p->on && platform_wall_seconds() - p->last >= 0.1;
}

void progress_show(progress *p, const char *label, double fraction, const char *info)
{
    char bar[BAR_WIDTH + 1];
    int i, filled, len;
    if (!p->on)
        return;
    if (!(fraction >= 0))
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    filled = (int)(fraction * BAR_WIDTH);
    for (i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    len = fprintf(stderr, "\r%s [%s] %3d%% %s", label, bar, (int)(fraction * 100), info) - 1;
    if (len < p->len)
        fprintf(stderr, "%*s", p->len - len, "");
    p->len = len;
    fflush(stderr);
    p->last = platform_wall_seconds();
}

void progress_clear(progress *p)
{
    if (!p->on || p->len == 0)
        return;
    fprintf(stderr, "\r%*s\r", p->len, "");
    fflush(stderr);
    p->len = 0;
    p->last = -1e30;
}
