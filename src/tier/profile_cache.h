/* The hardware profile's JSON form and its cache file (profile_cache.c), for the getter
 * that decides when to trust the cache (profile.c). The whole-profile round trip and the
 * cache directory are in profile.h. Internal to src/tier. */
#ifndef HY_TIER_PROFILE_CACHE_H
#define HY_TIER_PROFILE_CACHE_H

#include "hypura.h"

#include <cjson/cJSON.h>

/* The cache file's format; a file of another version is ignored (measured again). */
#define PROFILE_VERSION 1

/* Fill p from the host part (CPU, memory, GPU, when measured) or the storage part of a
 * profile in o: only the fields present and valid. */
void profile_host_from_json(const cJSON *o, struct hy_profile *p);
void profile_disk_from_json(const cJSON *o, struct hy_profile *p);

/* The cache file as a JSON object, or NULL when absent, unreadable, over 1 MiB, not JSON
 * or of another version. The caller owns it (cJSON_Delete). */
cJSON *profile_cache_load(const char *file);
/* Merge prof into cache (NULL: start a new one): its host part replaces the cached one,
 * its storage part joins the other devices' under prof->disk_dev. Writes file (creating
 * dir); a failure to write is logged, not returned: the profile is good without a cache.
 * Takes cache. */
void profile_cache_update(cJSON *cache, const struct hy_profile *prof, const char *dir,
                          const char *file);

/* mkdir -p: dir and its missing parents (0755). 0 or -errno. */
int profile_mkdir_p(const char *path);

#endif
