/* The cost model's lookups in a measured hardware profile: how long the disk takes for
 * a read of a given shape (request size, requests in flight), interpolated in the
 * measured table, and the CPU's matrix-vector and matrix-matrix rates. Pure functions of
 * struct hy_profile, declared in cost.h; the estimator (estimate.c) is their caller.
 *
 * Not owned here: measuring the figures (profile_cpu.c, profile_storage.c), the pipeline
 * simulation that uses them (estimate.c). */
#include "tier/cost.h"
#include "util/common.h"

#include <math.h>
#include <stdint.h>

/* The measured figure at a grid point, raised to the best of the points it dominates:
 * a reader can always use fewer requests in flight, or split a request, so a noisy
 * table never makes more depth or bigger requests look slower. */
static double envelope(const struct hy_profile *prof, uint32_t block, uint32_t depth)
{
    double v = 0;
    for (int i = 0; i < prof->n_disk; i++)
        if (prof->disk[i].block <= block && prof->disk[i].depth <= depth)
            v = fmax(v, prof->disk[i].bytes_per_s);
    return v;
}

/* Bandwidth at one measured depth for a request size: the time per request is
 * interpolated linearly between measured sizes (constant below the smallest: latency-
 * bound), so reading more never takes less time. 0 when that depth has no points. */
static double bw_at_depth(const struct hy_profile *prof, uint32_t depth, double block)
{
    const struct hy_disk_point *lo = NULL, *hi = NULL;
    for (int i = 0; i < prof->n_disk; i++) {
        const struct hy_disk_point *d = &prof->disk[i];
        if (d->depth != depth || !(d->bytes_per_s > 0))
            continue;
        if (d->block <= block && (!lo || d->block > lo->block))
            lo = d;
        if (d->block >= block && (!hi || d->block < hi->block))
            hi = d;
    }
    if (!lo && !hi)
        return 0;
    double blo = lo ? envelope(prof, lo->block, depth) : 0, bhi = hi ? envelope(prof, hi->block, depth) : 0;
    if (!lo) /* below every size: one request costs what the smallest one does */
        return block / ((double)hi->block / bhi);
    if (!hi || hi == lo)
        return blo;
    double t0 = lo->block / blo, t1 = fmax(t0, hi->block / bhi);
    double f = (block - lo->block) / ((double)hi->block - lo->block);
    return block / (t0 + f * (t1 - t0));
}

double profile_seq_bw(const struct hy_profile *prof, uint64_t block, double depth)
{
    /* the measured depths around the one asked for; bandwidth interpolated between */
    uint32_t d0 = 0, d1 = 0, dmin = 0;
    for (int i = 0; i < prof->n_disk; i++) {
        uint32_t d = prof->disk[i].depth;
        if (!dmin || d < dmin)
            dmin = d;
        if (d <= depth && d > d0)
            d0 = d;
        if (d >= depth && (!d1 || d < d1))
            d1 = d;
    }
    if (dmin) {
        if (!d0)
            d0 = dmin;
        if (!d1)
            d1 = d0;
        double b0 = bw_at_depth(prof, d0, (double)block), b1 = bw_at_depth(prof, d1, (double)block);
        if (b0 > 0 && b1 > 0) {
            if (d1 == d0 || depth <= d0)
                return b0;
            return b0 + (b1 - b0) * (depth - d0) / ((double)d1 - d0);
        }
    }
    /* no table (defaults): the best figure, scaled down for small requests */
    double bw = prof->disk_bw;
    if (prof->disk_iops_qd1 > 0)
        bw = fmin(bw, prof->disk_iops_qd1 * fmax(depth, 1) * (double)block);
    return bw > 0 ? bw : 1e6;
}

double profile_read_seconds(const struct hy_profile *prof, uint64_t n, uint64_t bytes)
{
    if (!n || !bytes)
        return 0;
    uint32_t blk = prof->disk_block ? prof->disk_block : (1u << 20);
    uint32_t dep = prof->disk_depth ? prof->disk_depth : 8;
    uint64_t per = HY_ALIGN_UP(bytes, 4096);
    uint64_t b = HY_MIN((uint64_t)blk, per);
    /* requests in flight: fractional for a partial last chunk, so that time grows
     * smoothly with size */
    double depth = fmin((double)dep, (double)n * (double)per / (double)b);
    double bw = profile_seq_bw(prof, b, depth);
    double lat = prof->disk_iops_qd1 > 0 ? 1.0 / prof->disk_iops_qd1 : 1e-4;
    return fmax(lat, (double)n * (double)per / bw);
}

double profile_cpu_matvec_flops(const struct hy_profile *prof)
{
    /* until the quantized kernels' own rate is measured: dequantising costs about half
     * of the f32 FMA peak */
    if (prof->cpu_matvec_flops > 0)
        return prof->cpu_matvec_flops;
    return prof->cpu_flops > 0 ? prof->cpu_flops * 0.5 : 1e9;
}

double profile_cpu_matmul_flops(const struct hy_profile *prof)
{
    /* integer dot products (VNNI, dotprod) reach about the f32 FMA peak in matrix-matrix
     * products; a placeholder until measured */
    if (prof->cpu_matmul_flops > 0)
        return prof->cpu_matmul_flops;
    return prof->cpu_flops > 0 ? prof->cpu_flops : 1e9;
}
