/* progress.h — a status line redrawn in place.

   The line is drawn on stderr only when stderr is a terminal, at most ten
   times a second, and is plain text ("\r" and padding, no escape codes), so
   it works on any terminal. Output meant to be kept (per-epoch results) goes
   to stdout after progress_clear.
*/
#ifndef VAE_TOOLS_PROGRESS_H
#define VAE_TOOLS_PROGRESS_H

#include <stddef.h>

/* "0:42", "12:03" or "2:05:09"; "-:--" for an unknown (negative or not
   finite) duration. */
void format_duration(double seconds, char *buf, size_t size);

typedef struct {
    int on;      /* stderr is a terminal */
    double last; /* when the line was last drawn */
    int len;     /* characters on the line now, to blank leftovers */
} progress;

void progress_init(progress *p);

/* Whether a redraw is due: on a terminal and 0.1 s since the last one. */
int progress_due(const progress *p);

/* Draws "label [#####.....]  42% info" over the previous line. fraction is
   clamped to [0, 1]. */
void progress_show(progress *p, const char *label, double fraction, const char *info);

/* Blanks the line, so that the next output starts on a clean one. */
void progress_clear(progress *p);

#endif
