/* fuzz_checkpoint.c — libFuzzer harness for the checkpoint reader. Built
   and run by `make fuzz` and `make fuzz-ci`; seeds in corpus/checkpoint/.

   Each input is read twice: as it is, which mostly tests the header and
   the CRC, and with its last four bytes replaced by the CRC of the rest,
   which lets every mutation through the checksum to the parser behind it
   (the path a hostile file with a valid CRC takes). Every input must end
   in VAE_OK or an error with a message: never a crash, a leak, a hang, a
   sanitizer report or a large allocation. A file that loads must then
   work: it samples, and what it saves loads again. */
#include "../../vae.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_and_use(const unsigned char *p, size_t n)
{
    vae *m = new_model(), *again = NULL;
    vae_status st;
    bytes b = {NULL, 0};
    float mean[2 * 64];
    if (!m)
        return;
    st = finish(m, load_into(m, "fuzz", p, n, NULL));
    if (st != VAE_OK) {
        if (!m->error[0])
            abort(); /* every failure says why */
        vae_free(m);
        return;
    }
    m->usable = 1;
    if (m->cfg.input_dim <= 64 && vae_sample(m, 2, mean) != VAE_OK && !vae_error(m)[0])
        abort();
    if (serialise(m, &b) == VAE_OK) {
        again = new_model();
        if (again && load_into(again, "again", b.p, b.len, NULL) != VAE_OK)
            abort(); /* what was saved must load */
        vae_free(again);
    }
    VAE_FREE(b.p);
    vae_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *fixed;
    load_and_use(data, size);
    if (size < 16)
        return 0;
    fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    put_le32(fixed + size - 4, vae_crc32(0, fixed, size - 4));
    load_and_use(fixed, size);
    free(fixed);
    return 0;
}
