/* png.h — a small PNG encoder for the command-line program's pictures.

   8-bit grey or RGB, no interlacing, no ancillary chunks: IHDR, IDAT
   chunks of at most 64 KB, IEND. Each row gets the PNG filter with the
   smallest sum of absolute differences (the heuristic libpng uses), and the
   zlib stream is real deflate: LZ77 over the full 32 KB window with lazy
   matching, coded with the fixed Huffman codes (block type 1), and a stored
   block wherever that would be shorter (noise). Dynamic Huffman codes would
   save perhaps another 10-20%; digit grids and plots are already small.
   Plain C99 and libc; thread-safe (no global state).
*/
#ifndef VAE_TOOLS_PNG_H
#define VAE_TOOLS_PNG_H

#include <stddef.h>

/* Encodes an 8-bit PNG of width x height pixels with channels 1 (grey)
   or 3 (RGB), pixels row-major (height, width, channels). *out gets a
   malloc'ed buffer of *len bytes. 0, or -1 when out of memory or the
   arguments are impossible (width or height < 1, channels not 1 or 3,
   sizes that overflow: more than 2^31 - 1 bytes of filtered image data,
   height * (1 + width * channels)). */
int png_encode(const unsigned char *pixels, int width, int height, int channels, unsigned char **out, size_t *len);

#endif
