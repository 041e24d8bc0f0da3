/* mnist.h — image datasets for vae: IDX files (MNIST, Fashion-MNIST), plain or
   gzip-compressed, read with our own inflate; binarisation and batching.

   Needs vae.h (status codes, CRC-32) and rng.h. Pixels are kept as bytes
   (0..255, 47 MB for 60,000 MNIST images) and turned into floats one batch
   at a time.

   Every function that can fail returns a vae_status and writes one line
   naming the file and the problem into the dataset's error field. Files are
   checked before anything is trusted: magic numbers, dimensions (no integer
   overflow), exact lengths, the gzip CRC-32 and length trailer. A missing,
   truncated, corrupt or hostile file is an error, never a crash.
*/
#ifndef VAE_MNIST_H
#define VAE_MNIST_H

#include "rng.h"
#include "vae.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;                  /* images */
    int rows, cols;         /* image size, 28 x 28 for MNIST */
    int dim;                /* rows * cols */
    unsigned char *pixels;  /* (n, dim), 0..255 */
    unsigned char *labels;  /* (n), or NULL when no label file was read */
    char error[512];        /* why the last call on this dataset failed */
} vae_dataset;

typedef enum {
    VAE_GRAY,            /* pixel / 255 */
    VAE_BINARY_STATIC,   /* 1 where pixel / 255 >= 0.5, else 0: the same every epoch */
    VAE_BINARY_DYNAMIC   /* a fresh Bernoulli(pixel / 255) draw every time */
} vae_binarize;

/* Reads an IDX3 image file and, unless labels is NULL, the IDX1 label file
   that goes with it (their counts must agree). Compression is recognised by
   the gzip magic bytes, not the name. *ds is overwritten; on failure it holds
   no memory and ds->error says why. */
vae_status vae_dataset_load(vae_dataset *ds, const char *images, const char *labels);

/* Reads the standard files of a directory, each plain or with .gz:
   train-images-idx3-ubyte, train-labels-idx1-ubyte into *train and
   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte into *test. Label files are
   optional. When there are no t10k images, test->n is 0. On failure the
   reason is in train->error. */
vae_status vae_dataset_load_dir(vae_dataset *train, vae_dataset *test, const char *dir);

/* Moves the last n images (and labels) of *train into *test, which must be
   empty (zeroed or freed). 0 < n < train->n. */
vae_status vae_dataset_holdout(vae_dataset *train, vae_dataset *test, int n);

void vae_dataset_free(vae_dataset *ds);

/* Writes images idx[0..n) of ds as floats, (n, ds->dim), into out. rng is
   used only by VAE_BINARY_DYNAMIC (and may be NULL otherwise). */
void vae_dataset_batch(const vae_dataset *ds, const int *idx, int n, vae_binarize mode,
                       vae_rng *rng, float *out);

/* Decompresses a whole gzip file held in memory (one or more members), checking
   each member's CRC-32 and length. Output beyond max_out bytes is an error,
   so a hostile file cannot exhaust memory. *out comes from VAE_MALLOC: free()
   it, or VAE_FREE it where the hooks are defined. On failure err (err_len
   bytes) says why. */
vae_status vae_gunzip(const unsigned char *in, size_t in_len, size_t max_out,
                      unsigned char **out, size_t *out_len, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
