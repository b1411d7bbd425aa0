/* The partition file (state.h): write, fsync, rename, fsync the directory. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"

int evr_state_dir_check(const char *dir, struct evr_err *err)
{
    struct stat st;

    if (mkdir(dir, 0700) && errno != EEXIST)
        return evr_fail(err, errno, "state directory %s: cannot create it: %s", dir,
                        strerror(errno));
    if (lstat(dir, &st))
        return evr_fail(err, errno, "state directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return evr_fail(err, ENOTDIR, "state directory %s: not a directory", dir);
    if (st.st_uid != geteuid())
        return evr_fail(err, EPERM, "state directory %s: owned by uid %u, not by evrd's uid %u",
                        dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return evr_fail(err, EPERM,
                        "state directory %s: writable by others (mode %04o): chmod go-w it", dir,
                        (unsigned)(st.st_mode & 07777));
    if (access(dir, W_OK | X_OK))
        return evr_fail(err, errno, "state directory %s: %s", dir, strerror(errno));
    return 0;
}

int evr_state_save(const char *dir, const struct evr_partition *p, const struct evr_appliance *a,
                   struct evr_err *err)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    json_t *holdings = evr_partition_to_json(p, a), *doc;
    char *text = NULL;
    int fd = -1, dfd = -1, rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s/.%s.%ld", dir, EVR_STATE_FILE, (long)getpid()) >=
                (int)sizeof(tmp) ||
        snprintf(final, sizeof(final), "%s/%s", dir, EVR_STATE_FILE) >= (int)sizeof(final)) {
        json_decref(holdings);
        return evr_fail(err, ENAMETOOLONG, "state directory %s: path too long", dir);
    }
    doc = holdings ? json_pack("{s:i, s:I, s:o}", "version", EVR_STATE_VERSION, "generation",
                               (json_int_t)p->generation, "holdings", holdings)
                   : NULL;
    text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return evr_fail(err, ENOMEM, "state %s: out of memory", final);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        evr_fail(err, errno, "state %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (evr_write_all(fd, text, strlen(text)) || evr_write_all(fd, "\n", 1) || fsync(fd)) {
        evr_fail(err, errno, "state %s: cannot write it: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        evr_fail(err, errno, "state %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, final)) {
        evr_fail(err, errno, "state %s: cannot rename it into place: %s", final, strerror(errno));
        goto out;
    }
    /* the rename is durable only once the directory is */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd)) {
        evr_fail(err, errno, "state directory %s: cannot sync it: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (rc)
        unlink(tmp);
    free(text);
    return rc;
}

int evr_state_load(const char *dir, struct evr_partition *p, const struct evr_appliance *a,
                   bool *found, struct evr_err *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *doc;
    json_int_t version = 0, generation = 0;
    json_t *holdings = NULL;
    int rc;

    *found = false;
    if (snprintf(path, sizeof(path), "%s/%s", dir, EVR_STATE_FILE) >= (int)sizeof(path))
        return evr_fail(err, ENAMETOOLONG, "state directory %s: path too long", dir);
    if (access(path, F_OK) && errno == ENOENT)
        return 0;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return evr_fail(err, EINVAL,
                        "state %s: line %d column %d: %s (the file is kept as it is; move it "
                        "away to start with an empty partition)",
                        path, jerr.line, jerr.column, jerr.text);
    if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:I, s:I, s:o}", "version", &version,
                       "generation", &generation, "holdings", &holdings)) {
        json_decref(doc);
        return evr_fail(err, EINVAL, "state %s: %s", path, jerr.text);
    }
    /* version 1 differs only in having no LAG holdings */
    bool known = version == 1 || version == EVR_STATE_VERSION;
    if (!known || generation < 0) {
        json_decref(doc);
        return evr_fail(err, EINVAL, "state %s: %s %lld is not supported", path,
                        !known ? "version" : "generation",
                        (long long)(!known ? version : generation));
    }
    rc = evr_partition_from_json(p, a, holdings, path, err);
    json_decref(doc);
    if (rc)
        return -1;
    p->generation = (uint64_t)generation;
    *found = true;
    return 0;
}
