/* host_main.c — the host twin of main.c: the same decoder on the same inputs,
 * printed in the same format ("# input I", then "%.9g 0x%08lx" a value), so
 * that run.sh can compare the Cortex-M outputs with these line by line. */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include "model.h"
#include "inputs.h"

#define N_INPUTS (sizeof inputs / sizeof inputs[0])

typedef char inputs_have_model_z[
    sizeof inputs[0] / sizeof inputs[0][0] == MODEL_Z ? 1 : -1];

static float scratch[MODEL_SCRATCH_FLOATS + 1];
static float mean[MODEL_D];

int main(void)
{
    unsigned long i, k;
    uint32_t u;

    for (i = 0; i < N_INPUTS; i++) {
        model_decode(inputs[i], mean, scratch);
        printf("# input %lu\n", i);
        for (k = 0; k < MODEL_D; k++) {
            memcpy(&u, &mean[k], sizeof u);
            printf("%.9g 0x%08lx\n", (double)mean[k], (unsigned long)u);
        }
    }
    return 0;
}
