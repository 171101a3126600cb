/* A minimal test harness. A test program is a main() that calls RUN(fn) for each test
 * function and returns test_finish(). CHECK records a failure and continues; a test
 * that cannot run calls SKIP("reason") (the whole program) or TEST_SKIP("reason")
 * (one test function). The program prints "N passed, N failed" last and exits
 * 0 (all passed), 1 (a failure) or 77 (everything skipped), like automake's tests. */
#ifndef HY_TEST_H
#define HY_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int test_failed_checks;   /* failed checks in the current test function */
extern bool test_skipped;        /* the current test function skipped itself */

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            test_failed_checks++;                                                       \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                               \
    } while (0)

#define CHECKF(cond, ...)                                                               \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            test_failed_checks++;                                                       \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define CHECK_EQ(a, b) CHECKF((a) == (b), "%lld != %lld", (long long)(a), (long long)(b))

/* Skip the current test function (return from it right after). */
#define TEST_SKIP(...)                                                                  \
    do {                                                                                \
        printf("  skip: ");                                                             \
        printf(__VA_ARGS__);                                                            \
        printf("\n");                                                                   \
        test_skipped = true;                                                            \
    } while (0)

#define RUN(fn) test_run(#fn, fn)
void test_run(const char *name, void (*fn)(void));
int test_finish(void);

/* The shared fixtures directory ($HYPURA_FIXTURES, default ../shared). */
const char *test_shared_dir(void);
/* Path of a file under the shared directory, malloc'ed, or NULL if it does not exist. */
char *test_shared_path(const char *rel);
/* Read a whole file (malloc'ed; *len set). NULL on failure. */
void *test_read_file(const char *path, size_t *len);
/* A deterministic PRNG for tests. */
uint64_t test_rand(uint64_t *state);
float test_randf(uint64_t *state);   /* uniform in [-1, 1) */
float test_randn(uint64_t *state);   /* approximately normal(0, 1) */
/* The hypura binary under test ($HYPURA_BIN, set by make test). */
const char *test_hypura_bin(void);

#endif
