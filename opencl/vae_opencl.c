/* vae_opencl.c — the OpenCL backend (vae_opencl.h): the ICD loader opened
   at run time, the few OpenCL types and constants declared here, and one
   host function per operation of vae_backend.h, each queueing a kernel of
   opencl/kernels.h. One translation unit, C99; on POSIX it needs dlopen. */
#if defined(__unix__) || defined(__APPLE__)
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#endif

#include "vae_opencl.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(VAE_NO_OPENCL)
#elif defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "kernels.h"

/* ---- the part of cl.h this needs ---- */

typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint64_t cl_ulong;
typedef int64_t cl_long;
typedef cl_uint cl_bool;
typedef cl_ulong cl_bitfield;
typedef struct cl_opaque *cl_platform_id, *cl_device_id, *cl_context, *cl_command_queue, *cl_mem, *cl_program,
    *cl_kernel, *cl_event;
typedef intptr_t cl_context_properties;

#define CL_SUCCESS 0
#define CL_TRUE 1
#define CL_PLATFORM_NAME 0x0902
#define CL_PLATFORM_VERSION 0x0901
#define CL_DEVICE_TYPE_GPU (1 << 2)
#define CL_DEVICE_TYPE_ALL 0xFFFFFFFF
#define CL_DEVICE_NOT_FOUND (-1)
#define CL_DEVICE_TYPE 0x1000
#define CL_DEVICE_MAX_COMPUTE_UNITS 0x1002
#define CL_DEVICE_MAX_CLOCK_FREQUENCY 0x100C
#define CL_DEVICE_MAX_MEM_ALLOC_SIZE 0x1010
#define CL_DEVICE_GLOBAL_MEM_SIZE 0x101F
#define CL_DEVICE_NAME 0x102B
#define CL_DEVICE_VERSION 0x102F
#define CL_MEM_READ_WRITE (1 << 0)
#define CL_PROGRAM_BUILD_LOG 0x1183
#define CL_CONTEXT_PLATFORM 0x1084

#ifdef _WIN32
#define CL_API __stdcall
#else
#define CL_API
#endif

/* Every entry point used, loaded by name; a missing one is an error. */
#define CL_FUNCTIONS(X)                                                                                          \
    X(clGetPlatformIDs, cl_int, (cl_uint, cl_platform_id *, cl_uint *))                                          \
    X(clGetPlatformInfo, cl_int, (cl_platform_id, cl_uint, size_t, void *, size_t *))                            \
    X(clGetDeviceIDs, cl_int, (cl_platform_id, cl_bitfield, cl_uint, cl_device_id *, cl_uint *))                 \
    X(clGetDeviceInfo, cl_int, (cl_device_id, cl_uint, size_t, void *, size_t *))                                \
    X(clCreateContext, cl_context,                                                                               \
      (const cl_context_properties *, cl_uint, const cl_device_id *, void *, void *, cl_int *))                  \
    X(clCreateCommandQueue, cl_command_queue, (cl_context, cl_device_id, cl_bitfield, cl_int *))                 \
    X(clCreateBuffer, cl_mem, (cl_context, cl_bitfield, size_t, void *, cl_int *))                               \
    X(clEnqueueWriteBuffer, cl_int,                                                                              \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint, const cl_event *, cl_event *))  \
    X(clEnqueueReadBuffer, cl_int,                                                                               \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *, cl_event *))        \
    X(clCreateProgramWithSource, cl_program, (cl_context, cl_uint, const char **, const size_t *, cl_int *))     \
    X(clBuildProgram, cl_int, (cl_program, cl_uint, const cl_device_id *, const char *, void *, void *))         \
    X(clGetProgramBuildInfo, cl_int, (cl_program, cl_device_id, cl_uint, size_t, void *, size_t *))              \
    X(clCreateKernel, cl_kernel, (cl_program, const char *, cl_int *))                                           \
    X(clSetKernelArg, cl_int, (cl_kernel, cl_uint, size_t, const void *))                                        \
    X(clEnqueueNDRangeKernel, cl_int,                                                                            \
      (cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *, const size_t *, cl_uint,            \
       const cl_event *, cl_event *))                                                                            \
    X(clFinish, cl_int, (cl_command_queue))                                                                      \
    X(clFlush, cl_int, (cl_command_queue))                                                                       \
    X(clReleaseKernel, cl_int, (cl_kernel))                                                                      \
    X(clReleaseProgram, cl_int, (cl_program))                                                                    \
    X(clReleaseMemObject, cl_int, (cl_mem))                                                                      \
    X(clReleaseCommandQueue, cl_int, (cl_command_queue))                                                         \
    X(clReleaseContext, cl_int, (cl_context))

typedef struct {
    void *lib;
#define CL_POINTER(name, ret, args) ret(CL_API *name) args;
    CL_FUNCTIONS(CL_POINTER)
#undef CL_POINTER
} cl_api;

/* The kernels, each K_ENUM and its name in the program source. GEMM_SMALL
   is the GEMM of the second program, built for small tiles. A backend op
   launches one or more of them (gemm: GEMM or GEMM_SMALL, and
   GEMM_REDUCE when K is split; check_step: STEP_SUM and FINITE_SCAN),
   so this list is its own, beside vae_backend.h's VAE_BACKEND_OPS. */
