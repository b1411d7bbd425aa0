/* A control client in C: connects to an evr process's control socket, says
 * hello (protocol.h) and sends requests, one reply per request, one request
 * at a time. A client opened with a timeout bounds each request, the hello
 * included: a peer that does not answer in time (stopped, stuck) is
 * ETIMEDOUT and the connection is closed, since its late reply would
 * otherwise be read as the next request's; a daemon (evrd) must never wait
 * on one peer without limit. The Python client of tests and benchmarks is
 * tools/lib/evrctl.py (the same contract). */
#ifndef EVR_CTL_CLIENT_H
#define EVR_CTL_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define CTL_REPLY_MAX (16u << 20) /* bytes of one reply line the client accepts */

struct ctl_client {
    int fd;              /* -1: not connected (never opened, closed, timed out) */
    unsigned timeout_ms; /* per request; 0: none */
    int64_t deadline_ms; /* of the request under way (CLOCK_MONOTONIC); 0: none */
    char *buf;           /* bytes received and not yet returned: buf[0..len) */
    size_t len, cap;
};

/* Connects and says hello; *hello (when not NULL) gets the hello reply
 * (server, version, ops). Returns 0, or -1 with err: the connection's
 * failure, or the server's refusal with its code and message. */
int ctl_client_open(struct ctl_client *c, const char *path, json_t **hello, struct evr_err *err);

/* The same with every request, the hello included, bounded by timeout_ms
 * (0: no bound). */
int ctl_client_open_within(struct ctl_client *c, const char *path, unsigned timeout_ms,
                           json_t **hello, struct evr_err *err);

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

/* The pid of the process serving path (its peer credentials), learnt by
 * connecting alone: no request, so no wait on a server that does not
 * answer. 0, or -1 with err (ECONNREFUSED: nobody serves it). */
int ctl_peer_pid(const char *path, pid_t *pid, struct evr_err *err);

#endif
