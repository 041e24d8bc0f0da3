/* portable.h — the few POSIX calls the tests make, also for Windows
   (mingw-w64, run under wine by tests/cross.sh). */
#ifndef VAE_TESTS_PORTABLE_H
#define VAE_TESTS_PORTABLE_H

#include <stdio.h>
#include <stdlib.h>

#ifdef _WIN32
#include <direct.h>
#include <io.h>

static inline int test_mkdir(const char *path)
{
    return _mkdir(path);
}

/* template ends in XXXXXX, as for mkdtemp */
static inline char *test_mkdtemp(char *template_)
{
    return _mktemp(template_) && _mkdir(template_) == 0 ? template_ : NULL;
}

#define test_rmdir _rmdir
#define test_getcwd(buf, size) _getcwd(buf, (int)(size))
#define test_popen _popen
#define test_pclose _pclose
#else
#include <sys/stat.h>
#include <unistd.h>

static inline int test_mkdir(const char *path)
{
    return mkdir(path, 0700);
}

static inline char *test_mkdtemp(char *template_)
{
    return mkdtemp(template_);
}

#define test_rmdir rmdir
#define test_getcwd getcwd
#define test_popen popen
#define test_pclose pclose
#endif

#endif
