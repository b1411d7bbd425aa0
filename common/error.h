/* The one error type of evr: an errno value saying what kind of failure it
 * is, and one line of text saying exactly what failed, naming the field, the
 * device (PCI address or interface), the slice or the owner in conflict and,
 * for system calls, the kernel's reason. Callers print msg as it is; the
 * control protocol sends code by name ("EINVAL") beside it (docs/control.md).
 *
 * Every function that can fail takes a `struct evr_err *` (NULL: the caller
 * does not want the text) and returns -1 after filling it, so a refusal is
 * one statement: `return evr_fail(err, EINVAL, "field 'vlans': ...");` */
#ifndef EVR_COMMON_ERROR_H
#define EVR_COMMON_ERROR_H

#include <errno.h> /* the codes every caller passes */

struct evr_err {
    int code; /* a positive errno value: EINVAL, ENOENT, EEXIST, EBUSY, ... */
    char msg[512];
};

/* Fills err (when not NULL) with code and the formatted text; returns -1. */
int evr_fail(struct evr_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The symbolic name of an errno value ("EINVAL"), or "EIO" for a value this
 * C library does not know (0 and negative values included). */
const char *evr_errno_name(int code);

/* The errno value of a symbolic name, or 0 when the name is not one. */
int evr_errno_value(const char *name);

#endif
