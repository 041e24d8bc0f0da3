/* common.h — what the vae program's commands share: exit codes, paths,
   files written whole or not at all, models and images loaded with one
   clear line on failure, and how images become bytes.

   POSIX is used here (mkdir, stat); the library itself is C99 only.
*/
#ifndef VAE_TOOLS_COMMON_H
#define VAE_TOOLS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mnist.h"
#include "threads.h"
#include "vae.h"
#include "vae_backend.h"
#include "opencl/vae_opencl.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define MAX_PATH 4096

/* Streams of random numbers the program draws besides the model's own,
   each seeded from --seed xor its constant so that they never coincide. */
#define SEED_SHUFFLE 0x73687566666c65ULL /* "shuffle" */
#define SEED_BINARIZE 0x62696e617279ULL /* "binary" */
#define SEED_TEST 0x74657374ULL          /* "test" */
#define SEED_PICTURES 0x7069637475726573ULL /* "pictures" */

/* mkdir -p: creates path and any missing parents. 0, or -1 with errno. */
int make_dirs(const char *path);

/* dir/name into buf; 0 when it does not fit. */
int join_path(char *buf, size_t size, const char *dir, const char *name);

int file_exists(const char *path);

/* Whether write_atomic(path) can create its temporary file, asked before
   long work whose result goes there. 0, or -1 with errno. */
int can_write(const char *path);

/* vae_write_file: path holds its old contents or the new, never a part,
   flushed to the disk where the platform can. 0, or -1 with errno. */
int write_atomic(const char *path, const void *data, size_t len);

/* The whole dataset as floats, (n, dim), binarised by mode; NULL when out
   of memory. */
float *dataset_floats(const vae_dataset *ds, vae_binarize mode, vae_rng *rng);

/* Applies --threads: OpenMP's thread count, or a warning in a build
   without OpenMP (where there is only one thread to use). */
void set_threads(int threads);

/* The names of a choice field of the configuration: their index is the
   enum's value. */
const char *const *field_choices(const char *key);

/* The value of configuration field key, as text, in buf. */
const char *field_text(const vae_config *c, const char *key, char *buf, size_t size);

/* --device cpu[:KERNEL]|opencl[:P.D], the backend a command runs the
   model on. */
typedef struct {
    vae_options opt;
    vae_cpu_params cpu;
    char kernel[16];
    vae_opencl_params cl;
} tool_device;

/* Reads text (NULL: cpu) into *d; on a malformed value prints why and
   returns EXIT_USAGE, else 0. */
int parse_device(const char *text, tool_device *d);

#define DEVICE_OPT(where)                                                                                          \
    {.name = "device", .kind = OPT_STR, .dst = (where), .meta = "cpu[:K]|opencl[:P.D]",                           \
     .help = "where the model runs: opencl is the first GPU, else the first device (vae devices)", .def = "cpu"}

/* Loads the checkpoint at path into *m on device (NULL: the CPU); on
   failure prints the reason and returns EXIT_USAGE for a malformed
   --device, else EXIT_RUNTIME (with *m freed and NULL), or 0. */
int load_model(const char *path, const char *device, vae **m);

/* Reads the IDX images at path, as the model sees them (binarised
   statically for a Bernoulli likelihood, pixel / 255 for a Gaussian one),
   the first limit of them (0: all); *labels, if not NULL, gets the labels
   from labels_path (NULL: none). Checks that the images have the model's
   size. On failure prints why and returns EXIT_RUNTIME, else 0; *x and
   *labels are malloc'ed. */
int load_images(const vae *m, const char *path, const char *labels_path, int limit, float **x, int *n,
                unsigned char **labels);

/* The model's image geometry; a model that does not know it (a version-1
   checkpoint, or an API caller's) is taken as square when D is a square,
   else as one row of D pixels. Structs go out through pointers, here and
   everywhere in the program and the library: tcc 0.9.27 stores a struct
   of 9 to 15 bytes returned in two registers as 16 bytes, over whatever
   local lies next to its temporary (geometry's 12 bytes overwrote the
   picture's column count). */
typedef struct {
    int rows, cols, channels;
} geometry;
void model_geometry(const vae_config *c, geometry *g);

/* A dataset binarised once and for all, handed out as floats a chunk at a
   time: the floats of a whole test set would take 4 bytes a pixel (31 MB
   for 10,000 images) beside the set's own byte. A dynamic binarisation
   draws its stream from seed, image after image, as the whole set at once
   would. */
#define IMAGE_CHUNK 500
typedef struct {
    const vae_dataset *ds;
    vae_binarize mode;
    uint64_t seed;
    vae_rng rng; /* the stream at image next */
    int next;
    float *chunk; /* IMAGE_CHUNK images */
} image_source;

/* 0, or -1 when out of memory. */
int image_source_init(image_source *s, const vae_dataset *ds, vae_binarize mode, uint64_t seed);
void image_source_free(image_source *s);

/* Images [first, first + n) into x, (n, dim). */
void image_source_get(image_source *s, int first, int n, float *x);

/* Each of the first n images' bound into each (n), and their mean in
   order into *mean (NULL: not wanted), as vae_bound would give it. */
vae_status source_bounds(vae *m, image_source *s, int n, vae_objective obj, int k, double *each, double *mean);

/* Each of the first n images' log p(x) estimate with k samples into ll
   (n), in chunks that show progress on a terminal (K = 5000 over 10,000
   images takes minutes) and let gov choose the threads. */
vae_status log_likelihoods(vae *m, image_source *s, int n, int k, double *ll, thread_governor *gov);

/* A mean in [0, 1] as a byte: round(255 * clamp(p, 0, 1)). */
unsigned char pixel_byte(float p);

#endif
