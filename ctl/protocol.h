/* The control protocol of every evr process (evr-vmm, evr-vswitch, evrd):
 * the contract a client can rely on, and the request table a server fills.
 * docs/control.md is the operator's version of this comment.
 *
 * Transport: a unix stream socket (ctl/listen.h). Framing: one JSON object
 * per line in each direction, UTF-8, the line ending in '\n'; at most
 * CTL_LINE_MAX bytes before the newline (more where the server's hello says
 * so in "line_max"). Empty lines are ignored. Replies
 * come in the order of the requests, one per request.
 *
 * Request:   {"op":"NAME", FIELD:VALUE, ...}
 *            Every field an op takes is listed in its table entry; a field
 *            it does not take, a missing required field, a duplicate key or
 *            a value of the wrong type is refused with a message naming the
 *            field.
 * Reply:     {"ok":true, ...the op's own fields...}
 *            {"ok":false,"error":{"code":"EINVAL","message":"field 'vlans'[0]: ..."}}
 *            code is the symbolic errno name of what kind of failure it is
 *            (EINVAL a bad field, ENOENT no such object, EEXIST already
 *            there, EBUSY in use, ...); message is one line for a person,
 *            naming the field, object or owner at fault.
 * Hello:     every connection starts with
 *              {"op":"hello","protocol":CTL_PROTOCOL_VERSION}
 *            -> {"ok":true,"protocol":1,"server":"evr-vmm","version":"0.1.0",
 *                "ops":["hello","status",...],"line_max":4096}
 *            A client that speaks another protocol version is refused
 *            (EPROTONOSUPPORT, the message says both versions) and
 *            disconnected; any other request before hello is refused
 *            (EPROTO) and the connection stays open for a hello.
 * Errors of the transport itself, the same in every process:
 *            a line longer than line_max: one EMSGSIZE reply, then the
 *            rest of that line is skipped up to its newline; a line that is
 *            not a JSON object: EINVAL; an unknown op: EOPNOTSUPP naming the
 *            ops there are; a peer whose credentials are refused: one EACCES
 *            reply, then the connection is closed; more than CTL_CLIENTS_MAX
 *            connections: one EBUSY reply to the extra one, then it is closed.
 *
 * Bump CTL_PROTOCOL_VERSION on any change a client of the old version
 * would misread: a field renamed, removed or given another meaning, or the
 * envelope changed. A new op or a new optional field is not such a change. */
#ifndef EVR_CTL_PROTOCOL_H
#define EVR_CTL_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

#define CTL_PROTOCOL_VERSION 1
#define CTL_LINE_MAX                                                                               \
    4096u                   /* bytes of one request line, newline excluded, unless
                                    * the server says more in its hello ("line_max") */
#define CTL_CLIENTS_MAX 16u /* connections served at once, per server */

/* Handles one request that passed the field check. Adds the reply's fields
 * to reply (an object already holding "ok":true) and returns 0, or returns
 * -1 with err filled (the reply object is then dropped). req holds "op". */
typedef int ctl_handler(void *ctx, json_t *req, json_t *reply, struct evr_err *err);

struct ctl_op {
    const char *name;
    /* The fields the op takes besides "op", NULL-terminated (NULL: none);
     * a leading '!' marks a required one: {"!name", "vlans", NULL}. */
    const char *const *fields;
    ctl_handler *handler;
};

/* Refuses a field the op does not take and a required one that is missing;
 * err names the field. The server calls it before the handler; a parser
 * that also reads requests from elsewhere (a config file) calls it too. */
int ctl_check_fields(const json_t *req, const struct ctl_op *op, struct evr_err *err);

/* Runs one request object through a table: op lookup, field check, the
 * handler. Returns the reply envelope (never NULL). No hello is needed: this
 * is what a server does after the hello, and what a process does with
 * requests that come from its own config file. */
json_t *ctl_dispatch(const struct ctl_op *ops, size_t n_ops, void *ctx, json_t *req);

/* Parses one request line into an object: EINVAL naming the column when it
 * is not JSON or not an object. */
json_t *ctl_parse_line(const char *line, size_t len, struct evr_err *err);

/* The two envelopes. */
json_t *ctl_reply_ok(void);
json_t *ctl_reply_error(const struct evr_err *err);

/* One reply as a line: compact JSON and '\n'; *len excludes the NUL. NULL
 * when out of memory. Takes the reference of reply. */
char *ctl_reply_line(json_t *reply, size_t *len);

#endif
