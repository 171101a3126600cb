/* GPU figures for the hardware profile. See profile_gpu.h.
 *
 * Each figure is the best of a few timed runs (CUDA events): a read kernel over a buffer
 * of up to 1 GiB for device memory bandwidth, cudaMemcpy from pinned host memory for
 * host-to-device bandwidth, and a kernel of independent FMAs for the compute rate. About
 * a second on a current GPU. */
#include "cuda/profile_gpu.h"

extern "C" {
#include "util/log.h"
}

#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CK(call)                                                                      \
    do {                                                                              \
        cudaError_t e_ = (call);                                                      \
        if (e_ != cudaSuccess) {                                                      \
            set_error("%s: %s", #call, cudaGetErrorString(e_));                          \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

/* Sum a buffer of float4: every element read once. */
__global__ static void read_kernel(const float4 *__restrict__ p, size_t n, float *out)
{
    float s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float4 v = p[i];
        s += v.x + v.y + v.z + v.w;
    }
    if (s == 1234.5f) /* practically never: keeps the reads from being optimised out */
        out[blockIdx.x] = s;
}

/* 8 independent FMA chains per thread. */
__global__ static void fma_kernel(int iters, float *out)
{
    float a[8];
    for (int k = 0; k < 8; k++)
        a[k] = threadIdx.x * 1e-3f + k;
    for (int i = 0; i < iters; i++)
#pragma unroll
        for (int k = 0; k < 8; k++)
            a[k] = fmaf(a[k], 0.999999f, 1e-7f);
    float s = 0;
    for (int k = 0; k < 8; k++)
        s += a[k];
    if (s == 1234.5f)
        out[0] = s;
}

extern "C" int cuda_gpu_memory(uint64_t *free_bytes, uint64_t *total_bytes)
{
    int n = 0;
    size_t f = 0, t = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || cudaSetDevice(0) != cudaSuccess ||
        cudaMemGetInfo(&f, &t) != cudaSuccess) {
        cudaGetLastError();
        return -ENODEV;
    }
    *free_bytes = f;
    *total_bytes = t;
    return 0;
}

extern "C" int cuda_profile_gpu(struct hy_profile *prof)
{
    int n = 0;
    prof->has_gpu = false;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        cudaGetLastError(); /* no driver or no device: not an error */
        return 0;
    }
    cudaDeviceProp dp;
    size_t free_b = 0, total_b = 0, bytes = 0;
    float *dev = NULL, *out = NULL;
    void *host = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float ms = 0;
    double best;
    CK(cudaSetDevice(0));
    CK(cudaGetDeviceProperties(&dp, 0));
    CK(cudaMemGetInfo(&free_b, &total_b));
    snprintf(prof->gpu_name, sizeof prof->gpu_name, "%.127s", dp.name);
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaMalloc((void **)&out, 65536 * sizeof(float)));

    /* device memory read bandwidth */
    bytes = free_b / 8;
    if (bytes > (1ull << 30))
        bytes = 1ull << 30;
    bytes &= ~(size_t)((1 << 20) - 1);
    if (bytes < (64u << 20)) {
        set_error("only %zu MiB of VRAM free: too little to measure", free_b >> 20);
        goto fail_eio;
    }
    CK(cudaMalloc((void **)&dev, bytes));
    CK(cudaMemset(dev, 0, bytes));
    best = 0;
    for (int rep = 0; rep < 5; rep++) {
        int blocks = dp.multiProcessorCount * 8;
        CK(cudaEventRecord(e0));
        read_kernel<<<blocks, 256>>>((const float4 *)dev, bytes / sizeof(float4), out);
        CK(cudaGetLastError());
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (ms > 0 && bytes / (ms * 1e-3) > best)
            best = bytes / (ms * 1e-3);
    }
    prof->gpu_mem_bw = best;

    /* pinned host-to-device */
    {
        size_t hb = bytes < (256u << 20) ? bytes : (256u << 20);
        CK(cudaMallocHost(&host, hb));
        memset(host, 1, hb);
        best = 0;
        for (int rep = 0; rep < 5; rep++) {
            CK(cudaEventRecord(e0));
            CK(cudaMemcpyAsync(dev, host, hb, cudaMemcpyHostToDevice));
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (ms > 0 && hb / (ms * 1e-3) > best)
                best = hb / (ms * 1e-3);
        }
        prof->gpu_h2d_bw = best;
    }

    /* f32 FMA rate */
    {
        int blocks = dp.multiProcessorCount * 16, threads = 256, iters = 1 << 14;
        best = 0;
        for (int rep = 0; rep < 3; rep++) {
            CK(cudaEventRecord(e0));
            fma_kernel<<<blocks, threads>>>(iters, out);
            CK(cudaGetLastError());
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms, e0, e1));
            double fl = (double)blocks * threads * iters * 8 * 2;
            if (ms > 0 && fl / (ms * 1e-3) > best)
                best = fl / (ms * 1e-3);
        }
        prof->gpu_flops = best;
    }
    CK(cudaMemGetInfo(&free_b, &total_b));
    prof->vram_total = total_b;
    prof->vram_free = free_b + bytes + 65536 * sizeof(float); /* not counting our buffers */
    if (prof->vram_free > total_b)
        prof->vram_free = total_b;
    prof->has_gpu = prof->gpu_mem_bw > 0 && prof->gpu_h2d_bw > 0 && prof->gpu_flops > 0;
    cudaFreeHost(host);
    cudaFree(dev);
    cudaFree(out);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return 0;
fail_eio:
fail:
    if (host)
        cudaFreeHost(host);
    cudaFree(dev);
    cudaFree(out);
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    prof->has_gpu = false;
    return -EIO;
}
