/* evrd's ops and its transactions (service.h). */
#include "service.h"

#include "child.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lag.h"
#include "slice.h"
#include "show.h"
#include "state.h"
#include "vm_link.h"
#include "vswitch_plan.h"

int evrd_init(struct evrd *d, struct evr_appliance *a, const char *run_dir,
              const struct evrd_vswitch *vs, struct evr_events *events, struct vm_supervisor *vms,
              struct evr_err *err)
{
    bool found;

    memset(d, 0, sizeof(*d));
    d->appliance = a;
    d->run_dir = run_dir;
    d->vswitch = *vs;
    d->events = events;
    d->vms = vms;
    if (evr_state_dir_check(a->state_dir, err) || evr_partition_init(&d->partition, a, err))
        return -1;
    if (evr_state_load(a->state_dir, &d->partition, a, &found, err)) {
        evr_partition_free(&d->partition);
        return -1;
    }
    return 0;
}

void evrd_fini(struct evrd *d)
{
    json_decref(d->vs_state);
    evr_partition_free(&d->partition);
    memset(d, 0, sizeof(*d));
}

void evrd_vswitch_lost(struct evrd *d)
{
    json_decref(d->vs_state);
    d->vs_state = NULL;
}

/* Whether a plan step goes to the passthrough executor: a passthrough
 * step (vf_plan.h) or a VM's link (vm_link.h); the others go to the
 * vswitch. */
static bool via_passthrough(const json_t *step)
{
    const char *via = json_string_value(json_object_get(step, "via"));
    return via && (!strcmp(via, "passthrough") || !strcmp(via, "vm"));
}

static bool via_vm(const json_t *step)
{
    const char *via = json_string_value(json_object_get(step, "via"));
    return via && !strcmp(via, "vm");
}

static json_t *step_call(struct evrd *d, const json_t *step, const json_t *req, struct evr_err *err)
{
    int kind = via_vm(step)            ? EVRD_WAIT_VM
               : via_passthrough(step) ? EVRD_WAIT_PASSTHROUGH
                                       : EVRD_WAIT_VSWITCH;
    double t0 = evr_mono_s();
    json_t *reply;

    if (kind == EVRD_WAIT_VSWITCH)
        reply = d->vswitch.call(d->vswitch.ctx, req, err);
    else if (d->pt)
        reply = d->pt->call(d->pt->ctx, req, err);
    else
        reply = (evr_fail(err, EOPNOTSUPP, "this evrd does not pass functions through"), NULL);
    d->wait_us[kind] += (evr_mono_s() - t0) * 1e6;
    return reply;
}

/* What a step's messages call it: the slice, or the vswitch's or VM's name
 * of the thing it changes. */
static const char *step_name(const json_t *req)
{
    const json_t *slice = json_object_get(req, "slice");
    return json_string_value(slice ? slice : json_object_get(req, "name"));
}

/* Runs the plan's requests in order; on a refusal undoes the done ones in
 * reverse. Returns 0, or -1 with err naming the step. When an undo fails
 * too, what the vswitch carries is unknown: the next change resyncs. */
int evrd_run_plan(struct evrd *d, const json_t *plan, struct evr_err *err)
{
    size_t n = json_array_size(plan), done;

    for (done = 0; done < n; done++) {
        const json_t *step = json_array_get(plan, done);
        const json_t *req = json_object_get(step, "request");
        struct evr_err why;
        json_t *reply = step_call(d, step, req, &why);
        if (reply) {
            json_decref(reply);
            continue;
        }
        if (why.code == ENOTCONN && !via_passthrough(step)) {
            /* No answer: whether the vswitch took the step is unknown, and
             * undoing the others could not be checked against it. evrd
             * forgets what it carries and resyncs it from its dump to the
             * saved partition (evrd.c's loop does at once). The vswitch's
             * steps come first: no passthrough step was taken yet. */
            evr_fail(err, EAGAIN,
                     "vswitch step %zu of %zu (%s %s): %s; nothing changed in the partition, and "
                     "the vswitch is being resynced to it",
                     done + 1, n, json_string_value(json_object_get(req, "op")), step_name(req),
                     why.msg);
            evrd_vswitch_lost(d);
            return -1;
        }
        evr_fail(err, why.code, "%s step %zu of %zu (%s %s) refused: %s; %zu done step%s undone",
                 via_vm(step)            ? "VM"
                 : via_passthrough(step) ? "passthrough"
                                         : "vswitch",
                 done + 1, n, json_string_value(json_object_get(req, "op")), step_name(req),
                 why.msg, done, done == 1 ? "" : "s");
        break;
    }
    if (done == n)
        return 0;
    while (done-- > 0) {
        const json_t *step = json_array_get(plan, done), *undo = json_object_get(step, "undo");
        struct evr_err why = {.msg = "no undo for it"};
        json_t *reply = json_is_object(undo) ? step_call(d, step, undo, &why) : NULL;
        if (!reply) {
            /* keep the first reason, say the state is now unknown */
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof(err->msg) - len, "; undoing step %zu failed too (%s)%s",
                     done + 1, why.msg,
                     via_passthrough(step) ? "" : ": the vswitch will be resynced");
            if (!via_passthrough(step))
                evrd_vswitch_lost(d);
            break;
        }
        json_decref(reply);
    }
    return -1;
}

