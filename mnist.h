/* mnist.h — image datasets for vae: IDX files (MNIST, Fashion-MNIST), plain or
   gzip-compressed, and CIFAR-10 as distributed (cifar-10-binary.tar.gz, or
   its cifar-10-batches-bin directory), read with our own inflate and tar
   reader; binarisation and batching.

   Needs vae.h (status codes, CRC-32) and rng.h. Pixels are kept as bytes
   (0..255, 47 MB for 60,000 MNIST images, 184 MB for the 60,000 CIFAR-10
   ones), channels last as vae.h wants them, and turned into floats one
   batch at a time.

   Every function that can fail returns a vae_status and writes one line
   naming the file and the problem into the dataset's error field. Files are
   checked before anything is trusted: magic numbers, dimensions (no integer
   overflow), exact lengths, the gzip CRC-32 and length trailer, tar header
   checksums and sizes. A missing, truncated, corrupt or hostile file is an
   error, never a crash.
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
    int rows, cols;         /* image size: 28 x 28 for MNIST, 32 x 32 for CIFAR-10 */
    int channels;           /* 1 for IDX files (grey), 3 for CIFAR-10 (red, green, blue) */
    int dim;                /* rows * cols * channels */
    unsigned char *pixels;  /* (n, rows, cols, channels), 0..255: channels last, so
                               image i, row y, column x, channel c is at
                               i dim + (y cols + x) channels + c, as in vae.h */
    unsigned char *labels;  /* (n), or NULL when no label file was read */
    char error[512];        /* why the last call on this dataset failed */
} vae_dataset;

/* Where vae_dataset_load_path found its images. */
typedef enum {
    VAE_DATA_MNIST,        /* a directory of IDX files (vae_dataset_load_dir) */
    VAE_DATA_CIFAR_DIR,    /* CIFAR-10's cifar-10-batches-bin directory, extracted */
    VAE_DATA_CIFAR_ARCHIVE /* cifar-10-binary.tar.gz, or the tar inside it */
} vae_data_layout;

typedef enum {
    VAE_GRAY,            /* pixel / 255 */
    VAE_BINARY_STATIC,   /* 1 where pixel / 255 >= 0.5, else 0: the same every epoch */
    VAE_BINARY_DYNAMIC   /* a fresh Bernoulli(pixel / 255) draw every time */
} vae_binarize;

/* Reads an IDX3 image file and, unless labels is NULL, the IDX1 label file
   that goes with it (their counts must agree). Compression is recognised by
   the gzip magic bytes, not the name. ds->channels is 1. *ds is overwritten;
   on failure it holds no memory and ds->error says why. */
vae_status vae_dataset_load(vae_dataset *ds, const char *images, const char *labels);

/* Reads the standard files of a directory, each plain or with .gz:
   train-images-idx3-ubyte, train-labels-idx1-ubyte into *train and
   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte into *test. Label files are
   optional. When there are no t10k images, test->n is 0. On failure the
   reason is in train->error. */
vae_status vae_dataset_load_dir(vae_dataset *train, vae_dataset *test, const char *dir);

/* Reads CIFAR-10 as distributed: training = data_batch_1.bin .. data_batch_5.bin
   (50,000 images) into *train, test = test_batch.bin (10,000) into *test,
   32 x 32 x 3 with labels 0..9. path is one of
   - the cifar-10-batches-bin directory, as extracted (plain .bin files);
   - a directory holding cifar-10-batches-bin/ or cifar-10-binary.tar.gz;
   - the archive itself: a tar (ustar, GNU or pax), gzip-compressed or not
     (one or more gzip members), inflated in memory: nothing is extracted.
     Long names are read from GNU long-name records and pax path records.
   Each batch is records of 3,073 bytes (a label, then the red, green and
   blue 32 x 32 planes, row-major), converted to channels last; any whole
   number of records is accepted. In an archive the members are found by
   their last path component; other members are ignored. Refused, each with
   one line naming the file or member: a batch that is missing, twice in the
   archive, not a regular file (a symbolic or hard link, a directory), not a
   whole number of records or with a label over 9; any member whose name
   has a ".." component or starts with "/" (nothing is ever written, but a
   well-made archive has no such names); a bad header checksum; a size
   field that is malformed, negative, overflows or claims more than the
   archive holds; an archive with no members; a truncated header; more than
   256 MB after decompression. (In a directory the batch files are opened
   as the system opens files: symbolic links are followed.) The archive is
   inflated whole, so loading it needs the archive and the images at once:
   about 370 MB for the real set. On failure both datasets hold no memory
   and train->error says why. */
vae_status vae_dataset_load_cifar(vae_dataset *train, vae_dataset *test, const char *path);

/* What the trainer's --data PATH reads: an MNIST directory (with
   train-images-idx3-ubyte[.gz], as vae_dataset_load_dir) if path has one,
   else CIFAR-10 in any form vae_dataset_load_cifar takes. *layout (unless
   NULL) says which was tried, also on failure: a path that holds neither
   layout is tried as an archive, and when it cannot be read as a file the
   error lists what was looked for. */
vae_status vae_dataset_load_path(vae_dataset *train, vae_dataset *test, const char *path,
                                 vae_data_layout *layout);

/* A few words for a layout, for messages: "MNIST (IDX files)", ... */
const char *vae_data_layout_name(vae_data_layout layout);

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
