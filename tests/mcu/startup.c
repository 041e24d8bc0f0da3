/* startup.c — bare-metal start for the Cortex-M3/M4F test images (see run.sh).
 *
 * The vector table holds the initial stack pointer and the reset handler; the
 * other 14 core exceptions go to a handler that loops, so that a fault stops
 * the program where a debugger can see it (run.sh's timeout then ends QEMU).
 * Each is a weak alias, so main.c can supply its own (it counts SysTick wraps).
 *
 * The reset handler does what the C runtime assumes has been done, then calls
 * main through newlib's exit() so that its return value becomes QEMU's exit
 * status (rdimon's _exit reports it over semihosting).  It does not call
 * newlib's _start (rdimon-crt0): that one asks the host for the stack through
 * SYS_HEAPINFO and moves SP to what QEMU guesses (on mps2-an386 the top of
 * PSRAM, 0x22000000), which would leave the painted stack region unused.  We link with -nostartfiles and do the rest of
 * its work ourselves: initialise_monitor_handles() and exit(main()).  The
 * constructor call (__libc_init_array) is left out: this is C with none, and
 * without crti.o it would need stub _init/_fini.
 *
 * Symbols come from the linker scripts (lm3s6965evb.ld, mps2-an386.ld).
 */
#include <stdint.h>
#include <stdlib.h>
#include "mcu.h"

extern uint32_t __data_load__[];          /* .data's image in flash */
extern char *__heap_limit;                /* rdimon's sbrk refuses to pass it */
extern void initialise_monitor_handles(void);
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);

/* A fault or stray interrupt ends here; run.sh's timeout reports it. */
void Default_Handler(void)
{
    for (;;)
        ;
}

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;

/* The 16 core entries of ARMv7-M; no device interrupts are used. */
__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top__,      /* 0: initial SP, loaded by the core */
    Reset_Handler,                      /* 1 */
    NMI_Handler,                        /* 2 */
    HardFault_Handler,                  /* 3 */
    MemManage_Handler,                  /* 4 */
    BusFault_Handler,                   /* 5 */
    UsageFault_Handler,                 /* 6 */
    Default_Handler,                    /* 7-10: reserved */
    Default_Handler,
    Default_Handler,
    Default_Handler,
    SVC_Handler,                        /* 11 */
    DebugMon_Handler,                   /* 12 */
    Default_Handler,                    /* 13: reserved */
    PendSV_Handler,                     /* 14 */
    SysTick_Handler,                    /* 15 */
};

/* Fill the stack from its limit up to our own SP with MCU_STACK_PAINT.
 * Noinline, so that "our own SP" is the caller's at the call: main.c paints
 * just before the decoder runs and so measures the decoder alone.  Writing
 * below SP is safe here: it is a leaf; the one interrupt main.c enables,
 * SysTick's wrap every 2^24 ticks, would at worst leave its exception frame
 * (32 or 104 bytes) in the measurement. */
__attribute__((noinline)) void mcu_stack_paint(void)
{
    uint32_t *p = __stack_limit__;
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    while (p < sp)
        *p++ = MCU_STACK_PAINT;
}

/* Lowest stack address written since the last paint: the first word from
 * the limit upward that no longer holds the pattern.  A frame that happens
 * to store the pattern itself would be missed; 0xdeadbeef is unlikely. */
uint32_t *mcu_stack_low(void)
{
    uint32_t *p = __stack_limit__;
    while (p < __stack_top__ && *p == MCU_STACK_PAINT)
        p++;
    return p;
}

void Reset_Handler(void)
{
    uint32_t *src = __data_load__, *dst;

    /* QEMU loads the ELF by physical (load) address, so .data's image sits
     * in flash as on a real part; copy it, and clear .bss. */
    for (dst = __data_start__; dst < __data_end__; )
        *dst++ = *src++;
    for (dst = __bss_start__; dst < __bss_end__; )
        *dst++ = 0;

#ifdef __ARM_FP
    /* CPACR: full access to CP10/CP11 (the FPU), or the first VFP
     * instruction faults (the hard-float ABI uses them even in printf). */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif

    mcu_stack_paint();
    /* Keep the heap (printf's buffers) out of the painted stack. */
    __heap_limit = (char *)__stack_limit__;

    initialise_monitor_handles();       /* stdin/stdout/stderr over semihosting */
    exit(main());
}
