/* mcu.h — what startup.c offers main.c. */
#ifndef MCU_H
#define MCU_H
#include <stdint.h>

#define MCU_STACK_PAINT 0xdeadbeefu

extern uint32_t __stack_limit__[], __stack_top__[];       /* linker script */
extern uint32_t __data_start__[], __data_end__[];
extern uint32_t __bss_start__[], __bss_end__[];

void mcu_stack_paint(void);     /* fill the unused stack with MCU_STACK_PAINT */
uint32_t *mcu_stack_low(void);  /* lowest word written since the paint */

#endif
