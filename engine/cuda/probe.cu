/*
 * engine/cuda/probe.cu — device discovery and a first kernel (axpy) that proves the
 * CUDA toolchain, the launch path and the error handling (EF_CUDA_CHECK returns an error
 * code, never exits) end to end.
 */
#include <cuda_runtime.h>
#include <stdio.h>
#include "common/ef.h"
#include "engine/cuda/cuda.h"

static const char *last_error = "";

#define EF_CUDA_CHECK(call)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            last_error = cudaGetErrorString(e_);                                                   \
            rc = EF_ECUDA;                                                                         \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

extern "C" const char *ef_cuda_last_error(void)
{
    return last_error;
}

extern "C" int ef_cuda_device_count(int *out)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        last_error = cudaGetErrorString(e);
        *out = 0;
        return 0; /* no driver or no device: zero devices, not a failure */
    }
    *out = n;
    return 0;
}

extern "C" int ef_cuda_device_name(char *buf, size_t cap)
{
    int rc = 0;
    cudaDeviceProp prop;
    EF_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    snprintf(buf, cap, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
cleanup:
    return rc;
}

__global__ void axpy_kernel(float *y, const float *x, float a, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] += a * x[i];
}

extern "C" int ef_cuda_axpy(float *y, const float *x, float a, size_t n)
{
    int rc = 0;
    float *dx = NULL, *dy = NULL;
    if (n == 0)
        return 0;
    EF_CUDA_CHECK(cudaMalloc(&dx, n * sizeof(float)));
    EF_CUDA_CHECK(cudaMalloc(&dy, n * sizeof(float)));
    EF_CUDA_CHECK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
    EF_CUDA_CHECK(cudaMemcpy(dy, y, n * sizeof(float), cudaMemcpyHostToDevice));
    {
        unsigned threads = 256;
        unsigned blocks = (unsigned)((n + threads - 1) / threads);
        axpy_kernel<<<blocks, threads>>>(dy, dx, a, n);
    }
    EF_CUDA_CHECK(cudaGetLastError());
    EF_CUDA_CHECK(cudaMemcpy(y, dy, n * sizeof(float), cudaMemcpyDeviceToHost));
cleanup:
    cudaFree(dx);
    cudaFree(dy);
    return rc;
}