/* The plan's requests alone, for a reply. */
static json_t *plan_requests(const json_t *plan)
{
    json_t *out = json_array(), *s;
    size_t i;

    json_array_foreach(plan, i, s) json_array_append(out, json_object_get(s, "request"));
    return out;
}

/* The passthrough steps from evrd's partition to next, after the vswitch's
 * (vf_plan.h), then the VMs' links (vm_link.h); refuses what the ports that
 * carve VFs cannot do. */
static int add_passthrough_steps(struct evrd *d, const struct evr_partition *next, json_t *plan,
                                 struct evr_err *err)
{
    json_t *steps;
    uint64_t running;

    if (evr_vf_check(next, d->appliance, &d->pt->inv, err))
        return -1;
    running = d->pt->running ? d->pt->running(d->pt->ctx) : 0;
    steps = evr_vf_plan(&d->partition, next, d->appliance, &d->pt->inv, running, err);
    if (!steps)
        return -1;
    json_array_extend(plan, steps);
    json_decref(steps);
    /* then the links of the running VMs' ports that gain or lose all */
    steps = evr_vm_link_plan(&d->partition, next, d->appliance, running, err);
    if (!steps)
        return -1;
    json_array_extend(plan, steps);
    json_decref(steps);
    return 0;
}

/* Whether the vswitch carries the same for next as for evrd's partition (a
 * change of passthrough slices alone): such a change goes on while the
 * vswitch is away, which is brought to the partition when it is back. */
static bool vswitch_has_no_part(struct evrd *d, const struct evr_partition *next)
{
    json_t *from = evr_vswitch_state(&d->partition, d->appliance, d->run_dir, NULL);
    json_t *to = evr_vswitch_state(next, d->appliance, d->run_dir, NULL);
    bool same = from && to && json_equal(from, to);

    json_decref(from);
    json_decref(to);
    return same;
}

/* Brings the vswitch and the disk to next (already checked by the rules),
 * or changes nothing. */
