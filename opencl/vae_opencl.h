/* vae_opencl.h — the OpenCL backend: the model's operations on a GPU (or
   any OpenCL 1.2 device), with kernels of our own.

   Nothing of OpenCL is needed to build it: the ICD loader is opened at run
   time ($VAE_OPENCL_LIB, then libOpenCL.so.1, libOpenCL.so, the macOS
   framework, or OpenCL.dll), and the few types it uses are declared in
   vae_opencl.c. Without a loader, a platform or a device, creating a model
   on it fails with a status and a reason; nothing aborts.

       vae_opencl_params p = {-1, -1};          (the first GPU, else the first device)
       vae_options opt = {0};
       opt.backend = vae_backend_opencl();
       opt.backend_params = &p;
       vae_create(&m, &cfg, &opt);

   Build with -DVAE_NO_OPENCL (make NO_OPENCL=1) where there is no dlopen:
   the backend then always reports that OpenCL is not built in. */
#ifndef VAE_OPENCL_H
#define VAE_OPENCL_H

#include <stddef.h>

#include "../vae_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which device: platform and device indices as `vae devices` lists them;
   -1 for both picks the first GPU, else the first device of any kind. */
typedef struct {
    int platform, device;
} vae_opencl_params;

const vae_backend *vae_backend_opencl(void);

/* One line per platform and per device, as `vae devices` prints them, into
   out (out_len bytes, always terminated). VAE_ERR_BACKEND with the reason
   in out when there is no loader or no platform. */
vae_status vae_opencl_devices(char *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif
