/* Envelope, field check and dispatch of the control protocol (protocol.h). */
#include "ctl/protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *field_name(const char *spec)
{
    return spec[0] == '!' ? spec + 1 : spec;
}

int ctl_check_fields(const json_t *req, const struct ctl_op *op, struct evr_err *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)req, key, value)
    {
        bool known = strcmp(key, "op") == 0;
        for (const char *const *f = op->fields; !known && f && *f; f++)
            known = strcmp(field_name(*f), key) == 0;
        if (!known)
            return evr_fail(err, EINVAL, "field '%s': not a field of '%s'", key, op->name);
    }
    for (const char *const *f = op->fields; f && *f; f++)
        if ((*f)[0] == '!' && !json_object_get(req, *f + 1))
            return evr_fail(err, EINVAL, "field '%s': missing (required by '%s')", *f + 1,
                            op->name);
    return 0;
}

json_t *ctl_reply_ok(void)
{
    return json_pack("{s:b}", "ok", 1);
}

json_t *ctl_reply_error(const struct evr_err *err)
{
    return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", evr_errno_name(err->code),
                     "message", err->msg);
}

static const struct ctl_op *find_op(const struct ctl_op *ops, size_t n_ops, const json_t *req,
                                    struct evr_err *err)
{
    json_t *v = json_object_get(req, "op");
    const char *name = json_string_value(v);
    char list[512] = "";

    if (!v) {
        evr_fail(err, EINVAL, "field 'op': missing (every request names its op)");
        return NULL;
    }
    if (!name) {
        evr_fail(err, EINVAL, "field 'op': must be a string");
        return NULL;
    }
    for (size_t i = 0; i < n_ops; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    for (size_t i = 0; i < n_ops; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'", i ? ", " : "",
                 ops[i].name);
    evr_fail(err, EOPNOTSUPP, "field 'op': '%.64s' is not one of %s", name, list);
    return NULL;
}

json_t *ctl_dispatch(const struct ctl_op *ops, size_t n_ops, void *ctx, json_t *req)
{
    struct evr_err err = {0};
    const struct ctl_op *op = find_op(ops, n_ops, req, &err);
    json_t *reply;

    if (!op || ctl_check_fields(req, op, &err) < 0)
        return ctl_reply_error(&err);
    reply = ctl_reply_ok();
    if (!reply) {
        evr_fail(&err, ENOMEM, "%s: out of memory for the reply", op->name);
        return ctl_reply_error(&err);
    }
    if (op->handler(ctx, req, reply, &err) < 0) {
        json_decref(reply);
        return ctl_reply_error(&err);
    }
    return reply;
}

json_t *ctl_parse_line(const char *line, size_t len, struct evr_err *err)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!req) {
        evr_fail(err, EINVAL, "request: not JSON at column %d: %s", jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(req)) {
        json_decref(req);
        evr_fail(err, EINVAL, "request: must be a JSON object");
        return NULL;
    }
    return req;
}

char *ctl_reply_line(json_t *reply, size_t *len)
{
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    char *line;
    size_t n;

    json_decref(reply);
    if (!text)
        return NULL;
    n = strlen(text);
    line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
