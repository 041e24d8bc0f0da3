/* example.h — a stand-in for `vae export --format c --name example`, with the
 * same interface (macros in upper case, as the exporter writes them; run.sh
 * accepts either case), used only to develop the MCU harness (run.sh):
 * z (4) -> dense 32, tanh -> dense 49 -> sigmoid -> mean (1 x 7 x 7). */
#ifndef EXAMPLE_EXPORTED_H
#define EXAMPLE_EXPORTED_H

#define EXAMPLE_Z 4                     /* latent size */
#define EXAMPLE_C 1
#define EXAMPLE_H 7
#define EXAMPLE_W 7
#define EXAMPLE_D 49                    /* C*H*W */
#define EXAMPLE_SCRATCH_FLOATS 32       /* the hidden layer */

/* z[EXAMPLE_Z] -> mean[EXAMPLE_D]; scratch[EXAMPLE_SCRATCH_FLOATS] is
 * overwritten.  No allocation, no global state: reentrant. */
void example_decode(const float *z, float *mean, float *scratch);

#endif
