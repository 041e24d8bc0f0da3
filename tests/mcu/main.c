/* main.c — run an exported decoder on a Cortex-M under QEMU (see run.sh).
 *
 * For each latent vector in inputs.h it runs the decoder once and prints,
 * through semihosting:
 *
 *   # input I
 *   %.9g 0x%08lx            one line per output value: decimal, then its bits
 *   # insns I N             instructions the decode took (see ticks() below)
 *   # stack I N             bytes of stack the decode used
 *
 * and at the end the RAM footprint and "# done".  Lines starting with '#'
 * are the harness's; the rest are the model's outputs, in the format that
 * host_main.c prints for the same decoder compiled for the host.
 *
 * Instruction count: run.sh starts QEMU with -icount shift=0, under which
 * virtual time advances exactly 1 ns per guest instruction, so any timer
 * clocked from virtual time counts instructions.  QEMU 7.2 has no DWT
 * (CYCCNT reads as 0) and its semihosting SYS_CLOCK/SYS_ELAPSED read the
 * host's clock, not virtual time; SysTick on the processor clock does follow
 * it (25 MHz on mps2-an386: 40 instructions a tick; 12.5 MHz on lm3s6965evb:
 * 80).  We measure instructions per tick at start-up with a loop of known
 * length rather than trusting a board table.  The count is deterministic;
 * its resolution is one tick.
 */
#include <stdio.h>
#include <stdint.h>
#include "mcu.h"
#include "model.h"      /* run.sh's shim: NAME.h as MODEL_* and model_decode */
#include "inputs.h"     /* static const float inputs[N][MODEL_Z] */

#define N_INPUTS (sizeof inputs / sizeof inputs[0])

/* inputs.h must hold latent vectors of the model's size (C99 static assert). */
typedef char inputs_have_model_z[
    sizeof inputs[0] / sizeof inputs[0][0] == MODEL_Z ? 1 : -1];

/* +1: a model that needs no scratch says 0, and C has no empty arrays. */
static float scratch[MODEL_SCRATCH_FLOATS + 1];
static float mean[MODEL_D];

// ---- SysTick as an instruction counter ----

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define SYST_RELOAD 0xFFFFFFu           /* the 24-bit maximum */

static volatile uint32_t systick_wraps;

/* Overrides startup.c's weak default: extends the 24-bit down-counter. */
void SysTick_Handler(void)
{
    systick_wraps++;
}

static void systick_start(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;                       /* any write clears it; reloads next tick */
    SYST_CSR = 7;                       /* CLKSOURCE = CPU, TICKINT, ENABLE */
}

/* Ticks since systick_start, 64 bits wide.  Reread if the wrap interrupt
 * came between the two reads. */
static uint64_t ticks(void)
{
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return ((uint64_t)w << 24) + (SYST_RELOAD - v);
}

/* Wait for the counter to step, so that a measurement starts on a tick edge
 * (within this loop's few instructions) instead of anywhere inside a tick. */
static void tick_edge(void)
{
    uint32_t v = SYST_CVR;
    while (SYST_CVR == v)
        ;
}

/* Exactly 2 instructions an iteration (subs, bne). */
static void spin(uint32_t n)
{
    __asm volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

/* Instructions per SysTick tick: time 2^21 instructions, round. */
static uint32_t insns_per_tick(void)
{
    uint64_t t0, t;
    tick_edge();
    t0 = ticks();
    spin(1u << 20);
    t = ticks() - t0;
    return t ? (uint32_t)(((2ull << 20) + t / 2) / t) : 0;
}

/* v in decimal and a newline: nano's printf has no %llu, and a conv
 * decoder can pass 2^32 instructions (QEMU runs ~200 million a second). */
static void print_u64(uint64_t v)
{
    unsigned long hi = (unsigned long)(v / 1000000000u);
    unsigned long lo = (unsigned long)(v % 1000000000u);
    if (hi)
        printf("%lu%09lu\n", hi, lo);
    else
        printf("%lu\n", lo);
}

// ---- main ----

int main(void)
{
    uint32_t ipt, i, k, stack_max = 0;
    union { float f; uint32_t u; } bits;

    systick_start();
    ipt = insns_per_tick();
    printf("# model %s: z %d -> %d outputs, %u inputs\n", MODEL_NAME,
           MODEL_Z, MODEL_D, (unsigned)N_INPUTS);
    printf("# clock SysTick, %lu instructions per tick\n", (unsigned long)ipt);

    for (i = 0; i < N_INPUTS; i++) {
        uint32_t *sp, *low;
        uint64_t t0, t1;

        __asm volatile("mov %0, sp" : "=r"(sp));
        mcu_stack_paint();              /* everything below our frame */
        tick_edge();
        t0 = ticks();
        model_decode(inputs[i], mean, scratch);
        t1 = ticks();
        low = mcu_stack_low();          /* before printf writes over it */

        printf("# input %lu\n", (unsigned long)i);
        for (k = 0; k < MODEL_D; k++) {
            bits.f = mean[k];
            printf("%.9g 0x%08lx\n", (double)mean[k], (unsigned long)bits.u);
        }
        printf("# insns %lu ", (unsigned long)i);
        print_u64((t1 - t0) * ipt);
        printf("# stack %lu %lu\n", (unsigned long)i,
               (unsigned long)((sp - low) * 4));
        if ((uint32_t)(sp - low) * 4 > stack_max)
            stack_max = (uint32_t)(sp - low) * 4;
    }

    printf("# stack_max %lu bytes (of %lu reserved)\n", (unsigned long)stack_max,
           (unsigned long)((__stack_top__ - __stack_limit__) * 4));
    printf("# ram data %lu bss %lu bytes\n",
           (unsigned long)((__data_end__ - __data_start__) * 4),
           (unsigned long)((__bss_end__ - __bss_start__) * 4));
    printf("# done\n");
    return 0;
}
