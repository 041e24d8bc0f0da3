/* platform.h — what the vae program needs from the operating system beyond
   C99, for POSIX and for Windows (mingw-w64), each in one place. */
#ifndef VAE_TOOLS_PLATFORM_H
#define VAE_TOOLS_PLATFORM_H

#include <stdio.h>

/* Once, first: on Windows, stdout and stderr write "\n" as it is, as
   every file is written, so that output is the same on every platform. */
void platform_init(void);

/* Makes the directory path (its parent must exist): 0, or -1 with errno,
   EEXIST when something is there already. */
int platform_mkdir(const char *path);

/* The working directory into buf (size bytes): 0, or -1. */
int platform_cwd(char *buf, size_t size);

/* 1 when path names a directory. */
int platform_is_dir(const char *path);

/* Whether c separates the parts of a path: '/', and on Windows '\\'. */
int platform_is_separator(char c);

/* Whether f is a terminal (a console on Windows), for the progress bar. */
int platform_is_terminal(FILE *f);

/* Seconds on a clock that never goes back. */
double platform_wall_seconds(void);

/* CPU seconds of the whole process, all its threads. */
double platform_cpu_seconds(void);

/* Seconds all the cores together have stood idle since the system
   started (Linux's /proc/stat, Windows' GetSystemTimes), or -1. */
double platform_idle_seconds(void);

/* Until platform_release_stop, a request to stop calls on_stop(SIGINT)
   or on_stop(SIGTERM), and the program goes on: Ctrl-C and SIGTERM on
   POSIX (system calls restarted; SIGINT left ignored in a program started
   in the background), Ctrl-C and Ctrl-Break on a Windows console. */
void platform_catch_stop(void (*on_stop)(int));
void platform_release_stop(void);

#endif
