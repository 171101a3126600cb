/* The GPU part of the hardware profile (CUDA builds only): name, free/total VRAM, device
 * memory bandwidth, pinned host-to-device bandwidth, f32 FMA rate of device 0.
 *
 * Not owned here: the rest of the profile (tier/profile.h lists its files), the GPU
 * tier's runtime. */
#ifndef HY_CUDA_PROFILE_GPU_H
#define HY_CUDA_PROFILE_GPU_H

#include "hypura.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill the GPU fields of prof. No GPU (or no driver) is not an error: has_gpu stays
 * false and 0 is returned. A GPU that fails while being measured is -EIO with set_error. */
int cuda_profile_gpu(struct hy_profile *prof);
/* Free and total VRAM of device 0 now (cheap: no measuring). -ENODEV without a GPU. */
int cuda_gpu_memory(uint64_t *free_bytes, uint64_t *total_bytes);

#ifdef __cplusplus
}
#endif
#endif