static int transact(struct evrd *d, struct evr_partition *next, bool changed, bool dry_run,
                    const char *what, json_t *reply, struct evr_err *err)
{
    struct evr_err why;
    json_t *to, *plan = NULL, *holdings;
    double t0 = (evr_mono_s() * 1e6), t_planned = 0, t_applied = 0, t_saved = 0;
    bool vs_absent = false; /* no vswitch, and the change needs none */
    int rc = -1;

    if (!d->vs_state && !dry_run && evrd_vswitch_sync(d, &why) &&
        !(vs_absent = vswitch_has_no_part(d, next)))
        return evr_fail(err, why.code == ENOTCONN ? EAGAIN : why.code,
                        "the vswitch is not there to carry the change (%s); nothing changed",
                        why.msg);
    to = evr_vswitch_state(next, d->appliance, d->run_dir, err);
    if (!to)
        return -1;
    if (d->vs_state) {
        plan = evr_vswitch_plan(d->vs_state, to, err);
    } else {
        /* dry run with no vswitch: plan from what evrd last saved */
        json_t *from = evr_vswitch_state(&d->partition, d->appliance, d->run_dir, err);
        plan = from ? evr_vswitch_plan(from, to, err) : NULL;
        json_decref(from);
    }
    if (plan && d->pt && add_passthrough_steps(d, next, plan, err)) {
        json_decref(plan);
        plan = NULL;
    }
    if (!plan)
        goto out;
    t_planned = t_applied = t_saved = (evr_mono_s() * 1e6);
    memset(d->wait_us, 0, sizeof(d->wait_us));
    if (dry_run) {
        rc = 0;
        goto answer;
    }
    if (evrd_run_plan(d, plan, err))
        goto out;
    t_applied = t_saved = (evr_mono_s() * 1e6);
    if (changed) {
        next->generation = d->partition.generation + 1;
        if (evr_state_save(d->appliance->state_dir, next, d->appliance, &why)) {
            json_t *back = json_array();
            size_t i = json_array_size(plan);
            /* the reverse plan: every undo, last step first */
            while (i-- > 0)
                json_array_append_new(
                        back, json_pack("{s:O, s:n, s:O?}", "request",
                                        json_object_get(json_array_get(plan, i), "undo"), "undo",
                                        "via", json_object_get(json_array_get(plan, i), "via")));
            {
                struct evr_err saved = why, undo;
                if (evrd_run_plan(d, back, &undo)) {
                    evrd_vswitch_lost(d);
                    evr_fail(err, saved.code,
                             "%s; undoing the change failed too (%.300s): the vswitch is being "
                             "resynced to the saved partition",
                             saved.msg, undo.msg);
                } else {
                    evr_fail(err, saved.code, "%s; the change is undone", saved.msg);
                }
            }
            json_decref(back);
            goto out;
        }
        t_saved = (evr_mono_s() * 1e6);
    } else {
        next->generation = d->partition.generation;
    }
    if (!vs_absent) {
        json_decref(d->vs_state);
        d->vs_state = json_incref(to);
    }
    evr_partition_free(&d->partition);
    d->partition = *next;
    memset(next, 0, sizeof(*next)); /* now d's */
    if (changed) {
        size_t n = json_array_size(plan), npt = 0, nvm = 0, i;
        json_t *step;
        char more[96] = "";
        json_array_foreach(plan, i, step)
        {
            npt += via_passthrough(step);
            nvm += via_vm(step);
        }
        npt -= nvm;
        if (npt)
            snprintf(more, sizeof(more), ", %zu passthrough step%s", npt, npt == 1 ? "" : "s");
        if (nvm)
            snprintf(more + strlen(more), sizeof(more) - strlen(more), ", %zu VM link%s", nvm,
                     nvm == 1 ? "" : "s");
        evr_events_add(d->events, "partition", "change",
                       "%s: generation %llu, %zu vswitch step%s%s", what,
                       (unsigned long long)d->partition.generation, n - npt - nvm,
                       n - npt - nvm == 1 ? "" : "s", more);
    }
    rc = 0;
answer:
    holdings = evr_partition_to_json(rc == 0 && !dry_run ? &d->partition : next, d->appliance);
    json_object_set_new(reply, "changed", json_boolean(changed));
    json_object_set_new(reply, "dry_run", json_boolean(dry_run));
    json_object_set_new(reply, "generation",
                        json_integer((json_int_t)(dry_run ? d->partition.generation + changed
                                                          : d->partition.generation)));
    json_object_set_new(reply, "plan", plan_requests(plan));
    json_object_set_new(reply, "partition", holdings);
    /* where the time went: evrd's own work (plan, and what applying took
     * beyond the waits), the waits for the vswitch, the passthrough steps
     * and the VMs' links, the disk's */
    json_object_set_new(
            reply, "time_us",
            json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "plan", (int)(t_planned - t0), "apply",
                      (int)(t_applied - t_planned), "vswitch", (int)d->wait_us[EVRD_WAIT_VSWITCH],
                      "passthrough", (int)d->wait_us[EVRD_WAIT_PASSTHROUGH], "vm_link",
                      (int)d->wait_us[EVRD_WAIT_VM], "persist", (int)(t_saved - t_applied)));
out:
    json_decref(plan);
    json_decref(to);
    return rc;
}

int evrd_vswitch_sync(struct evrd *d, struct evr_err *err)
{
    json_t *req = json_pack("{s:s}", "op", "dump"), *dump, *have, *want, *plan;
    int rc = -1;

    evrd_vswitch_lost(d);
    dump = d->vswitch.call(d->vswitch.ctx, req, err);
    json_decref(req);
    if (!dump)
        return -1;
    have = evr_vswitch_state_from_dump(json_object_get(dump, "dump"), err);
    json_decref(dump);
    want = evr_vswitch_state(&d->partition, d->appliance, d->run_dir, err);
    plan = have && want ? evr_vswitch_plan(have, want, err) : NULL;
    if (plan && !evrd_run_plan(d, plan, err)) {
        d->vs_state = json_incref(want);
        rc = 0;
    }
    json_decref(plan);
    json_decref(have);
    json_decref(want);
    return rc;
}

