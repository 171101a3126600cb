/* The hardware profile: cgroup limits and physical cores on fake sysfs trees, budgets,
 * the JSON cache and its fingerprint, the cost-model lookups, and a short live
 * measurement of this machine's CPU and memory (the storage measurement writes a 256 MiB
 * file: it runs only with HYPURA_TEST_STORAGE=1). */
#include "hypura.h"
#include "test.h"
#include "tier/cost.h"
#include "tier/profile.h"
#include "util/common.h"
#include "util/cpu.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)

#ifndef HYPURA_CUDA
#define HYPURA_CUDA 0
#endif

static char g_tmp[256];

static void put(const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", g_tmp, rel);
    /* make the parent directories */
    for (char *p = path + strlen(g_tmp) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

static void test_cgroup_v1(void)
{
    /* root unlimited, /a limited to 2 GiB, /a/b to 3 GiB: the tightest applies */
    put("v1/memory.limit_in_bytes", "9223372036854771712\n");
    put("v1/memory.usage_in_bytes", "999999999\n");
    put("v1/a/memory.limit_in_bytes", "2147483648\n");
    put("v1/a/memory.usage_in_bytes", "600000000\n");
    put("v1/a/memory.stat", "cache 1\ntotal_inactive_file 100000000\n");
    put("v1/a/b/memory.limit_in_bytes", "3221225472\n");
    put("v1/a/b/memory.usage_in_bytes", "500000000\n");
    char v1[300], v2[300];
    snprintf(v1, sizeof v1, "%s/v1", g_tmp);
    snprintf(v2, sizeof v2, "%s/none", g_tmp);
    uint64_t lim, use;
    int ver;
    CHECK(profile_cgroup_limit("12:pids:/x\n4:memory:/a/b\n0::/\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 2 * GiB);
    CHECK_EQ(use, 500000000); /* usage minus inactive page cache */
    CHECK_EQ(ver, 1);
    /* controllers listed together ("memory,cpu") */
    CHECK(profile_cgroup_limit("4:cpu,memory:/a\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 2 * GiB);
    /* unlimited everywhere */
    CHECK(profile_cgroup_limit("4:memory:/\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 0);
    CHECK_EQ(ver, 0);
    /* a cgroup namespace or a path not under this mount: the mount root still counts */
    put("v1ns/memory.limit_in_bytes", "1073741824\n");
    put("v1ns/memory.usage_in_bytes", "1000\n");
    snprintf(v1, sizeof v1, "%s/v1ns", g_tmp);
    CHECK(profile_cgroup_limit("4:memory:/process_api/abc\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 1 * GiB);
    CHECK_EQ(use, 1000);
    /* no memory line at all */
    CHECK(profile_cgroup_limit("1:cpu:/\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 0);
    CHECK(profile_cgroup_limit("", v1, v2, &lim, &use, &ver) == 0);
    CHECK(profile_cgroup_limit("garbage without colons\n::\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 0);
    /* a roomy ancestor nearly used up by its other members binds before our own smaller
     * limit: the least room left decides */
    put("v1room/s/memory.limit_in_bytes", "8589934592\n");
    put("v1room/s/memory.usage_in_bytes", "8053063680\n"); /* 7.5 GiB */
    put("v1room/s/me/memory.limit_in_bytes", "6442450944\n");
    put("v1room/s/me/memory.usage_in_bytes", "4096\n");
    snprintf(v1, sizeof v1, "%s/v1room", g_tmp);
    CHECK(profile_cgroup_limit("4:memory:/s/me\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 8 * GiB);
    CHECK_EQ(use, 8053063680ull);
}

static void test_cgroup_v2(void)
{
    put("v2/x/memory.max", "1610612736\n");
    put("v2/x/memory.current", "300000000\n");
    put("v2/x/memory.stat", "anon 1\ninactive_file 200000000\n");
    put("v2/x/y/memory.max", "max\n");
    put("v2/x/y/memory.current", "1\n");
    char v1[300], v2[300];
    snprintf(v1, sizeof v1, "%s/none", g_tmp);
    snprintf(v2, sizeof v2, "%s/v2", g_tmp);
    uint64_t lim, use;
    int ver;
    CHECK(profile_cgroup_limit("0::/x/y\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 1536 * MiB);
    CHECK_EQ(use, 100000000);
    CHECK_EQ(ver, 2);
    /* v1 and v2 both limiting: the tighter wins */
    snprintf(v1, sizeof v1, "%s/v1", g_tmp);
    CHECK(profile_cgroup_limit("4:memory:/a\n0::/x/y\n", v1, v2, &lim, &use, &ver) == 0);
    CHECK_EQ(lim, 1536 * MiB);
    CHECK_EQ(ver, 2);
}

static void test_live_memory(void)
{
    struct hy_profile p;
    profile_defaults(&p);
    CHECK(profile_read_memory(&p) == 0);
    CHECK(p.ram_total > 64 * MiB);
    CHECK(p.ram_available > 0 && p.ram_available <= p.ram_total);
    char a[32], b[32];
    printf("  RAM %s total, %s available; ", hy_format_size(p.ram_total, a, sizeof a),
           hy_format_size(p.ram_available, b, sizeof b));
    if (p.cgroup_limit)
        printf("cgroup v%d limit %s (usage %s)\n", p.cgroup_version, hy_format_size(p.cgroup_limit, a, sizeof a),
               hy_format_size(p.cgroup_usage, b, sizeof b));
    else
        printf("no cgroup memory limit applies\n");
}

static void test_budgets(void)
{
    struct hy_profile p;
    profile_defaults(&p);
    p.ram_total = 64 * GiB;
    p.ram_available = 40 * GiB;
    uint64_t ram = 0, gpu = 0;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == 0);
    CHECK_EQ(ram, 36 * GiB); /* 10% headroom */
    CHECK_EQ(gpu, 0);        /* no GPU profiled */
    /* more than the machine has, with no cgroup to say so */
    ram = 1000ull * 1024 * GiB;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == -EINVAL);
    CHECKF(strstr(hy_last_error(), "more than this machine's memory (64.00 GiB)"), "%s", hy_last_error());
    /* a cgroup limit caps the automatic budget and refuses one above it */
    p.cgroup_limit = 4 * GiB;
    p.cgroup_usage = 1 * GiB;
    p.cgroup_version = 1;
    ram = 0;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == 0);
    CHECK_EQ(ram, 3 * GiB - 512 * MiB);
    ram = 5 * GiB;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == -EINVAL);
    CHECKF(strstr(hy_last_error(), "cgroup") && strstr(hy_last_error(), "4.00 GiB"), "%s", hy_last_error());
    ram = 2 * GiB;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == 0);
    CHECK_EQ(ram, 2 * GiB);
    /* almost nothing available */
    p.cgroup_usage = 4 * GiB - 100 * MiB;
    ram = 0;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == -ENOMEM);
    /* GPU */
    profile_defaults(&p);
    p.ram_available = 8 * GiB;
    p.has_gpu = true;
    p.vram_total = 80 * GiB;
    p.vram_free = 79 * GiB;
    ram = gpu = 0;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == 0);
    CHECK(gpu > 74 * GiB && gpu < 79 * GiB);
    gpu = 0;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, true) == 0);
    CHECK_EQ(gpu, 0);
    gpu = 81 * GiB;
    CHECK(profile_resolve_budgets(&p, &ram, &gpu, false) == -EINVAL);
}

static void test_lookups(void)
{
    struct hy_profile p;
    profile_defaults(&p);
    p.n_disk = 0;
    const uint32_t blocks[] = {64 << 10, 1 << 20};
    const uint32_t depths[] = {1, 16};
    const double bw[2][2] = {{0.2e9, 1.0e9}, {1.0e9, 3.0e9}};
    for (int b = 0; b < 2; b++)
        for (int d = 0; d < 2; d++)
            p.disk[p.n_disk++] = (struct hy_disk_point){blocks[b], depths[d], bw[b][d]};
    p.disk_bw = 3e9;
    p.disk_block = 1 << 20;
    p.disk_depth = 16;
    p.disk_iops_qd1 = 10000;
    p.disk_iops = 300000;
    /* measured points exactly; beyond them the nearest */
    CHECK(profile_seq_bw(&p, 1 << 20, 16) == 3e9);
    CHECK(profile_seq_bw(&p, 64 << 10, 1) == 0.2e9);
    CHECK(profile_seq_bw(&p, 4 << 20, 64) == 3e9);
    CHECK(profile_seq_bw(&p, 1 << 20, 0.5) == 1e9);
    /* between: bandwidth linear in depth, time per request linear in size */
    CHECK(fabs(profile_seq_bw(&p, 1 << 20, 8.5) - 2e9) < 1);
    double mid = profile_seq_bw(&p, (64 << 10) + ((1 << 20) - (64 << 10)) / 2, 1);
    double t_mid = ((64 << 10) + ((1 << 20) - (64 << 10)) / 2) / mid;
    CHECK(fabs(t_mid - ((64 << 10) / 0.2e9 + (1 << 20) / 1e9) / 2) < 1e-9);
    /* below the smallest size: latency-bound, the smallest request's time */
    double small = profile_seq_bw(&p, 4096, 1);
    CHECK(fabs(4096 / small - (64 << 10) / 0.2e9) < 1e-9);
    /* never slower for bigger requests or more depth */
    for (uint64_t b = 4096; b <= (8u << 20); b *= 2)
        for (double d = 1; d <= 32; d += 0.5) {
            CHECK(profile_seq_bw(&p, b * 2, d) >= profile_seq_bw(&p, b, d));
            CHECK(profile_seq_bw(&p, b, d + 0.5) >= profile_seq_bw(&p, b, d));
        }
    /* reading more never takes less time; a tiny read costs at least one latency */
    double prev = 0;
    for (uint64_t b = 4096; b <= (1ull << 32); b += b / 3 + 4096) {
        double t = profile_read_seconds(&p, 1, b);
        CHECKF(t >= prev, "%llu bytes: %g s < %g s", (unsigned long long)b, t, prev);
        prev = t;
    }
    CHECK(profile_read_seconds(&p, 1, 100) >= 1e-4);
    CHECK(profile_read_seconds(&p, 0, 100) == 0);
    /* 1 GiB at the best point: about a third of a second */
    double t = profile_read_seconds(&p, 1, 1ull << 30);
    CHECK(t > 0.3 && t < 0.4);
    CHECK(profile_cpu_matvec_flops(&p) > 0 && profile_cpu_matmul_flops(&p) > 0);

    /* a noisy table (as measured on this machine's virtual disk: deeper and bigger is
     * sometimes slower) still gives lookups that never fall with depth or size */
    static const double noisy[3][3] = {{0.76e9, 1.59e9, 2.27e9}, {1.58e9, 2.01e9, 2.28e9}, {2.13e9, 2.01e9, 1.70e9}};
    const uint32_t nb[3] = {64 << 10, 256 << 10, 1 << 20}, nd[3] = {1, 4, 16};
    p.n_disk = 0;
    for (int b = 0; b < 3; b++)
        for (int d = 0; d < 3; d++)
            p.disk[p.n_disk++] = (struct hy_disk_point){nb[b], nd[d], noisy[b][d]};
    for (uint64_t b = 4096; b <= (4u << 20); b += b / 2)
        for (double d = 1; d <= 32; d += 0.25) {
            CHECK(profile_seq_bw(&p, b + b / 2, d) >= profile_seq_bw(&p, b, d) * (1 - 1e-12));
            CHECK(profile_seq_bw(&p, b, d + 0.25) >= profile_seq_bw(&p, b, d) * (1 - 1e-12));
        }
    CHECK(profile_seq_bw(&p, 1 << 20, 16) == 2.28e9);
}

static void test_json_roundtrip(void)
{
    struct hy_profile a, b;
    profile_defaults(&a);
    snprintf(a.cpu_model, sizeof a.cpu_model, "Test CPU \"quoted\" @ 3GHz");
    a.n_cores = 12;
    a.cpu_flops = 1.25e12;
    a.mem_bw = 51.5e9;
    a.ram_total = 128 * GiB;
    a.cgroup_limit = 3 * GiB;
    a.cgroup_version = 2;
    snprintf(a.disk_dev, sizeof a.disk_dev, "259:1 nvme0n1");
    a.n_disk = 2;
    a.disk[0] = (struct hy_disk_point){4096, 1, 1e8};
    a.disk[1] = (struct hy_disk_point){1 << 20, 16, 6.5e9};
    a.has_gpu = true;
    snprintf(a.gpu_name, sizeof a.gpu_name, "NVIDIA H100");
    a.vram_total = 80 * GiB;
    a.gpu_h2d_bw = 25e9;
    a.measured = a.disk_measured = true;
    char *s = hy_profile_json(&a);
    CHECK(s != NULL);
    if (!s)
        return;
    memset(&b, 0, sizeof b);
    CHECK(profile_from_json(s, &b) == 0);
    CHECK(!strcmp(a.cpu_model, b.cpu_model));
    CHECK_EQ(b.n_cores, 12);
    CHECK(b.cpu_flops == a.cpu_flops && b.mem_bw == a.mem_bw);
    CHECK_EQ(b.ram_total, a.ram_total);
    CHECK_EQ(b.cgroup_limit, a.cgroup_limit);
    CHECK(!strcmp(b.disk_dev, a.disk_dev));
    CHECK_EQ(b.n_disk, 2);
    CHECK(b.disk[1].block == (1u << 20) && b.disk[1].depth == 16 && b.disk[1].bytes_per_s == 6.5e9);
    CHECK(b.has_gpu && !strcmp(b.gpu_name, "NVIDIA H100") && b.vram_total == 80 * GiB);
    CHECK(b.measured && b.disk_measured);
    free(s);
    /* hostile input: wrong types and negative numbers are ignored, not trusted */
    memset(&b, 0, sizeof b);
    CHECK(profile_from_json("{\"n_cores\": -5, \"mem_bw\": \"fast\", \"disk_seq\": [{\"block\": 1e30}]}", &b) == 0);
    CHECK_EQ(b.n_cores, 0);
    CHECK(b.mem_bw == 0);
    CHECK_EQ(b.n_disk, 0);
    CHECK(profile_from_json("[1,2", &b) == -EINVAL);
}

/* The cache: used when the fingerprint matches, ignored otherwise, never measured with
 * no_measure. */
static void test_cache(void)
{
    char cache[300];
    snprintf(cache, sizeof cache, "%s/xdg", g_tmp);
    setenv("XDG_CACHE_HOME", cache, 1);
    struct hy_profile_params pp = hy_profile_default_params();
    pp.no_measure = true;
    pp.dir = g_tmp;
    struct hy_profile p;
    CHECK(hy_profile_get(&pp, &p) == 0);
    CHECK(!p.measured && !p.disk_measured);
    CHECK(p.ram_total > 0 && p.mem_bw > 0 && p.disk_bw > 0);

    /* a cache written for this host and this device */
    char dev[64];
    CHECK(profile_disk_id(g_tmp, dev, sizeof dev) == 0);
    struct hy_profile now;
    profile_defaults(&now);
    profile_read_memory(&now);
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\": 1, \"host\": {\"cpu_model\": \"%s\", \"n_cores\": %d, \"ram_total\": %llu, "
             "\"mem_bw\": 12345678, \"cpu_flops\": 1e11, \"measured\": true, \"cuda_build\": %s},"
             " \"disks\": {\"%s\": {\"disk_bw\": 7e8, \"disk_iops_qd1\": 9000, \"disk_measured\": true}}}",
             "CPUMODEL", p.n_cores, (unsigned long long)now.ram_total, HYPURA_CUDA ? "true" : "false", dev);
    /* the no-measure profile carries this host's model name as it is read live */
    char cpu[128];
    snprintf(cpu, sizeof cpu, "%s", p.cpu_model);
    char *at = strstr(json, "CPUMODEL");
    char fixed[4096];
    snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - json), json, cpu, at + 8);
    put("xdg/hypura/profile.json", fixed);
    CHECK(hy_profile_get(&pp, &p) == 0);
    CHECK(p.measured && p.mem_bw == 12345678 && p.from_cache);
    CHECK(p.disk_measured && p.disk_bw == 7e8 && p.disk_iops_qd1 == 9000);
    CHECK(p.ram_available > 0); /* live, not from the cache */

    /* another CPU: nothing is trusted, the device's figures neither (device numbers name
     * other hardware on another host) */
    snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - json), json, "Some Other CPU", at + 8);
    put("xdg/hypura/profile.json", fixed);
    CHECK(hy_profile_get(&pp, &p) == 0);
    CHECK(!p.measured && p.mem_bw != 12345678);
    CHECK(!p.disk_measured && p.disk_bw != 7e8);

    /* the same host profiled by a build that looks at other devices (CUDA or not) */
    char *cb;
    snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - json), json, cpu, at + 8);
    cb = strstr(fixed, HYPURA_CUDA ? "\"cuda_build\": true" : "\"cuda_build\": false");
    CHECK(cb != NULL);
    if (cb) {
        char other[4096];
        snprintf(other, sizeof other, "%.*s\"cuda_build\": %s%s", (int)(cb - fixed), fixed,
                 HYPURA_CUDA ? "false" : "true", strchr(cb, '}'));
        put("xdg/hypura/profile.json", other);
        CHECK(hy_profile_get(&pp, &p) == 0);
        CHECK(!p.measured && p.mem_bw != 12345678);
    }

    /* garbage in the cache is ignored */
    put("xdg/hypura/profile.json", "{not json");
    CHECK(hy_profile_get(&pp, &p) == 0);
    CHECK(!p.measured);
    unsetenv("XDG_CACHE_HOME");
}

static void test_measure_cpu(void)
{
    struct hy_profile p;
    profile_defaults(&p);
    profile_read_memory(&p);
    double t0 = now_seconds();
    CHECK(profile_measure_cpu(&p, NULL, NULL) == 0);
    double dt = now_seconds() - t0;
    CHECK(p.cpu_flops >= p.cpu_flops_1t * 0.9 && p.cpu_flops_1t > 1e8);
    CHECK(p.mem_bw >= p.mem_bw_1t && p.mem_bw_1t > 1e8);
    CHECK(p.n_cores >= 1);
    printf("  %s, %d cores, %s: FMA %.1f GFLOP/s (1 core %.1f), memory read %.1f GB/s (1 core %.1f) "
           "[%.1f s]\n",
           p.cpu_model, p.n_cores, p.simd, p.cpu_flops / 1e9, p.cpu_flops_1t / 1e9, p.mem_bw / 1e9,
           p.mem_bw_1t / 1e9, dt);
}

static void test_measure_storage(void)
{
    if (!getenv("HYPURA_TEST_STORAGE")) {
        TEST_SKIP("storage measurement writes a 256 MiB file: set HYPURA_TEST_STORAGE=1");
        return;
    }
    struct hy_profile p;
    profile_defaults(&p);
    double t0 = now_seconds();
    int rc = profile_measure_storage(&p, g_tmp, NULL, NULL, NULL);
    CHECKF(rc == 0, "%s", hy_last_error());
    printf("  %s via %s: best %.2f GB/s (%u KiB x %u), 4 KiB random %.0f IOPS at qd1, %.0f at qd%u [%.1f s]\n",
           p.disk_dev, p.disk_io, p.disk_bw / 1e9, p.disk_block / 1024, p.disk_depth, p.disk_iops_qd1, p.disk_iops,
           p.disk_iops_depth, now_seconds() - t0);
    CHECK(p.disk_measured && p.n_disk > 0);
}

/* Physical cores on a fake sysfs tree: 4 cores with 2 SMT threads each, numbered the
 * Intel way (cpu N and N + 4 are siblings), one core listed as a range ("3-4" is not a
 * real layout but parses the same), a CPU with no topology directory, a garbled list. */
static void test_physical_cores(void)
{
    static const char *lists[8] = {"0,4\n", "1,5\n", "2,6\n", "3,7\n", "0,4\n", "1,5\n", "2,6\n", "3,7\n"};
    char dir[PATH_MAX], rel[64];
    for (int i = 0; i < 8; i++) {
        snprintf(rel, sizeof rel, "cpus/cpu%d/topology/thread_siblings_list", i);
        put(rel, lists[i]);
    }
    put("cpus/cpu9/topology/thread_siblings_list", "x\n");
    snprintf(dir, sizeof dir, "%s/cpus", g_tmp);
    unsigned char all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    unsigned char one_thread_each[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    unsigned char siblings[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    unsigned char split[8] = {1, 0, 0, 0, 0, 1, 1, 0};   /* cpu 0, 5, 6: three cores */
    unsigned char none[8] = {0};
    CHECK_EQ(cpu_count_cores(dir, all, 8), 4);
    CHECK_EQ(cpu_count_cores(dir, one_thread_each, 8), 4);
    CHECK_EQ(cpu_count_cores(dir, siblings, 8), 1);
    CHECK_EQ(cpu_count_cores(dir, split, 8), 3);
    CHECK_EQ(cpu_count_cores(dir, none, 8), 1);
    /* cpu 8 has no topology, cpu 9 a garbled list: each counts as a core */
    unsigned char more[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_EQ(cpu_count_cores(dir, more, 10), 6);
    /* no tree at all: every CPU is a core */
    CHECK_EQ(cpu_count_cores("/nonexistent", all, 8), 8);
    /* a list naming a CPU past the mask's end is ignored, not indexed */
    put("cpus/cpu1/topology/thread_siblings_list", "99\n");
    CHECK_EQ(cpu_count_cores(dir, one_thread_each, 8), 4);
    /* this machine: at least one core, no more than its CPUs */
    const struct cpu_features *c = cpu_features();
    printf("  this machine: %d CPUs online, %d physical cores usable\n", c->n_cpus, c->n_cores);
    CHECK(c->n_cores >= 1 && c->n_cores <= c->n_cpus);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/hypura-test-profile-%ld", (long)getpid());
    mkdir(g_tmp, 0755);
    RUN(test_cgroup_v1);
    RUN(test_cgroup_v2);
    RUN(test_live_memory);
    RUN(test_physical_cores);
    RUN(test_budgets);
    RUN(test_lookups);
    RUN(test_json_roundtrip);
    RUN(test_cache);
    RUN(test_measure_cpu);
    RUN(test_measure_storage);
    rm_rf(g_tmp);
    return test_finish();
}
