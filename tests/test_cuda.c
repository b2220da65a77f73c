/*
 * tests/test_cuda.c — the CUDA backend's first kernel against the CPU. Without a GPU
 * every case reports "skip" and the program exits 77 (CTest: skipped, never passed).
 */
#include "tests/testlib.h"
#include "engine/cuda/cuda.h"

static int have_gpu(void)
{
    int n = 0;
    return ef_cuda_device_count(&n) == 0 && n > 0;
}

static void test_axpy_matches_cpu(void)
{
    enum { N = 1000003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *ref = malloc(N * sizeof *ref);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 97) * 0.25f;
        y[i] = (float)(i % 13) - 6.0f;
        ref[i] = y[i] + 1.5f * x[i];
    }
    int rc = ef_cuda_axpy(y, x, 1.5f, N);
    EF_CHECK_MSG(rc == 0, "ef_cuda_axpy: %s", ef_cuda_last_error());
    int faults = 0;
    for (int i = 0; i < N && faults < 10; i++)
        if (fabsf(y[i] - ref[i]) > 1e-5f + 1e-6f * fabsf(ref[i])) {
            EF_CHECK_MSG(0, "y[%d] = %g, expected %g", i, y[i], ref[i]);
            faults++;
        }
    free(x);
    free(y);
    free(ref);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    if (!have_gpu()) {
        EF_SKIP(test_axpy_matches_cpu, "no CUDA device on this machine");
        return EF_TEST_END();
    }
    char name[256];
    if (ef_cuda_device_name(name, sizeof name) == 0)
        printf("device: %s\n", name);
    EF_RUN(test_axpy_matches_cpu);
    return EF_TEST_END();
}