/* The common fields of split, move and free. */
static int read_change(struct evrd *d, const json_t *req, enum evr_change_op op,
                       struct evr_change *c, bool *dry_run, struct evr_err *err)
{
    const json_t *slices = json_object_get(req, "slices"), *vm = json_object_get(req, "vm");
    const json_t *mode = json_object_get(req, "mode"), *vm_port = json_object_get(req, "vm_port");
    const json_t *dry = json_object_get(req, "dry_run"), *vlan = json_object_get(req, "vlan");
    struct evr_parse_error perr;

    memset(c, 0, sizeof(*c));
    c->op = op;
    c->vm = -1;
    c->vm_port = -1;
    if (!json_is_string(slices))
        return evr_fail(err, EINVAL, "field 'slices': expected a string such as \"port0-7\"");
    if (evr_slice_list_parse(json_string_value(slices), &c->slices, &perr))
        return evr_fail(err, EINVAL, "field 'slices': '%s' at byte %zu: %s",
                        json_string_value(slices), perr.offset, perr.msg);
    if (op != EVR_CHANGE_FREE) {
        if (!json_is_string(vm))
            return evr_fail(err, EINVAL, "field 'vm': expected a VM name");
        c->vm = evr_appliance_vm(d->appliance, json_string_value(vm));
        if (c->vm < 0)
            return evr_fail(err, ENOENT, "field 'vm': the appliance has no VM '%s'",
                            json_string_value(vm));
    }
    if (mode) {
        if (!json_is_string(mode) || (strcmp(json_string_value(mode), "vswitch") &&
                                      strcmp(json_string_value(mode), "passthrough")))
            return evr_fail(err, EINVAL, "field 'mode': expected \"vswitch\" or \"passthrough\"");
        c->mode = strcmp(json_string_value(mode), "vswitch") ? EVR_MODE_PASSTHROUGH
                                                             : EVR_MODE_VSWITCH;
        c->mode_given = true;
    }
    if (vm_port) {
        if (!json_is_integer(vm_port) || json_integer_value(vm_port) < 0 ||
            json_integer_value(vm_port) >= EVR_APPL_VM_PORTS)
            return evr_fail(err, EINVAL, "field 'vm_port': expected 0..%u", EVR_APPL_VM_PORTS - 1);
        c->vm_port = (int)json_integer_value(vm_port);
    }
    if (vlan) {
        if (!json_is_integer(vlan) || json_integer_value(vlan) < EVR_VLAN_MIN ||
            json_integer_value(vlan) > EVR_VLAN_MAX)
            return evr_fail(err, EINVAL, "field 'vlan': expected a VLAN id %u..%u", EVR_VLAN_MIN,
                            EVR_VLAN_MAX);
        c->vlan = (uint16_t)json_integer_value(vlan);
    }
    if (dry && !json_is_boolean(dry))
        return evr_fail(err, EINVAL, "field 'dry_run': expected true or false");
    *dry_run = json_is_true(dry);
    if (json_object_get(req, "lag")) {
        const json_t *lag = json_object_get(req, "lag");
        if (!json_is_string(lag) || evr_lag_mode_parse(json_string_value(lag), &c->lag_mode))
            return evr_fail(err, EINVAL, "field 'lag': expected \"active-backup\" or \"balance\"");
        c->lag_mode_given = true;
    }
    return 0;
}

static int change_op(struct evrd *d, json_t *req, json_t *reply, enum evr_change_op op,
                     struct evr_err *err)
{
    struct evr_change c;
    struct evr_partition next;
    bool dry_run = false, changed = false;
    int rc;

    if (read_change(d, req, op, &c, &dry_run, err) || evr_partition_copy(&next, &d->partition, err))
        return -1;
    rc = evr_partition_apply(&next, d->appliance, &c, &changed, err);
    if (!rc) {
        char what[160];
        snprintf(what, sizeof(what), "%s %s%s%s", json_string_value(json_object_get(req, "op")),
                 json_string_value(json_object_get(req, "slices")), c.vm >= 0 ? " " : "",
                 c.vm >= 0 ? d->appliance->vms[c.vm].name : "");
        rc = transact(d, &next, changed, dry_run, what, reply, err);
    }
    evr_partition_free(&next);
    return rc;
}

