/* A control client in C: connects to an evr process's control socket, says
 * hello (protocol.h) and sends requests, one reply per request. Blocking;
 * one request at a time. The Python client of tests and benchmarks is
 * tools/lib/evrctl.py (the same contract). */
#ifndef EVR_CTL_CLIENT_H
#define EVR_CTL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

#define CTL_REPLY_MAX (16u << 20) /* bytes of one reply line the client accepts */

struct ctl_client {
    int fd;
    char *buf; /* bytes received and not yet returned: buf[0..len) */
    size_t len, cap;
};

/* Connects and says hello; *hello (when not NULL) gets the hello reply
 * (server, version, ops). Returns 0, or -1 with err: the connection's
 * failure, or the server's refusal with its code and message. */
int ctl_client_open(struct ctl_client *c, const char *path, json_t **hello, struct evr_err *err);

/* Sends one line as it is (no newline) and returns the reply envelope, or
 * NULL with err when the connection failed. For tests of the framing. */
json_t *ctl_client_send_line(struct ctl_client *c, const char *line, size_t len,
                             struct evr_err *err);

/* Sends req (not taken) and returns the reply's object when it says ok;
 * NULL with err holding the reply's code and message otherwise, or the
 * connection's failure. */
json_t *ctl_client_call(struct ctl_client *c, const json_t *req, struct evr_err *err);

/* Reads one reply line without sending (a refusal the server sends on its
 * own). NULL with err on failure or end of the connection (ECONNRESET). */
json_t *ctl_client_read(struct ctl_client *c, struct evr_err *err);

void ctl_client_close(struct ctl_client *c);

#endif
