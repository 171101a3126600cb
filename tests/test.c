/* The test harness. See test.h. */
#include "test.h"

#include <string.h>
#include <sys/stat.h>

int test_failed_checks;
bool test_skipped;
static int n_pass, n_fail, n_skip;

void test_run(const char *name, void (*fn)(void))
{
    test_failed_checks = 0;
    test_skipped = false;
    fn();
    if (test_failed_checks) {
        n_fail++;
        printf("FAIL %s (%d checks)\n", name, test_failed_checks);
    } else if (test_skipped) {
        n_skip++;
        printf("skip %s\n", name);
    } else {
        n_pass++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

int test_finish(void)
{
    if (n_skip)
        printf("%d skipped\n", n_skip);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    if (n_fail)
        return 1;
    return n_pass == 0 && n_skip > 0 ? 77 : 0;
}

const char *test_shared_dir(void)
{
    const char *d = getenv("HYPURA_FIXTURES");
    return d && *d ? d : "../shared";
}

char *test_shared_path(const char *rel)
{
    const char *d = test_shared_dir();
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p)
        return NULL;
    snprintf(p, n, "%s/%s", d, rel);
    struct stat st;
    if (stat(p, &st) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

uint64_t test_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float test_randf(uint64_t *s)
{
    return (float)((double)(test_rand(s) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

float test_randn(uint64_t *s)
{
    float a = 0;
    for (int i = 0; i < 4; i++)
        a += test_randf(s);
    return a * 0.8660254f; /* sum of 4 uniforms on [-1,1) has variance 4/3 */
}

const char *test_hypura_bin(void)
{
    const char *b = getenv("HYPURA_BIN");
    return b && *b ? b : "build/hypura";
}
