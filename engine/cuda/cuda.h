/*
 * engine/cuda/cuda.h — the CUDA backend's C-linkage entry points.
 *
 * Built wherever nvcc exists; every function reports EF_EUNSUPPORTED or EF_ECUDA through
 * its return code instead of exiting, so callers and tests can skip cleanly without a GPU.
 *
 *   int n = 0;
 *   if (ef_cuda_device_count(&n) != 0 || n == 0) { ... skip ... }
 *   ef_cuda_axpy(y, x, 2.0f, n_elems);   // y += a*x on the device, host arrays in/out
 */
#ifndef EF_ENGINE_CUDA_H
#define EF_ENGINE_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (0 when the driver or a device is absent). */
int ef_cuda_device_count(int *out);
/* A name for device 0 ("NVIDIA H100 80GB HBM3"), written into buf. */
int ef_cuda_device_name(char *buf, size_t cap);
/* y[i] += a * x[i] for i < n, computed on device 0; host arrays. */
int ef_cuda_axpy(float *y, const float *x, float a, size_t n);
/* Last CUDA error text for messages (static string from the runtime). */
const char *ef_cuda_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
