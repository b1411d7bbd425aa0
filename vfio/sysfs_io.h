/* Small file operations on sysfs, procfs and devfs below a root directory
 * ("" or "/" for the running host; a directory built by a unit test
 * otherwise). Internal to vfio/: the public calls take the root and build
 * paths with these.
 *
 * Every write goes through evr_sysfs_write() so that the kernel's side of a
 * write (a driver binding, VFs appearing) can be modelled in unit tests,
 * which wrap this one symbol with the linker. */
#ifndef EVR_VFIO_SYSFS_IO_H
#define EVR_VFIO_SYSFS_IO_H

#include <stddef.h>

/* Joins root and the formatted path into buf; -1 when it does not fit. */
int evr_path(char *buf, size_t len, const char *root, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Reads a small file, without its trailing newline. Returns the length, or
 * -errno. */
int evr_sysfs_read(const char *path, char *buf, size_t len);

/* Writes value to path with one write(2). Returns 0 or -errno, as the
 * kernel's store handler answered. */
int evr_sysfs_write(const char *path, const char *value);

/* The last component of a symlink's target ("vfio-pci" for a driver link);
 * -errno when path is not a symlink. */
int evr_sysfs_link_name(const char *path, char *buf, size_t len);

/* Whether path exists (any type, links not followed). */
int evr_path_exists(const char *path);

#endif
