/* fuzz_idx.c — libFuzzer harness for mn_parse_idx, the IDX reader (plain or
   gzip) behind vae_dataset_load. Built and run by `make fuzz` and
   `make fuzz-ci`; seeds in corpus/idx/.

   Each input is parsed both as an image file (3 dimensions) and as a label
   file (1), so that the seeds are ordinary IDX files. Beyond "no crash, no
   leak, no sanitizer report", a success must agree with an independent
   reading: the dimensions are in range and multiply to the payload's size,
   and the payload is the bytes after the header of the (decompressed) file. */
#include "../../vae.c"
#include "../../mnist.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* gzip inputs that inflate to more are skipped: inflating is fuzz_gzip's
   work, and here megabytes of output would only make each run slower
   without reaching any more of the IDX checks. */
#define FUZZ_MAX_PLAIN ((size_t)1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses a copy of data[0..size) (mn_parse_idx takes its buffer over) with
   ndim dimensions, and checks the result against plain[0..plain_len), the
   input after decompression. */
static void fuzz_one(const uint8_t *data, size_t size, int ndim, const unsigned char *plain,
                     size_t plain_len)
{
    unsigned char *copy = (unsigned char *)malloc(size ? size : 1), *payload;
    size_t header = 4 + 4 * (size_t)ndim, n = 1;
    int dims[3], i;
    char err[512];
    vae_status st;

    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    err[0] = '\0';
    st = mn_parse_idx(copy, size, ndim, &payload, dims, "fuzz", err, sizeof err);
    if (st != VAE_OK) {
        if (payload || strncmp(err, "fuzz: ", 6) != 0)
            abort();
        return;
    }
    for (i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            abort();
        n *= (size_t)dims[i];
    }
    if (ndim == 3 && (long)dims[1] * dims[2] > MN_MAX_PIXELS)
        abort();
    if (!plain || plain_len < header || plain_len - header != n ||
        memcmp(payload, plain + header, n) != 0)
        abort();
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    const unsigned char *plain = data;
    size_t plain_len = size;

    /* the reference reading of a gzip input; NULL when it does not inflate,
       and then neither parse may succeed */
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        char err[256];
        if (vae_gunzip(data, size, FUZZ_MAX_PLAIN, &raw, &raw_len, err, sizeof err) != VAE_OK) {
            if (strstr(err, "exceed the limit"))
                return 0;
            raw = NULL;
        }
        plain = raw;
        plain_len = raw_len;
    }
    fuzz_one(data, size, 3, plain, plain_len);
    fuzz_one(data, size, 1, plain, plain_len);
    free(raw);
    return 0;
}