static int op_split(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    return change_op(ctx, req, reply, EVR_CHANGE_SPLIT, err);
}

static int op_move(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    return change_op(ctx, req, reply, EVR_CHANGE_MOVE, err);
}

static int op_free(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    return change_op(ctx, req, reply, EVR_CHANGE_FREE, err);
}

static int op_join(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    return change_op(ctx, req, reply, EVR_CHANGE_JOIN, err);
}

/* A whole partition, declared: the holdings replace what there is. */
static int op_apply(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct evrd *d = ctx;
    const json_t *dry = json_object_get(req, "dry_run");
    struct evr_partition next;
    json_t *now, *want;
    bool changed;
    int rc;

    if (dry && !json_is_boolean(dry))
        return evr_fail(err, EINVAL, "field 'dry_run': expected true or false");
    if (evr_partition_init(&next, d->appliance, err))
        return -1;
    if (evr_partition_from_json(&next, d->appliance, json_object_get(req, "holdings"),
                                "field 'holdings'", err)) {
        evr_partition_free(&next);
        return -1;
    }
    now = evr_partition_to_json(&d->partition, d->appliance);
    want = evr_partition_to_json(&next, d->appliance);
    changed = !json_equal(now, want);
    json_decref(now);
    json_decref(want);
    rc = transact(d, &next, changed, json_is_true(dry), "apply", reply, err);
    evr_partition_free(&next);
    return rc;
}

/* vm-start and vm-stop: {"name": VM} */
static int vm_op(struct evrd *d, json_t *req, bool start, struct evr_err *err)
{
    const json_t *name = json_object_get(req, "name");
    int i;

    if (!json_is_string(name))
        return evr_fail(err, EINVAL, "field 'name': expected a VM name");
    i = evr_appliance_vm(d->appliance, json_string_value(name));
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': the appliance has no VM '%s'",
                        json_string_value(name));
    if (!d->vms)
        return evr_fail(err, EOPNOTSUPP, "this evrd does not run the VMs");
    return start ? vm_supervisor_start(d->vms, (unsigned)i, err)
                 : vm_supervisor_stop(d->vms, (unsigned)i, err);
}

static int op_vm_start(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)reply;
    return vm_op(ctx, req, true, err);
}

static int op_vm_stop(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)reply;
    return vm_op(ctx, req, false, err);
}

/* {"name": VM}: where its serial console is, for evr vm console to attach
 * to: the socket evr-vmm serves (vm_supervisor.h), while the VM runs. */
static int op_vm_console(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct evrd *d = ctx;
    const json_t *name = json_object_get(req, "name");
    int i = json_is_string(name) ? evr_appliance_vm(d->appliance, json_string_value(name)) : -1;

    if (!json_is_string(name))
        return evr_fail(err, EINVAL, "field 'name': expected a VM name");
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': the appliance has no VM '%s'",
                        json_string_value(name));
    if (!d->vms)
        return evr_fail(err, EOPNOTSUPP, "this evrd does not run the VMs");
    if (d->vms->vms[i].state != VM_STATE_RUNNING)
        return evr_fail(err, ESRCH,
                        "%s is %s, not running: its console is not there (evr vm start %s)",
                        json_string_value(name), vm_state_name(d->vms->vms[i].state),
                        json_string_value(name));
    json_object_set_new(reply, "console", json_string(d->vms->vms[i].console));
    return 0;
}

/* {"since": SEQ}: the events after SEQ (events.h). */
static int op_events(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct evrd *d = ctx;
    const json_t *since = json_object_get(req, "since");
    json_t *ev;

    if (since && (!json_is_integer(since) || json_integer_value(since) < 0))
        return evr_fail(err, EINVAL,
                        "field 'since': expected an event sequence number (0 or more)");
    ev = evr_events_since(d->events, since ? (uint64_t)json_integer_value(since) : 0);
    json_object_update(reply, ev);
    json_decref(ev);
    return 0;
}

static const char *const change_fields[] = {"!slices", "!vm",  "mode", "vm_port",
                                            "dry_run", "vlan", NULL};
static const char *const join_fields[] = {"!slices", "!vm", "lag", "vm_port", "dry_run", NULL};
static const char *const batch_fields[] = {"!changes", "dry_run", NULL};
static const char *const free_fields[] = {"!slices", "dry_run", NULL};
static const char *const apply_fields[] = {"!holdings", "dry_run", NULL};
static const char *const show_fields[] = {"what", "name", NULL};
static const char *const vm_fields[] = {"!name", NULL};
static const char *const events_fields[] = {"since", NULL};

