/* train.h — `vae train`, the training loop (train.c). */
#ifndef VAE_TOOLS_TRAIN_H
#define VAE_TOOLS_TRAIN_H

/* Runs `vae train` with the words after it; returns the exit status. */
int cmd_train(int argc, char **argv);

#endif