#define OCL_KERNELS(X)                                                                                        \
    X(GEMM, gemm) X(GEMM_SMALL, gemm) X(GEMM_REDUCE, gemm_reduce) X(FILL_ZERO, fill_zero)                    \
    X(ACT_BACKWARD, act_backward) X(STEP_SUM, step_sum) X(FINITE_SCAN, finite_scan) X(ADAM, adam)            \
    X(REPARAM, reparam) X(REPARAM_BACKWARD, reparam_backward) X(KL_NORMAL, kl_normal)                        \
    X(KL_NORMAL_BACKWARD, kl_normal_backward) X(MOG_CACHE, mog_cache) X(MOG_LOG_PROB, mog_log_prob)          \
    X(MOG_DZ, mog_dz) X(MOG_PARAMS, mog_params) X(BERNOULLI, bernoulli) X(GAUSSIAN, gaussian)                \
    X(GAUSSIAN_BACKWARD, gaussian_backward) X(COMBINE, combine) X(GATHER_ROWS, gather_rows)                  \
    X(SCATTER_ROWS, scatter_rows) X(IM2COL, im2col) X(COL2IM, col2im)
#define KERNEL_ENUM(id, name) K_##id,
#define KERNEL_NAME(id, name) #name,
enum { OCL_KERNELS(KERNEL_ENUM) K_COUNT };
static const char *const kernel_names[K_COUNT] = {OCL_KERNELS(KERNEL_NAME)};
#undef KERNEL_ENUM
#undef KERNEL_NAME

/* After the model's block, room for the partial products of a GEMM whose
   K is split (16 MB: the reference model's largest weight, 200 x 784,
   sixteen times over, and more). */
#define PART_FLOATS ((size_t)1 << 22)

/* The GEMM's tile, and the least K worth splitting into chunks of at
   least this much. */
#define GEMM_TILE 64
#define GEMM_MIN_CHUNK 128

/* Writes are copied here and queued without a wait; the copy is reused
   after a blocking read, which in an in-order queue follows every write
   before it. 4 MB holds a step's batch and noise for IWAE k = 50, batch
   100; a larger write waits. */
#define STAGE_FLOATS ((size_t)1 << 20)

typedef struct {
    cl_api cl;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program, small_program; /* the second: the GEMM again, in 16 x 16 tiles */
    cl_kernel kernels[K_COUNT];
    cl_mem mem;
    size_t floats;      /* the model's; PART_FLOATS follow */
    cl_uint units;      /* compute units: how many GEMM tiles fill the device */
    float *stage;       /* STAGE_FLOATS: writes in flight */
    size_t staged;      /* floats of stage in use */
    unsigned long launches; /* kernels queued, and */
    unsigned long waits;    /* times the host waited: for tests and benchmarks */
    char why[2048];
} ocl_dev;

