/* platform.c — see platform.h. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "platform.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <direct.h>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <windows.h>

void platform_init(void)
{
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
}

int platform_mkdir(const char *path)
{
    return _mkdir(path);
}

int platform_cwd(char *buf, size_t size)
{
    return size <= 0x7fffffff && _getcwd(buf, (int)size) ? 0 : -1;
}

int platform_is_dir(const char *path)
{
    DWORD a = GetFileAttributesA(path);
    return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

int platform_is_separator(char c)
{
    return c == '/' || c == '\\';
}

int platform_is_terminal(FILE *f)
{
    return _isatty(_fileno(f));
}

double platform_wall_seconds(void)
{
    LARGE_INTEGER t, hz;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&hz);
    return (double)t.QuadPart / (double)hz.QuadPart;
}

/* FILETIMEs count 100 ns. */
static double filetime_seconds(const FILETIME *t)
{
    return ((double)t->dwHighDateTime * 4294967296.0 + (double)t->dwLowDateTime) * 1e-7;
}

double platform_cpu_seconds(void)
{
    FILETIME created, ended, kernel, user;
    if (!GetProcessTimes(GetCurrentProcess(), &created, &ended, &kernel, &user))
        return 0.0;
    return filetime_seconds(&kernel) + filetime_seconds(&user);
}

double platform_idle_seconds(void)
{
    FILETIME idle, kernel, user;
    return GetSystemTimes(&idle, &kernel, &user) ? filetime_seconds(&idle) : -1.0;
}

static void (*stop_handler)(int);

static BOOL WINAPI on_console_event(DWORD event)
{
    if ((event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT) && stop_handler) {
        stop_handler(SIGINT);
        return TRUE; /* handled: the program stops when the step is done */
    }
    return FALSE;
}

void platform_catch_stop(void (*on_stop)(int))
{
    stop_handler = on_stop;
    SetConsoleCtrlHandler(on_console_event, TRUE);
}

void platform_release_stop(void)
{
    SetConsoleCtrlHandler(on_console_event, FALSE);
    stop_handler = NULL;
}

#else
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void platform_init(void)
{
}

int platform_mkdir(const char *path)
{
    return mkdir(path, 0777);
}

int platform_cwd(char *buf, size_t size)
{
    return getcwd(buf, size) ? 0 : -1;
}

int platform_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int platform_is_separator(char c)
{
    return c == '/';
}

int platform_is_terminal(FILE *f)
{
    return isatty(fileno(f));
}

double platform_wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* (clock() wraps after 36 minutes where clock_t has 32 bits) */
double platform_cpu_seconds(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0)
        return 0.0;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double platform_idle_seconds(void)
{
    unsigned long long user, nice, system, idle, iowait;
    long ticks = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/stat", "rb");
    int got;
    if (!f)
        return -1.0;
    got = fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait);
    fclose(f);
    return got == 5 && ticks > 0 ? (double)(idle + iowait) / (double)ticks : -1.0;
}

static struct sigaction old_int, old_term;

void platform_catch_stop(void (*on_stop)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART; /* a write to a pipe goes on through the signal */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (old_int.sa_handler == SIG_IGN) /* started in the background: leave it so */
        sigaction(SIGINT, &old_int, NULL);
}

void platform_release_stop(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}
#endif
