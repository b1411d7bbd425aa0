/* The one error type of evr (error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* errno values on Linux are below this (EHWPOISON is 133). */
#define ERRNO_LIMIT 256

int evr_fail(struct evr_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *evr_errno_name(int code)
{
    const char *name = code > 0 && code < ERRNO_LIMIT ? strerrorname_np(code) : NULL;
    return name ? name : "EIO";
}

int evr_errno_value(const char *name)
{
    for (int code = 1; code < ERRNO_LIMIT; code++) {
        const char *n = strerrorname_np(code);
        if (n && strcmp(n, name) == 0)
            return code;
    }
    return 0;
}
