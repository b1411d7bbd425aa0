/* File operations below a root directory (sysfs_io.h). */
#include "sysfs_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int evr_path(char *buf, size_t len, const char *root, const char *fmt, ...)
{
    va_list ap;
    int n, m;

    /* "/" and "" both mean the running host; avoid "//sys". */
    if (!root || strcmp(root, "/") == 0)
        root = "";
    n = snprintf(buf, len, "%s", root);
    if (n < 0 || (size_t)n >= len)
        return -1;
    va_start(ap, fmt);
    m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)m >= len - (size_t)n)
        return -1;
    return 0;
}

int evr_sysfs_read(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, buf, len - 1);
    if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    return (int)n;
}

int evr_sysfs_write(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(value);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = write(fd, value, len);
    if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (close(fd) < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int evr_sysfs_link_name(const char *path, char *buf, size_t len)
{
    char target[4096];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    const char *base;

    if (n < 0)
        return -errno;
    target[n] = '\0';
    base = strrchr(target, '/');
    base = base ? base + 1 : target;
    if (strlen(base) >= len)
        return -ENAMETOOLONG;
    strcpy(buf, base);
    return 0;
}

int evr_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}
