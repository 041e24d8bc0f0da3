/* fuzz_gzip.c — libFuzzer harness for vae_gunzip, our inflate and gzip
   reader. Built and run by `make fuzz` and `make fuzz-ci`; seeds in
   corpus/gzip/.

   Every input must end in VAE_OK or an error: never a crash, a leak, a hang
   or a sanitizer report. On top of that the contract in mnist.h is checked
   where it is cheap: on success the output is non-NULL and within the limit;
   on failure it is NULL and empty, and err holds a reason. */
#include "../../vae.c"
#include "../../mnist.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small enough that a gzip bomb within the fuzzer's -max_len of 1024 bytes
   reaches it (deflate expands at most about 1032:1), so that the limit's
   error path is fuzzed too. */
#define FUZZ_MAX_OUT ((size_t)1 << 18)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out = (unsigned char *)&size; /* must be overwritten */
    size_t out_len = 1;
    char err[256];
    vae_status st;

    memset(err, 'x', sizeof err);
    st = vae_gunzip(data, size, FUZZ_MAX_OUT, &out, &out_len, err, sizeof err);
    if (st == VAE_OK) {
        volatile unsigned char sink;
        if (!out || out_len > FUZZ_MAX_OUT)
            abort();
        /* read the last byte, so that ASan catches a buffer shorter than out_len */
        if (out_len)
            sink = out[out_len - 1];
        (void)sink;
        free(out);
    } else if (st != VAE_ERR_FORMAT || out || out_len || err[0] == '\0' ||
               !memchr(err, '\0', sizeof err)) {
        abort();
    }
    return 0;
}