static const char *cl_error_name(cl_int e)
{
    static const struct {
        cl_int code;
        const char *name;
    } names[] = {
        {-1, "CL_DEVICE_NOT_FOUND"}, {-2, "CL_DEVICE_NOT_AVAILABLE"}, {-3, "CL_COMPILER_NOT_AVAILABLE"},
        {-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"}, {-5, "CL_OUT_OF_RESOURCES"}, {-6, "CL_OUT_OF_HOST_MEMORY"},
        {-11, "CL_BUILD_PROGRAM_FAILURE"}, {-30, "CL_INVALID_VALUE"}, {-32, "CL_INVALID_PLATFORM"},
        {-33, "CL_INVALID_DEVICE"}, {-34, "CL_INVALID_CONTEXT"}, {-36, "CL_INVALID_COMMAND_QUEUE"},
        {-38, "CL_INVALID_MEM_OBJECT"}, {-44, "CL_INVALID_PROGRAM"}, {-45, "CL_INVALID_PROGRAM_EXECUTABLE"},
        {-46, "CL_INVALID_KERNEL_NAME"}, {-48, "CL_INVALID_KERNEL"}, {-49, "CL_INVALID_ARG_INDEX"},
        {-50, "CL_INVALID_ARG_VALUE"}, {-51, "CL_INVALID_ARG_SIZE"}, {-52, "CL_INVALID_KERNEL_ARGS"},
        {-53, "CL_INVALID_WORK_DIMENSION"}, {-54, "CL_INVALID_WORK_GROUP_SIZE"}, {-55, "CL_INVALID_WORK_ITEM_SIZE"},
        {-56, "CL_INVALID_GLOBAL_OFFSET"}, {-61, "CL_INVALID_BUFFER_SIZE"}, {-63, "CL_INVALID_GLOBAL_WORK_SIZE"},
        {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
    };
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == e)
            return names[i].name;
    return "an OpenCL error";
}

static vae_status ocl_say(char *why, size_t len, vae_status s, const char *fmt, ...)
{
    va_list ap;
    if (len) {
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ---- the loader ---- */

#ifndef VAE_NO_OPENCL
static void *ocl_open_library(const char *path)
{
#ifdef _WIN32
    return (void *)LoadLibraryA(path);
#else
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
#endif
}

static void *ocl_find_symbol(void *lib, const char *name)
{
#ifdef _WIN32
    FARPROC f = GetProcAddress((HMODULE)lib, name);
    void *p;
    memcpy(&p, &f, sizeof p < sizeof f ? sizeof p : sizeof f);
    return p;
#else
    return dlsym(lib, name);
#endif
}

static void ocl_close_library(void *lib)
{
#ifdef _WIN32
    FreeLibrary((HMODULE)lib);
#else
    dlclose(lib);
#endif
}
#endif

/* Opens the loader and every entry point, or says which is missing. */
static vae_status ocl_load_api(cl_api *cl, char *why, size_t len)
{
#ifdef VAE_NO_OPENCL
    memset(cl, 0, sizeof *cl);
    return ocl_say(why, len, VAE_ERR_BACKEND, "OpenCL is not built in (NO_OPENCL)");
#else
    static const char *const paths[] = {
#if defined(_WIN32)
        "OpenCL.dll",
#elif defined(__APPLE__)
        "/System/Library/Frameworks/OpenCL.framework/OpenCL",
#else
        "libOpenCL.so.1", "libOpenCL.so",
#endif
    };
    static const char *const hint =
#if defined(_WIN32)
        "a GPU driver installs it";
#elif defined(__APPLE__)
        "macOS has it built in";
#else
        "install one, e.g. apt-get install ocl-icd-libopencl1 and a driver such as pocl-opencl-icd";
#endif
    const char *env = getenv("VAE_OPENCL_LIB");
    size_t i;
    memset(cl, 0, sizeof *cl);
    if (env && *env) {
        cl->lib = ocl_open_library(env);
        if (!cl->lib)
            return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL loader: VAE_OPENCL_LIB=%s cannot be opened", env);
    }
    for (i = 0; !cl->lib && i < sizeof paths / sizeof paths[0]; i++)
        cl->lib = ocl_open_library(paths[i]);
    if (!cl->lib)
        return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL loader (%s): %s; or set VAE_OPENCL_LIB", paths[0],
                       hint);
#define CL_LOAD(name, ret, args)                                                                                 \
    {                                                                                                            \
        void *p_ = ocl_find_symbol(cl->lib, #name);                                                                  \
        if (!p_) {                                                                                               \
            ocl_close_library(cl->lib);                                                                              \
            cl->lib = NULL;                                                                                      \
            return ocl_say(why, len, VAE_ERR_BACKEND, "the OpenCL library has no %s", #name);                      \
        }                                                                                                        \
        memcpy(&cl->name, &p_, sizeof p_);                                                                       \
    }
    CL_FUNCTIONS(CL_LOAD)
#undef CL_LOAD
    return VAE_OK;
#endif
}

static void ocl_unload_api(cl_api *cl)
{
#ifndef VAE_NO_OPENCL
    if (cl->lib)
        ocl_close_library(cl->lib);
#endif
    cl->lib = NULL;
}

/* At most this many platforms and devices a platform are looked at. */
#define MAX_IDS 16

static vae_status ocl_platforms(cl_api *cl, cl_platform_id *ids, cl_uint *n, char *why, size_t len)
{
    cl_int e = cl->clGetPlatformIDs(MAX_IDS, ids, n);
    if (e == -1001 || (e == CL_SUCCESS && *n == 0))
        return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL platform: the loader found no driver (ICD)");
    if (e != CL_SUCCESS)
        return ocl_say(why, len, VAE_ERR_BACKEND, "clGetPlatformIDs: %s (%d)", cl_error_name(e), (int)e);
    if (*n > MAX_IDS)
        *n = MAX_IDS;
    return VAE_OK;
}

static cl_uint ocl_devices_of(cl_api *cl, cl_platform_id p, cl_bitfield type, cl_device_id *ids)
{
    cl_uint n = 0;
    if (cl->clGetDeviceIDs(p, type, MAX_IDS, ids, &n) != CL_SUCCESS)
        return 0;
    return n < MAX_IDS ? n : MAX_IDS;
}

/* The device of params: (P, D), or the first GPU, else the first device. */
static vae_status ocl_pick_device(cl_api *cl, const vae_opencl_params *want, cl_platform_id *platform,
                              cl_device_id *device, char *why, size_t len)
{
    cl_platform_id ps[MAX_IDS];
    cl_device_id ds[MAX_IDS];
    cl_uint np = 0, i, pass;
    vae_status s = ocl_platforms(cl, ps, &np, why, len);
    if (s != VAE_OK)
        return s;
    if (want && (want->platform >= 0 || want->device >= 0)) {
        int pi = want->platform < 0 ? 0 : want->platform, di = want->device < 0 ? 0 : want->device;
        cl_uint nd;
        if ((cl_uint)pi >= np)
            return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL platform %d: there are %u (vae devices)", pi,
                       (unsigned)np);
        nd = ocl_devices_of(cl, ps[pi], CL_DEVICE_TYPE_ALL, ds);
        if ((cl_uint)di >= nd)
            return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL device %d.%d: platform %d has %u (vae devices)", pi,
                       di, pi, (unsigned)nd);
        *platform = ps[pi];
        *device = ds[di];
        return VAE_OK;
    }
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < np; i++)
            if (ocl_devices_of(cl, ps[i], pass ? CL_DEVICE_TYPE_ALL : CL_DEVICE_TYPE_GPU, ds) > 0) {
                *platform = ps[i];
                *device = ds[0];
                return VAE_OK;
            }
    return ocl_say(why, len, VAE_ERR_BACKEND, "no OpenCL device on any of the %u platforms", (unsigned)np);
}

/* ---- the backend ---- */

static vae_status cl_fail(ocl_dev *d, const char *what, cl_int e)
{
    return ocl_say(d->why, sizeof d->why, VAE_ERR_BACKEND, "%s: %s (%d)", what, cl_error_name(e), (int)e);
}

static void ocl_destroy(void *dev)
{
    ocl_dev *d = dev;
    int i;
    if (!d)
        return;
    if (d->queue)
        d->cl.clFinish(d->queue);
    for (i = 0; i < K_COUNT; i++)
        if (d->kernels[i])
            d->cl.clReleaseKernel(d->kernels[i]);
    if (d->program)
        d->cl.clReleaseProgram(d->program);
    if (d->small_program)
        d->cl.clReleaseProgram(d->small_program);
    if (d->mem)
        d->cl.clReleaseMemObject(d->mem);
    if (d->queue)
        d->cl.clReleaseCommandQueue(d->queue);
    if (d->context)
        d->cl.clReleaseContext(d->context);
    ocl_unload_api(&d->cl);
    free(d->stage);
    free(d);
}

/* Builds count literals of the source with options into *program, or
   says why with the build log. */
static vae_status ocl_build(ocl_dev *d, cl_device_id device, const char *const *source, cl_uint count,
                            const char *options, cl_program *program)
{
    cl_int e;
    *program = d->cl.clCreateProgramWithSource(d->context, count, (const char **)source, NULL, &e);
    if (e != CL_SUCCESS)
        return cl_fail(d, "clCreateProgramWithSource", e);
    e = d->cl.clBuildProgram(*program, 1, &device, options, NULL, NULL);
    if (e != CL_SUCCESS) {
        /* the whole log (a buffer too small for it gets none), cut to fit */
        size_t n = 0;
        char *log = NULL;
        if (d->cl.clGetProgramBuildInfo(*program, device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
            (log = calloc(n + 1, 1)) != NULL)
            d->cl.clGetProgramBuildInfo(*program, device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        ocl_say(d->why, sizeof d->why, VAE_ERR_BACKEND, "the kernels do not build: %s (%d): %s", cl_error_name(e),
                (int)e, log ? log : "(no log)");
        free(log);
        return VAE_ERR_BACKEND;
    }
    return VAE_OK;
}

static vae_status ocl_build_program(ocl_dev *d, cl_device_id device)
{
    cl_int e;
    int i;
    /* the shared definitions and the GEMM are the first two literals */
    vae_status s = ocl_build(d, device, vae_cl_source, sizeof vae_cl_source / sizeof vae_cl_source[0], "-DWPT=4",
                             &d->program);
    if (s == VAE_OK)
        s = ocl_build(d, device, vae_cl_source, 2, "-DWPT=1", &d->small_program);
    if (s != VAE_OK)
        return s;
    for (i = 0; i < K_COUNT; i++) {
        d->kernels[i] = d->cl.clCreateKernel(i == K_GEMM_SMALL ? d->small_program : d->program, kernel_names[i], &e);
        if (e != CL_SUCCESS)
            return cl_fail(d, kernel_names[i], e);
    }
    return VAE_OK;
}

static vae_status ocl_create(void **out, size_t floats, const void *params, char *why, size_t why_len)
{
    ocl_dev *d = calloc(1, sizeof *d);
    cl_platform_id platform = NULL;
    cl_device_id device = NULL;
    cl_context_properties props[3];
    cl_int e;
    vae_status s;
    *out = NULL;
    if (!d)
        return ocl_say(why, why_len, VAE_ERR_NOMEM, "out of memory");
    s = ocl_load_api(&d->cl, why, why_len);
    if (s == VAE_OK)
        s = ocl_pick_device(&d->cl, params, &platform, &device, why, why_len);
    if (s != VAE_OK) {
        ocl_destroy(d);
        return s;
    }
    props[0] = CL_CONTEXT_PLATFORM;
    props[1] = (cl_context_properties)platform;
    props[2] = 0;
    d->floats = floats;
    d->device = device;
    d->context = d->cl.clCreateContext(props, 1, &device, NULL, NULL, &e);
    if (e != CL_SUCCESS)
        s = cl_fail(d, "clCreateContext", e);
    if (s == VAE_OK) {
        d->queue = d->cl.clCreateCommandQueue(d->context, device, 0, &e);
        if (e != CL_SUCCESS)
            s = cl_fail(d, "clCreateCommandQueue", e);
    }
    if (s == VAE_OK && floats > (SIZE_MAX / sizeof(float)) - PART_FLOATS)
        s = ocl_say(d->why, sizeof d->why, VAE_ERR_NOMEM, "a block of %lu floats does not fit", (unsigned long)floats);
    if (s == VAE_OK && !(d->stage = malloc(STAGE_FLOATS * sizeof(float))))
        s = ocl_say(d->why, sizeof d->why, VAE_ERR_NOMEM, "out of memory");
    if (s == VAE_OK) {
        d->mem = d->cl.clCreateBuffer(d->context, CL_MEM_READ_WRITE, (floats + PART_FLOATS) * sizeof(float), NULL,
                                      &e);
        if (e != CL_SUCCESS)
            s = ocl_say(d->why, sizeof d->why, VAE_ERR_NOMEM, "clCreateBuffer of %.1f MB: %s (%d)",
                        (double)(floats + PART_FLOATS) * sizeof(float) / 1e6, cl_error_name(e), (int)e);
    }
    if (s == VAE_OK) {
        d->cl.clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->units, &d->units, NULL);
        d->units = d->units ? d->units : 1;
    }
    if (s == VAE_OK)
        s = ocl_build_program(d, device);
    if (s != VAE_OK) {
        ocl_say(why, why_len, s, "%s", d->why);
        ocl_destroy(d);
        return s;
    }
    *out = d;
    return VAE_OK;
}

static const char *ocl_error(void *dev)
{
    ocl_dev *d = dev;
    return d && d->why[0] ? d->why : NULL;
}

/* Queues kernel k over `global` work-items (rounded up to whole groups of
   `local`, 0 for the device's choice) in `dims` dimensions, with the
   arguments after the buffer described by types: i int, l long (a
   vae_ref: VAE_NO_REF becomes -1), f float (passed as double). */
static vae_status ocl_launch(ocl_dev *d, int k, int dims, const size_t *global, const size_t *local, const char *types,
                         ...)
{
    cl_kernel kern = d->kernels[k];
    size_t g[3], i;
    cl_uint arg = 1;
    cl_int e = d->cl.clSetKernelArg(kern, 0, sizeof d->mem, &d->mem);
    va_list ap;
    va_start(ap, types);
    for (; e == CL_SUCCESS && *types; types++, arg++) {
        if (*types == 'i') {
            cl_int v = (cl_int)va_arg(ap, int);
            e = d->cl.clSetKernelArg(kern, arg, sizeof v, &v);
        } else if (*types == 'l') {
            vae_ref r = va_arg(ap, vae_ref);
            cl_long v = r == VAE_NO_REF ? -1 : (cl_long)r;
            e = d->cl.clSetKernelArg(kern, arg, sizeof v, &v);
        } else {
            float v = (float)va_arg(ap, double);
            e = d->cl.clSetKernelArg(kern, arg, sizeof v, &v);
        }
    }
    va_end(ap);
    if (e != CL_SUCCESS)
        return cl_fail(d, kernel_names[k], e);
    for (i = 0; i < (size_t)dims; i++) {
        g[i] = global[i] ? global[i] : 1;
        if (local && local[i])
            g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
    }
    e = d->cl.clEnqueueNDRangeKernel(d->queue, kern, (cl_uint)dims, NULL, g, local, 0, NULL, NULL);
    d->launches++;
    return e == CL_SUCCESS ? VAE_OK : cl_fail(d, kernel_names[k], e);
}

/* One dimension of n work-items, in groups of 64. */
#define LAUNCH1(d, k, n, ...)                                                                                    \
    ocl_launch(d, k, 1, (size_t[]){(n)}, (size_t[]){64}, __VA_ARGS__)

/* A write goes through the stage and returns at once; one larger than
   the stage, or one that finds it full, waits (loading a model, not a
   training step). */
static vae_status ocl_write(void *dev, vae_ref dst, const float *src, size_t n)
{
    ocl_dev *d = dev;
    cl_int e;
    if (!n)
        return VAE_OK;
    if (n > STAGE_FLOATS - d->staged && d->staged) {
        d->waits++;
        e = d->cl.clFinish(d->queue);
        if (e != CL_SUCCESS)
            return cl_fail(d, "clFinish", e);
        d->staged = 0;
    }
    if (n > STAGE_FLOATS) {
        d->waits++;
        e = d->cl.clEnqueueWriteBuffer(d->queue, d->mem, CL_TRUE, dst * sizeof(float), n * sizeof(float), src, 0,
                                       NULL, NULL);
    } else {
        float *copy = d->stage + d->staged;
        memcpy(copy, src, n * sizeof(float));
        d->staged += n;
        e = d->cl.clEnqueueWriteBuffer(d->queue, d->mem, 0, dst * sizeof(float), n * sizeof(float), copy, 0, NULL,
                                       NULL);
    }
    return e == CL_SUCCESS ? VAE_OK : cl_fail(d, "clEnqueueWriteBuffer", e);
}

static vae_status ocl_read(void *dev, vae_ref src, float *dst, size_t n)
{
    ocl_dev *d = dev;
    cl_int e;
    if (!n)
        return VAE_OK;
    d->waits++;
    e = d->cl.clEnqueueReadBuffer(d->queue, d->mem, CL_TRUE, src * sizeof(float), n * sizeof(float), dst, 0, NULL,
                                  NULL);
    if (e != CL_SUCCESS)
        return cl_fail(d, "clEnqueueReadBuffer", e);
    d->staged = 0; /* every write before it is done */
    return VAE_OK;
}

static vae_status ocl_zero(void *dev, vae_ref dst, size_t n)
{
    return n ? LAUNCH1((ocl_dev *)dev, K_FILL_ZERO, n, "ll", dst, (vae_ref)n) : VAE_OK;
}

/* How many chunks to split K into: only for a weight's gradient (a^T b,
   where K is the batch's rows and the output small), and only while the
   output's tiles are too few to keep every compute unit busy. The count
   depends on the shape and the device alone, so one device always sums
   in the same order. */
static int ocl_gemm_splits(const ocl_dev *d, int ta, int tb, int m, int n, int k)
{
    size_t tiles = (size_t)((m + GEMM_TILE - 1) / GEMM_TILE) * (size_t)((n + GEMM_TILE - 1) / GEMM_TILE);
    size_t want = 2 * (size_t)d->units, splits;
    if (!ta || tb || tiles >= want || k < 2 * GEMM_MIN_CHUNK)
        return 1;
    splits = (want + tiles - 1) / tiles;
    if (splits > (size_t)k / GEMM_MIN_CHUNK)
        splits = (size_t)k / GEMM_MIN_CHUNK;
    if (splits > PART_FLOATS / ((size_t)m * n))
        splits = PART_FLOATS / ((size_t)m * n);
    return splits > 1 ? (int)splits : 1;
}

/* 16 x 16 tiles for an output that would waste most of a 64 x 64 tile, or
   whose 64 x 64 tiles are fewer than the compute units. */
static int ocl_gemm_small(const ocl_dev *d, int m, int n)
{
    size_t tiles = (size_t)((m + GEMM_TILE - 1) / GEMM_TILE) * (size_t)((n + GEMM_TILE - 1) / GEMM_TILE);
    return m < 48 || n < 48 || tiles < d->units;
}

static vae_status ocl_gemm(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                           vae_ref c, int ldc, vae_ref bias, int act, int accumulate)
{
    ocl_dev *d = dev;
    size_t global[3], local[3] = {16, 16, 1};
    int splits, chunk;
    vae_status s;
    if (m <= 0 || n <= 0)
        return VAE_OK;
    splits = ocl_gemm_splits(d, ta, tb, m, n, k);
    if (splits <= 1 && ocl_gemm_small(d, m, n)) {
        global[0] = (size_t)(n + 15) / 16 * 16;
        global[1] = (size_t)(m + 15) / 16 * 16;
        global[2] = 1;
        return ocl_launch(d, K_GEMM_SMALL, 3, global, local, "iiiiililililiili", ta, tb, m, n, k, a, lda, b, ldb, c,
                          ldc, bias, act, k > 0 ? k : 1, VAE_NO_REF, accumulate);
    }
    /* whole tiles of K in each chunk, so that only the last is ragged */
    chunk = (k + splits - 1) / splits;
    chunk = (chunk + 15) / 16 * 16;
    splits = chunk ? (k + chunk - 1) / chunk : 1;
    global[0] = (size_t)(n + GEMM_TILE - 1) / GEMM_TILE * 16;
    global[1] = (size_t)(m + GEMM_TILE - 1) / GEMM_TILE * 16;
    global[2] = (size_t)(splits > 1 ? splits : 1);
    if (splits <= 1)
        return ocl_launch(d, K_GEMM, 3, global, local, "iiiiililililiili", ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
                          bias, act, k > 0 ? k : 1, VAE_NO_REF, accumulate);
    s = ocl_launch(d, K_GEMM, 3, global, local, "iiiiililililiili", ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
                   VAE_NO_REF, VAE_ACT_NONE, chunk, (vae_ref)d->floats, 0);
    if (s != VAE_OK)
        return s;
    return LAUNCH1(d, K_GEMM_REDUCE, (size_t)m * n, "liiililii", (vae_ref)d->floats, splits, m, n, c, ldc, bias,
                   act, accumulate);
}

static vae_status ocl_act_backward(void *dev, vae_ref dy, vae_ref y, vae_ref scale, vae_ref dbias, int rows,
                                   int cols, int act, int group)
{
    return LAUNCH1((ocl_dev *)dev, K_ACT_BACKWARD, (size_t)cols, "lllliiii", dy, y, scale, dbias, rows, cols, act,
                   group);
}

static vae_status ocl_im2col(void *dev, vae_ref images, vae_ref cols, int n, const vae_conv_geom *g)
{
    size_t count = (size_t)n * g->oh * g->ow * g->k * g->k * g->c;
    return count ? LAUNCH1((ocl_dev *)dev, K_IM2COL, count, "lliiiiiiiii", images, cols, n, g->h, g->w, g->c, g->oh,
                           g->ow, g->k, g->stride, g->pad)
                 : VAE_OK;
}

static vae_status ocl_col2im(void *dev, vae_ref cols, vae_ref images, vae_ref bias, int act, int n,
                             const vae_conv_geom *g)
{
    size_t count = (size_t)n * g->h * g->w * g->c;
    return count ? LAUNCH1((ocl_dev *)dev, K_COL2IM, count, "llliiiiiiiiii", cols, images, bias, act, n, g->h, g->w,
                           g->c, g->oh, g->ow, g->k, g->stride, g->pad)
                 : VAE_OK;
}

static vae_status ocl_reparam(void *dev, vae_ref mu_logvar, vae_ref eps, vae_ref std, vae_ref z,
                              vae_ref log_p_minus_q, int n, int k, int zdim)
{
    return LAUNCH1((ocl_dev *)dev, K_REPARAM, (size_t)n * k, "llllliii", mu_logvar, eps, std, z, log_p_minus_q, n,
                   k, zdim);
}

static vae_status ocl_reparam_backward(void *dev, vae_ref dz, vae_ref z, vae_ref eps, vae_ref std, vae_ref weight,
                                       vae_ref dmu_logvar, int n, int k, int zdim)
{
    return LAUNCH1((ocl_dev *)dev, K_REPARAM_BACKWARD, (size_t)n * zdim, "lllllliii", dz, z, eps, std, weight,
                   dmu_logvar, n, k, zdim);
}

static vae_status ocl_mog_log_prob(void *dev, vae_ref z, vae_ref mean, vae_ref logvar, vae_ref logit,
                                   vae_ref cache, vae_ref resp, vae_ref log_p_minus_q, int rows, int zdim, int K)
{
    ocl_dev *d = dev;
    vae_status s = LAUNCH1(d, K_MOG_CACHE, (size_t)K * zdim, "lllii", logvar, logit, cache, K, zdim);
    if (s != VAE_OK)
        return s;
    return LAUNCH1(d, K_MOG_LOG_PROB, (size_t)rows, "lllllliii", z, mean, logvar, cache, resp, log_p_minus_q, rows,
                   zdim, K);
}

static vae_status ocl_mog_backward(void *dev, vae_ref z, vae_ref mean, vae_ref cache, vae_ref resp, vae_ref weight,
                                   vae_ref dz, vae_ref dmean, vae_ref dlogvar, vae_ref dlogit, int rows, int zdim,
                                   int K)
{
    ocl_dev *d = dev;
    vae_status s = LAUNCH1(d, K_MOG_DZ, (size_t)rows * zdim, "lllllliii", z, mean, cache, resp, weight, dz, rows,
                           zdim, K);
    if (s != VAE_OK)
        return s;
    return LAUNCH1(d, K_MOG_PARAMS, (size_t)K * zdim, "lllllllliii", z, mean, cache, resp, weight, dmean, dlogvar,
                   dlogit, rows, zdim, K);
}

static vae_status ocl_kl_normal(void *dev, vae_ref mu_logvar, vae_ref log_p_minus_q, int n, int k, int zdim)
{
    return LAUNCH1((ocl_dev *)dev, K_KL_NORMAL, (size_t)n, "lliii", mu_logvar, log_p_minus_q, n, k, zdim);
}

static vae_status ocl_kl_normal_backward(void *dev, vae_ref mu_logvar, vae_ref weight, vae_ref dmu_logvar, int n,
                                         int k, int zdim)
{
    return LAUNCH1((ocl_dev *)dev, K_KL_NORMAL_BACKWARD, (size_t)n * zdim, "llliii", mu_logvar, weight, dmu_logvar,
                   n, k, zdim);
}

static vae_status ocl_bernoulli(void *dev, vae_ref logits, vae_ref x, vae_ref log_px, int rows, int k, int d,
                                int grad)
{
    return LAUNCH1((ocl_dev *)dev, K_BERNOULLI, (size_t)rows, "llliiii", logits, x, log_px, rows, k, d, grad);
}

static vae_status ocl_gaussian(void *dev, vae_ref logits, vae_ref x, vae_ref log_sigma, vae_ref log_px,
                               vae_ref sq_err, int rows, int k, int d, int linear, int grad)
{
    return LAUNCH1((ocl_dev *)dev, K_GAUSSIAN, (size_t)rows, "llllliiiii", logits, x, log_sigma, log_px, sq_err,
                   rows, k, d, linear, grad);
}

static vae_status ocl_gaussian_backward(void *dev, vae_ref sq_err, vae_ref weight, vae_ref log_sigma,
                                        vae_ref dlog_sigma, int rows, int d)
{
    return LAUNCH1((ocl_dev *)dev, K_GAUSSIAN_BACKWARD, 1, "llllii", sq_err, weight, log_sigma, dlog_sigma, rows, d);
}

static vae_status ocl_combine(void *dev, vae_ref log_px, vae_ref log_p_minus_q, float beta, vae_ref logw,
                              vae_ref bound, vae_ref objective, vae_ref weight, vae_ref latent_weight, int n, int k,
                              int iwae)
{
    return LAUNCH1((ocl_dev *)dev, K_COMBINE, (size_t)n, "llfllllliii", log_px, log_p_minus_q, (double)beta, logw,
                   bound, objective, weight, latent_weight, n, k, iwae);
}

/* Every row is kept. Learning which rows have weight zero would cost a
   wait in the middle of each step, and with it the device's queue would
   run dry while the host sizes the backward pass; on a GPU the rows it
   saves cost less than that and the five launches that move them. */
static vae_status ocl_select_rows(void *dev, vae_ref weight, int rows, vae_ref kept, int *count)
{
    (void)dev, (void)weight, (void)kept;
    *count = rows;
    return VAE_OK;
}

static vae_status ocl_gather_rows(void *dev, vae_ref dst, vae_ref src, vae_ref kept, int count, int width)
{
    return LAUNCH1((ocl_dev *)dev, K_GATHER_ROWS, (size_t)width, "lllii", dst, src, kept, count, width);
}

static vae_status ocl_scatter_rows(void *dev, vae_ref x, vae_ref kept, int count, int rows, int width)
{
    return LAUNCH1((ocl_dev *)dev, K_SCATTER_ROWS, (size_t)width, "lliii", x, kept, count, rows, width);
}

static vae_status ocl_check_step(void *dev, vae_ref bound, vae_ref objective, int n, vae_ref g, size_t count,
                                 vae_ref summary)
{
    ocl_dev *d = dev;
    vae_status s = LAUNCH1(d, K_STEP_SUM, 1, "llil", bound, objective, n, summary);
    if (s != VAE_OK || !count)
        return s;
    /* so that the host need not wait, nothing is read back here: the
       update reads the flag on the device, the model with the summary */
    s = LAUNCH1(d, K_FINITE_SCAN, count < 16384 ? count : 16384, "lll", g, (vae_ref)count,
                summary + VAE_STEP_OK);
    if (s == VAE_OK)
        s = d->cl.clFlush(d->queue) == CL_SUCCESS ? VAE_OK : cl_fail(d, "clFlush", -5);
    return s;
}

static vae_status ocl_adam(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float b1,
                           float b2, float eps, long t, int adamax, vae_ref ok)
{
    /* the CPU backend's constants, computed the same way on the host */
    float c1 = 1.0f - (float)pow(b1, (double)t);
    float c2 = (float)sqrt(1.0 - pow(b2, (double)t));
    float vtiny = eps * 1e-4f < 1e-15f ? (eps * 1e-4f) * (eps * 1e-4f) : 1e-30f;
    return LAUNCH1((ocl_dev *)dev, K_ADAM, n, "lllllffffffil", p, g, m1, m2, (vae_ref)n, (double)(lr / c1),
                   (double)b1, (double)b2, (double)c2, (double)eps, (double)vtiny, adamax, ok);
}

static const vae_backend opencl_backend = {
    .version = VAE_BACKEND_VERSION,
    .name = "opencl",
    .alignment = 0,
    .create = ocl_create,
    .destroy = ocl_destroy,
    .error = ocl_error,
    .write = ocl_write,
    .read = ocl_read,
    .zero = ocl_zero,
    .gemm = ocl_gemm,
    .act_backward = ocl_act_backward,
    .im2col = ocl_im2col,
    .col2im = ocl_col2im,
    .reparam = ocl_reparam,
    .reparam_backward = ocl_reparam_backward,
    .mog_log_prob = ocl_mog_log_prob,
    .mog_backward = ocl_mog_backward,
    .kl_normal = ocl_kl_normal,
    .kl_normal_backward = ocl_kl_normal_backward,
    .bernoulli = ocl_bernoulli,
    .gaussian = ocl_gaussian,
    .gaussian_backward = ocl_gaussian_backward,
    .combine = ocl_combine,
    .select_rows = ocl_select_rows,
    .gather_rows = ocl_gather_rows,
    .scatter_rows = ocl_scatter_rows,
    .check_step = ocl_check_step,
    .adam = ocl_adam,
};

const vae_backend *vae_backend_opencl(void)
{
    return &opencl_backend;
}

/* ---- listing ---- */

static void ocl_append(char *out, size_t len, size_t *at, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*at >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(out + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at = *at + (size_t)n < len ? *at + (size_t)n : len;
}

vae_status vae_opencl_devices(char *out, size_t out_len)
{
    cl_api cl;
    cl_platform_id ps[MAX_IDS];
    cl_device_id ds[MAX_IDS];
    cl_uint np = 0, p, nd, i;
    size_t at = 0;
    vae_status s;
    if (!out_len)
        return VAE_ERR_ARG;
    out[0] = '\0';
    s = ocl_load_api(&cl, out, out_len);
    if (s == VAE_OK)
        s = ocl_platforms(&cl, ps, &np, out, out_len);
    if (s != VAE_OK) {
        ocl_unload_api(&cl);
        return s;
    }
    for (p = 0; p < np; p++) {
        char name[256] = "?", version[256] = "";
        cl.clGetPlatformInfo(ps[p], CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
        cl.clGetPlatformInfo(ps[p], CL_PLATFORM_VERSION, sizeof version - 1, version, NULL);
        ocl_append(out, out_len, &at, "platform %u: %s (%s)\n", (unsigned)p, name, version);
        nd = ocl_devices_of(&cl, ps[p], CL_DEVICE_TYPE_ALL, ds);
        for (i = 0; i < nd; i++) {
            char dname[256] = "?", dversion[256] = "";
            cl_ulong mem = 0, type = 0;
            cl_uint units = 0, mhz = 0;
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_NAME, sizeof dname - 1, dname, NULL);
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_VERSION, sizeof dversion - 1, dversion, NULL);
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL);
            cl.clGetDeviceInfo(ds[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
            ocl_append(out, out_len, &at, "  opencl:%u.%u  %s, %s, %s, %.0f MiB, %u compute units, %u MHz\n", (unsigned)p,
                   (unsigned)i, dname, type & CL_DEVICE_TYPE_GPU ? "GPU" : "not a GPU", dversion,
                   (double)mem / 1048576.0, (unsigned)units, (unsigned)mhz);
        }
    }
    ocl_unload_api(&cl);
    return VAE_OK;
}
