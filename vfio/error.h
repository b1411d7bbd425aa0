/* The error every vfio/ call fills when it fails: one line of text that
 * names the device (PCI address or interface), the step that failed and,
 * for system calls, the kernel's reason. Callers print it as it is. */
#ifndef EVR_VFIO_ERROR_H
#define EVR_VFIO_ERROR_H

struct evr_vfio_err {
    char msg[512];
};

/* Fills err (when not NULL) and returns -1, so callers can write
 * `return evr_vfio_fail(err, ...)`. */
int evr_vfio_fail(struct evr_vfio_err *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#endif
