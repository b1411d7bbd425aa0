/* Checks for the lab programs: each prints "ok - what" or "FAIL - what:
 * why" and the program exits 1 if any failed, so one lab boot reports every
 * check rather than stopping at the first. */
#ifndef EVR_LAB_CHECK_H
#define EVR_LAB_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int lab_failures;

#define CHECK(cond, what, ...)                                                                     \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok - %s\n", what);                                                             \
        } else {                                                                                   \
            lab_failures++;                                                                        \
            printf("FAIL - %s: ", what);                                                           \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* For steps the rest depends on; cond is evaluated once. */
#define REQUIRE(cond, what, ...)                                                                   \
    do {                                                                                           \
        int require_ok_ = (cond) ? 1 : 0;                                                          \
        CHECK(require_ok_, what, __VA_ARGS__);                                                     \
        if (!require_ok_) {                                                                        \
            printf("stopping: a required step failed\n");                                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline int lab_result(void)
{
    printf("%s: %d check(s) failed\n", lab_failures ? "FAILED" : "PASSED", lab_failures);
    fflush(stdout);
    return lab_failures ? 1 : 0;
}

#endif
