/* The vswitch's LAGs of a partition and the steps between two (vswitch_lag.h). */
#include "vswitch_lag.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lag.h"

int evr_vswitch_lag_state(json_t *state, const struct evr_partition *p,
                          const struct evr_appliance *a, struct evr_err *err)
{
    json_t *lags = json_object_get(state, "lags"), *slices = json_object_get(state, "slices");
    json_t *shown = evr_lag_show(p, a, NULL), *l;
    size_t i;
    int rc = 0;

    if (!shown)
        return evr_fail(err, ENOMEM, "out of memory");
    json_array_foreach(shown, i, l)
    {
        const char *name = json_string_value(json_object_get(l, "name"));
        json_t *members = json_array(), *m, *req;
        char vm_port[64];
        size_t k;
        json_array_foreach(json_object_get(l, "members"), k, m)
                json_array_append(members, json_object_get(m, "port"));
        req = json_pack("{s:s, s:s, s:o, s:s, s:s}", "op", "lag-set", "name", name, "members",
                        members, "mode", json_string_value(json_object_get(l, "mode")), "hash",
                        "l34");
        snprintf(vm_port, sizeof(vm_port), "%s.%lld", json_string_value(json_object_get(l, "vm")),
                 (long long)json_integer_value(json_object_get(l, "vm_port")));
        if (!req || json_object_set_new(lags, name, req)) {
            rc = evr_fail(err, ENOMEM, "out of memory");
            break;
        }
        rc = evr_vswitch_whole_slice(slices, name, name, vm_port, err);
        if (rc)
            break;
    }
    json_decref(shown);
    return rc;
}

int evr_vswitch_lags_from_dump(json_t *state, const json_t *dump)
{
    json_t *lags = json_object_get(state, "lags"), *item;
    size_t i;

    json_array_foreach(json_object_get(dump, "lags"), i, item)
    {
        const char *name = NULL, *mode = NULL, *hash = NULL;
        json_t *members = NULL;
        if (json_unpack(item, "{s:s, s:s, s:s, s:o}", "name", &name, "mode", &mode, "hash", &hash,
                        "members", &members) ||
            json_object_set_new(lags, name,
                                json_pack("{s:s, s:s, s:O, s:s, s:s}", "op", "lag-set", "name",
                                          name, "members", members, "mode", mode, "hash", hash)))
            return -1;
    }
    return 0;
}

/* req's members that are in keep's too, in req's order. */
static json_t *common_members(const json_t *req, const json_t *keep)
{
    json_t *out = json_array(), *m, *k;
    size_t i, j;

    json_array_foreach(json_object_get(req, "members"), i, m)
    {
        json_array_foreach(json_object_get(keep, "members"), j, k)
        {
            if (json_equal(m, k)) {
                json_array_append(out, m);
                break;
            }
        }
    }
    return out;
}

int evr_vswitch_lag_steps(json_t *plan, const json_t *from, const json_t *to)
{
    const json_t *from_lags = json_object_get(from, "lags"), *to_lags = json_object_get(to, "lags");
    json_t *now = json_object(), *req;
    const char *name;
    int rc = now ? 0 : -1;

    json_object_foreach((json_t *)from_lags, name, req)
    {
        const json_t *want = json_object_get(to_lags, name);
        json_t *kept;
        if (!want) {
            rc |= evr_vswitch_step(plan, evr_vswitch_del_request("lag-del", name),
                                   json_incref(req));
            continue;
        }
        kept = common_members(req, want);
        if (json_array_size(kept) &&
            json_array_size(kept) < json_array_size(json_object_get(req, "members"))) {
            json_t *shrunk = json_deep_copy(req);
            json_object_set(shrunk, "members", kept);
            rc |= evr_vswitch_step(plan, json_incref(shrunk), json_incref(req));
            json_object_set_new(now, name, shrunk);
        } else {
            json_object_set(now, name, req);
        }
        json_decref(kept);
    }
    json_object_foreach((json_t *)to_lags, name, req)
    {
        const json_t *cur = json_object_get(now, name);
        if (cur && json_equal(cur, req))
            continue;
        rc |= evr_vswitch_step(plan, json_incref(req),
                               cur ? json_incref((json_t *)cur)
                                   : evr_vswitch_del_request("lag-del", name));
    }
    json_decref(now);
    return rc ? -1 : 0;
}