/* The changes a batch takes, each as the op of its own name does. */
static const struct {
    struct ctl_op op;
    enum evr_change_op change;
} batch_ops[] = {
        {{"split", change_fields, NULL}, EVR_CHANGE_SPLIT},
        {{"move", change_fields, NULL}, EVR_CHANGE_MOVE},
        {{"free", free_fields, NULL}, EVR_CHANGE_FREE},
        {{"join", join_fields, NULL}, EVR_CHANGE_JOIN},
};

/* One change of a batch applied to next; where names it in a refusal. */
static int batch_change(struct evrd *d, json_t *item, struct evr_partition *next, bool *changed,
                        const char *where, struct evr_err *err)
{
    const char *name = json_string_value(json_object_get(item, "op"));
    json_t *fields = json_deep_copy(item);
    struct evr_change c;
    struct evr_err why;
    bool dry = false, this_changed = false;
    size_t k;
    int rc = -1;

    for (k = 0; name && k < sizeof(batch_ops) / sizeof(batch_ops[0]); k++)
        if (!strcmp(name, batch_ops[k].op.name))
            break;
    json_object_del(fields, "line");
    if (!name || k == sizeof(batch_ops) / sizeof(batch_ops[0]))
        evr_fail(err, EINVAL, "%s: '%s' cannot be in a batch (split, move, join, free)", where,
                 name ? name : "(no op)");
    else if (json_object_get(fields, "dry_run"))
        evr_fail(err, EINVAL, "%s: dry_run is for the whole batch", where);
    else if (ctl_check_fields(fields, &batch_ops[k].op, &why) ||
             read_change(d, fields, batch_ops[k].change, &c, &dry, &why) ||
             evr_partition_apply(next, d->appliance, &c, &this_changed, &why))
        evr_fail(err, why.code, "%s: %s", where, why.msg);
    else
        rc = 0;
    *changed = *changed || this_changed;
    json_decref(fields);
    return rc;
}

/* {"changes": [{"op": "split", ...}, ...], "dry_run"?}: the changes applied
 * in order to one copy of the partition, then one transaction: all or
 * nothing. A change's "line" (evr -b's line number) names it in a refusal. */
static int op_batch(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct evrd *d = ctx;
    const json_t *changes = json_object_get(req, "changes"), *dry = json_object_get(req, "dry_run");
    struct evr_partition next;
    bool changed = false;
    json_t *item;
    size_t i;
    int rc = 0;

    if (!json_is_array(changes) || json_array_size(changes) == 0)
        return evr_fail(err, EINVAL, "field 'changes': expected a non-empty array of changes");
    if (dry && !json_is_boolean(dry))
        return evr_fail(err, EINVAL, "field 'dry_run': expected true or false");
    if (evr_partition_copy(&next, &d->partition, err))
        return -1;
    json_array_foreach(changes, i, item)
    {
        char where[64];
        const json_t *line = json_object_get(item, "line");
        if (json_is_integer(line))
            snprintf(where, sizeof(where), "line %lld", (long long)json_integer_value(line));
        else
            snprintf(where, sizeof(where), "changes[%zu]", i);
        if (!json_is_object(item)) {
            rc = evr_fail(err, EINVAL, "%s: expected a change object", where);
            break;
        }
        rc = batch_change(d, (json_t *)item, &next, &changed, where, err);
        if (rc)
            break;
    }
    if (!rc) {
        char what[64];
        snprintf(what, sizeof(what), "batch of %zu changes", json_array_size(changes));
        rc = transact(d, &next, changed, json_is_true(dry), what, reply, err);
    }
    evr_partition_free(&next);
    return rc;
}

const struct ctl_op evrd_ops[] = {
        {"show", show_fields, evrd_op_show},      {"split", change_fields, op_split},
        {"move", change_fields, op_move},         {"free", free_fields, op_free},
        {"apply", apply_fields, op_apply},        {"vm-start", vm_fields, op_vm_start},
        {"vm-stop", vm_fields, op_vm_stop},       {"events", events_fields, op_events},
        {"join", join_fields, op_join},           {"batch", batch_fields, op_batch},
        {"vm-console", vm_fields, op_vm_console},
};
const size_t evrd_n_ops = sizeof(evrd_ops) / sizeof(evrd_ops[0]);
