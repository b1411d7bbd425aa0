/* What the router unit tests share: an appliance parsed from JSON text with
 * an empty partition for it, a change named as evr names it, and
 * evr-vswitch's own rules for a request (the tests that link the vswitch's
 * core define ROUTER_TEST_VSWITCH before including this). */
#ifndef EVR_TESTS_ROUTER_FIXTURE_H
#define EVR_TESTS_ROUTER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "appliance.h"
#include "partition.h"

static inline void router_fixture_init(struct evr_appliance *a, struct evr_partition *p,
                                       const char *appliance_json)
{
    struct evr_err err;

    if (evr_appliance_parse(a, appliance_json, "test", &err))
        fail_msg("%s", err.msg);
    assert_int_equal(evr_partition_init(p, a, &err), 0);
}

static inline void router_fixture_fini(struct evr_appliance *a, struct evr_partition *p)
{
    evr_partition_free(p);
    evr_appliance_free(a);
}

/* op of slices to vm ("" for none), every option at its default: the caller
 * may set mode, vm_port, lag_mode before applying it. */
static inline struct evr_change router_change(const struct evr_appliance *a, enum evr_change_op op,
                                              const char *slices, const char *vm)
{
    struct evr_change c = {.op = op, .vm = vm[0] ? evr_appliance_vm(a, vm) : -1, .vm_port = -1};
    struct evr_parse_error perr;

    if (evr_slice_list_parse(slices, &c.slices, &perr))
        fail_msg("%s: %s", slices, perr.msg);
    return c;
}

#ifdef ROUTER_TEST_VSWITCH
#include "ctl/protocol.h"
#include "vswitch/protocol.h"

/* One request as evr-vswitch takes it: its fields checked against the
 * vswitch's own op table, parsed, applied to its config. */
static inline int vs_take(struct vs_config *vs, const json_t *request, struct evr_err *err)
{
    struct vs_request req;
    json_t *copy = json_deep_copy(request);
    int rc;

    rc = vs_request_from_json(copy, &req, err);
    if (!rc) {
        struct ctl_op op = {.name = vs_op_name(req.op), .fields = vs_op_fields(req.op)};
        rc = ctl_check_fields(copy, &op, err);
    }
    if (!rc)
        rc = vs_request_apply(vs, &req, err) < 0 ? -1 : 0;
    json_decref(copy);
    return rc;
}
#endif

#ifdef ROUTER_TEST_EVRD
#include <stdio.h>
#include <stdlib.h>

#include "ctl/protocol.h"
#include "service.h"
#include "state.h"

/* One request through evrd's ops table, as its control socket passes it;
 * returns the reply envelope. */
static inline json_t *router_request(struct evrd *d, const char *text)
{
    json_t *req = json_loads(text, 0, NULL), *reply;
    assert_non_null(req);
    reply = ctl_dispatch(evrd_ops, evrd_n_ops, d, req);
    json_decref(req);
    return reply;
}

/* The state file under dir as text (empty when there is none); freed by
 * the caller. */
static inline char *router_state_file(const char *dir)
{
    char path[256], *text = calloc(1, 65536);
    FILE *file;

    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/state/%s", dir, EVR_STATE_FILE);
    file = fopen(path, "r");
    if (file) {
        size_t n = fread(text, 1, 65535, file);
        text[n] = 0;
        fclose(file);
    }
    return text;
}

/* A test's evrd ended: its service, its appliance, its state directory. */
static inline void router_evrd_fini(struct evrd *d, struct evr_appliance *a, const char *dir)
{
    char cmd[96];

    evrd_fini(d);
    evr_appliance_free(a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}
#endif

#endif
