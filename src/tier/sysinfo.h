/* Small readers of /proc and /sys shared by the parts of the hardware profile (the
 * memory, cgroup and disk-identity readers the library calls are in profile.h).
 * Internal to src/tier. */
#ifndef HY_TIER_SYSINFO_H
#define HY_TIER_SYSINFO_H

#include <stddef.h>

/* Read a small text file into buf (NUL-terminated, at most cap - 1 bytes). Returns the
 * bytes read or -errno. */
int sysinfo_read_file(const char *path, char *buf, size_t cap);
/* The CPU's model name from /proc/cpuinfo into out ("unknown" when not found). */
void sysinfo_cpu_model(char *out, size_t cap);
/* CPUs this process may run on (its affinity mask; all CPUs when that fails). */
int sysinfo_n_cpus(void);

#endif
