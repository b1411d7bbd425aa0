/* Small I/O helpers every evr program may need. */
#ifndef EVR_COMMON_IO_H
#define EVR_COMMON_IO_H

#include <stddef.h>

/* Writes all len bytes of buf to fd, again after short writes and EINTR.
 * Returns 0, or -1 with errno set (a write of 0 bytes leaves errno as the
 * kernel set it, or 0). */
int evr_write_all(int fd, const void *buf, size_t len);

#endif
